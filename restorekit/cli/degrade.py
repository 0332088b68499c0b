"""``restorekit degrade``: damage images with a seeded degradation spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from restorekit.cli.batch import run_batch
from restorekit.cli.files import check_side_output, plan_jobs
from restorekit.cli.state import get_state


def _jsonable(value: Any) -> Any:
    """Params as JSON: arrays become their shape and mean (masks can be large)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"array_shape": list(value.shape), "mean": float(value.mean())}
    if isinstance(value, np.generic):
        return value.item()
    return value


def final_jpeg(params: dict[str, Any]) -> dict[str, Any]:
    """``write_image`` options that keep a spec's closing JPEG step: its quality and chroma
    subsampling (``{}`` unless the last step is ``jpeg``).

    Written as ``.jpg`` at the default quality 95, a ``jpeg:quality=10`` output would be
    compressed a second time and read back as quality 95; re-encoding the decoded image with
    the same tables keeps its blocking and its quantisation tables.
    """
    steps = params.get("steps") if params.get("name") == "chain" else [params]
    last = steps[-1] if steps else {}
    if last.get("name") != "jpeg":
        return {}
    return {"quality": int(last["quality"]), "subsampling": str(last["subsampling"])}


@click.command("degrade")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", help="Output file (one input) or folder. Default: "
              "NAME_degraded.EXT beside each input.")
@click.option("-s", "--spec", required=True,
              help="Degradation spec, e.g. 'mask:lower-half+salt-pepper:amount=0.2'.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed; file i of a batch uses (seed, i).")
@click.option("--params", "params_path", type=click.Path(dir_okay=False),
              help="Write what was done (per file) to this JSON file.")
@click.option("--format", "ext", type=click.Choice(["png", "tif", "bmp", "jpg", "webp"]),
              help="Output format for folder outputs (default: the input's).")
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never inputs).")
def degrade_command(inputs: tuple[str, ...], output: str | None, spec: str, seed: int,
                    params_path: str | None, ext: str | None, recursive: bool,
                    overwrite: bool) -> int:
    """Apply the degradation SPEC to INPUTS (see the spec grammar in `restorekit.degrade`).

    A JPEG output of a spec that ends in ``jpeg`` is written at that step's quality and
    subsampling; other JPEG outputs at quality 95.
    """
    from restorekit.degrade import parse_spec

    degradation = parse_spec(spec)  # a bad spec fails before any file is touched
    state = get_state()
    jobs = plan_jobs(list(inputs), output, suffix="degraded", recursive=recursive,
                     output_ext=f".{ext}" if ext else None)
    if params_path:
        check_side_output(params_path, "--params", overwrite=overwrite,
                          inputs=[job.source for job in jobs],
                          outputs=[job.target for job in jobs if job.target is not None])
    index = {job.source: i for i, job in enumerate(jobs)}
    records: dict[str, Any] = {}

    def operation(image: np.ndarray, meta: Any, source: Path) -> tuple[np.ndarray, str]:
        rng = np.random.default_rng([seed, index[source]])
        out, params = degradation(image, rng)
        records[str(source)] = _jsonable(params)
        return out, f"spec={degradation.spec}"

    jpeg_targets = {job.source for job in jobs
                    if job.target is not None and job.target.suffix.lower() in (".jpg", ".jpeg")}

    def write_options(source: Path) -> dict[str, Any]:  # other formats ignore the spec's JPEG
        return final_jpeg(records[str(source)]) if source in jpeg_targets else {}

    result = run_batch(jobs, operation, state, overwrite=overwrite, verb="degraded",
                       write_options=write_options)
    if params_path:
        from restorekit.atomic import atomic_write_text

        atomic_write_text(params_path, json.dumps({"spec": degradation.spec, "seed": seed,
                                                   "files": records}, indent=2) + "\n")
    return result.exit_code


COMMANDS = [degrade_command]
