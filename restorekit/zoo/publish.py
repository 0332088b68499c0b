"""Put a trained run into the zoo: weights + a model card with measured PSNR/SSIM.

    python -m restorekit.zoo.publish runs/rk_unet_gray_blind --name rk-unet-gray-blind \\
        --task denoise --default --data "Train400 ..." --licence "..." \\
        --eval "set12=gaussian:sigma=15" --eval "set12=gaussian:sigma=25" ...

The weights come from the run's checkpoint (EMA weights when the run kept them), so a run in
progress can be published as an interim snapshot; the card records the step it reached. Each
``--eval DATASET=SPEC`` degrades the dataset's images (seed = image index, noise not clipped
unless SPEC says ``clip=true``: the AWGN benchmark convention of ``benchmarks/classical.py``)
and scores the model blind (noise level estimated) and, for models that take a noise level,
with the true sigma.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from restorekit.atomic import atomic_write_text
from restorekit.errors import RestorekitError
from restorekit.quantize import STORAGES
from restorekit.weights import card_path, save_weights
from restorekit.zoo import ZOO_DIR, picked_for, zoo_models


def _sigma_of(params: dict[str, Any]) -> float | None:
    """The Gaussian sigma a degradation applied, if it applied exactly one."""
    if params.get("name") == "gaussian":
        return float(params["sigma"])
    steps = [p for p in params.get("steps", []) if p.get("name") == "gaussian"]
    return float(steps[0]["sigma"]) if len(steps) == 1 else None


def _degraded_images(dataset: Path, spec: str,
                     color: str) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """``(clean, degraded, params)`` for each image of ``dataset``: real noisy/clean pairs when
    ``spec`` is ``pairs``, else each clean image degraded by ``spec`` (seed = image index)."""
    from restorekit.degrade import degrade
    from restorekit.evaluate.benchmark import dataset_files
    from restorekit.io import read_image, rgb_to_y

    if spec == "pairs":
        from restorekit.data.folders import PairedFolderSource

        source = PairedFolderSource(dataset)
        for idx in range(len(source)):
            item = source[idx]
            yield item["clean"], item["noisy"], {}
        return
    for idx, path in enumerate(dataset_files(dataset)):
        clean, _ = read_image(path)
        if color == "y" and clean.ndim == 3:
            clean = np.asarray(rgb_to_y(clean), dtype=np.float32)
        noisy, params = degrade(clean, spec, seed=idx)
        scale = float(params.get("scale", 1))
        scale = int(scale) if scale.is_integer() else 1
        if scale > 1 and (clean.shape[0] % scale or clean.shape[1] % scale):
            clean = clean[:clean.shape[0] // scale * scale, :clean.shape[1] // scale * scale]
            noisy, params = degrade(clean, spec, seed=idx)
        yield clean, np.asarray(noisy, dtype=np.float32), params


def evaluate_model(restorer: Any, dataset: Path, spec: str, *, color: str = "as-is",
                   y_channel: bool = False, crop_border: int | str = 0,
                   task: str = "denoise", blind: bool = True) -> dict[str, Any]:
    """Mean PSNR/SSIM of ``restorer`` on ``dataset`` degraded by ``spec``.

    ``spec="pairs"`` scores real noisy/clean pairs (``*_real``/``*_mean`` and the other layouts
    of :func:`restorekit.data.folders.find_pairs`) instead of degrading clean images.
    ``color``: ``as-is`` keeps each image's mode, ``y`` turns RGB images into their Y channel.
    ``y_channel``/``crop_border`` score RGB on Y with the border cropped (SR/JPEG conventions);
    ``crop_border="scale"`` crops as many pixels as the degradation's scale factor. A resampling
    degradation first crops each image to a multiple of its scale (the SR "modcrop"). A ``jpeg``
    or ``sr`` model restores colour images in YCbCr, as ``restorekit restore --task`` does.
    ``blind=False`` skips the blind run of a method that takes sigma (a classical baseline).
    """
    from restorekit.api import restore_in_ycbcr, restore_with_info
    from restorekit.metrics import psnr, ssim

    rows: dict[str, list[tuple[float, float]]] = {"input": [], "blind": [], "sigma": []}
    for clean, noisy, params in _degraded_images(dataset, spec, color):
        scale = float(params.get("scale", 1))
        border = (int(scale) if scale.is_integer() else 1) if crop_border == "scale" else int(
            crop_border)
        kw = {"y_channel": y_channel and clean.ndim == 3, "crop_border": border}

        def score(img: np.ndarray, clean: np.ndarray = clean,
                  kw: dict[str, Any] = kw) -> tuple[float, float]:
            img = np.clip(img, 0.0, 1.0)
            return psnr(img, clean, **kw), ssim(img, clean, **kw)

        rows["input"].append(score(noisy))
        if task != "denoise":
            out, _ = restore_in_ycbcr(noisy, restorer, luma_only=task == "sr")
            rows["blind"].append(score(out))
        elif blind or not restorer.uses_sigma:
            out, _ = restore_with_info(noisy, restorer)
            rows["blind"].append(score(out))
        sigma = _sigma_of(params)
        if restorer.uses_sigma and sigma is not None:
            out, _ = restore_with_info(noisy, restorer, sigma=sigma)
            rows["sigma"].append(score(out))
    result: dict[str, Any] = {"dataset": dataset.name, "degradation": spec,
                              "images": len(rows["input"])}
    for key, values in rows.items():
        if values:
            result[f"{key}_psnr"] = round(float(np.mean([v[0] for v in values])), 3)
            result[f"{key}_ssim"] = round(float(np.mean([v[1] for v in values])), 4)
    return result


def _checkpoint_net(run_dir: Path, checkpoint: str, use_ema: bool) -> tuple[Any, dict[str, Any]]:
    import torch

    from restorekit.restorers.base import build_net

    path = run_dir / "checkpoints" / checkpoint
    if not path.is_file():
        raise RestorekitError(f"no checkpoint {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    config = ckpt["config"]
    net = build_net(config["model"]["name"], **config["model"]["config"])
    state = ckpt["ema"] if use_ema and ckpt.get("ema") else ckpt["model"]
    net.load_state_dict(state)
    info = {"step": int(ckpt["step"]), "total_steps": int(config["train"]["steps"]),
            "train_seconds": round(float(ckpt.get("elapsed", 0.0))), "ema": bool(
                use_ema and ckpt.get("ema")), "config": config}
    return net, info


def publish(run_dir: str | Path, *, name: str, task: str, channels: Sequence[int] = (1,),
            default: bool = False, scales: Sequence[int] = (), data: str, licence: str,
            config_file: str, evals: Sequence[tuple[str, str]] = (), color: str = "as-is",
            y_channel: bool = False, crop_border: int | str = 0, checkpoint: str = "last.pt",
            use_ema: bool = True, zoo_dir: str | Path = ZOO_DIR,
            data_root: str | Path | None = None, after: str | Path | None = None,
            storage: str = "float32", qualities: Sequence[int] = ()) -> Path:
    """Write ``zoo_dir/NAME.safetensors`` + card from ``run_dir``'s checkpoint; return the card.

    ``qualities`` (lo, hi) makes a JPEG model restore's choice for inputs of those qualities.

    ``after`` is the card (JSON) of the weights a fine-tuning run started from: its training
    record is kept in the new card as the earlier stage, so the card tells the whole recipe.
    ``storage`` is how the weights are stored (``int8``: a quarter of the size); the metrics are
    measured on the stored weights.
    """
    from restorekit.restorers.network import NetworkRestorer
    from restorekit.train.config import data_dir

    if qualities and not (len(qualities) == 2 and 1 <= qualities[0] <= qualities[1] <= 100):
        raise RestorekitError(f"qualities must be LO-HI within 1-100, got {list(qualities)}")
    run_dir, zoo_dir = Path(run_dir), Path(zoo_dir)
    earlier = _earlier_stage(after) if after else None
    net, info = _checkpoint_net(run_dir, checkpoint, use_ema)
    config = info.pop("config")
    status = ("finished" if info["step"] >= info["total_steps"]
              else f"interim snapshot at step {info['step']} of {info['total_steps']}")
    training = {**info, "config_file": config_file,
                "command": f"restorekit train {config_file}", "seed": config["train"]["seed"]}
    if config["train"].get("init_grow"):
        training["grown"] = True  # a smaller net's weights loaded into this one (grow_from)
    if config["train"].get("init_partial"):
        training["partial"] = True  # only the earlier net's matching tensors were loaded
    if earlier:
        training["after"] = earlier
    card = {
        "description": config.get("description", ""),
        "zoo": {"name": name, "task": task, "channels": list(channels), "default": default,
                "scales": list(scales), **({"qualities": list(qualities)} if qualities else {}),
                "data": data, "licence": licence, "status": status},
        "training": training,
    }
    weights = save_weights(net, zoo_dir / f"{name}.safetensors", arch=config["model"]["name"],
                           config=config["model"]["config"], card=card, storage=storage)
    root = Path(data_root) if data_root else Path(data_dir())
    restorer = NetworkRestorer.from_registry(config["model"]["name"], weights=str(weights))
    metrics = [evaluate_model(restorer, root / ds, spec, color=color, y_channel=y_channel,
                              crop_border=crop_border, task=task)
               for ds, spec in evals]
    full = json.loads(card_path(weights).read_text())
    full["metrics"] = metrics
    full["metrics_protocol"] = _protocol([spec for _, spec in evals], y_channel, crop_border)
    path = atomic_write_text(card_path(weights), json.dumps(full, indent=2) + "\n")
    zoo_models.cache_clear()
    return path


def _earlier_stage(card_file: str | Path) -> dict[str, Any]:
    """The training record of the card ``card_file`` (a fine-tuning run's starting point)."""
    try:
        training = json.loads(Path(card_file).read_text())["training"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RestorekitError(f"--after {card_file}: not a model card ({exc})") from None
    if not isinstance(training, dict) or "config_file" not in training:
        raise RestorekitError(f"--after {card_file}: its card has no training record")
    return training


def training_stages(training: dict[str, Any]) -> list[dict[str, Any]]:
    """A card's training records, first stage first (one unless the model was fine-tuned)."""
    stages = []
    while training:
        stages.append(training)
        training = training.get("after") or {}
    return stages[::-1]


_STAGE_LINKS = {(False, False): " then fine-tuned: ", (True, False): " then grown and fine-tuned: ",
                (False, True): " then its matching layers started a new net, trained: "}


def _recipe(training: dict[str, Any]) -> str:
    """The card's recipe line: every stage's config, command, steps and time."""
    stages = training_stages(training)
    parts = [f"`{t.get('config_file', '')}` (seed {t.get('seed')}); command "
             f"`{t.get('command', '')}`; {t.get('step')} of {t.get('total_steps')} steps, "
             f"{t.get('train_seconds', 0) / 3600:.1f} h" for t in stages]
    if len(parts) == 1:
        return parts[0] + " of training on 2 CPU cores"
    steps = sum(int(t.get("step", 0)) for t in stages)
    hours = sum(t.get("train_seconds", 0) for t in stages) / 3600
    text = parts[0] + "".join(
        _STAGE_LINKS[bool(t.get("grown")), bool(t.get("partial"))] + part
        for t, part in zip(stages[1:], parts[1:], strict=True))
    return text + f" ({steps} steps, {hours:.1f} h of training on 2 CPU cores in all)"


def _protocol(specs: Sequence[str], y_channel: bool, crop_border: int | str) -> str:
    """How the card's metrics were measured, in one sentence."""
    how = []
    if any(spec != "pairs" for spec in specs):
        how.append("degrade(image, SPEC, seed=image index), noise not clipped"
                   + (" unless SPEC says clip=true" if any("clip=true" in s for s in specs)
                      else ""))
    if "pairs" in specs:
        how.append("pairs: real noisy images against their clean references, as they are")
    scoring = ("PSNR/SSIM on the clipped output" + (", Y channel" if y_channel else "")
               + (", border of the scale factor cropped" if crop_border == "scale"
                  else f", {crop_border}-pixel border cropped" if crop_border else ""))
    return "; ".join([*how, scoring, "blind = noise level estimated from the image (or none "
                      "taken), sigma = true sigma given"])


def render_zoo_docs() -> str:
    """Markdown model cards of every shipped model, from their JSON cards."""
    lines = ["# Shipped models", "",
             "Generated from the model cards in `restorekit/zoo/*.json` by "
             "`python -m restorekit.zoo.publish --docs-only docs/zoo.md`. "
             "`restorekit models` marks which architectures have shipped weights; "
             "`restorekit restore IMG` uses the default model for the image's task, "
             "channels, scale and JPEG quality (read from a JPEG's tables or estimated from "
             "its pixels).", ""]
    for model in zoo_models().values():
        card, zoo, train = model.card, model.card["zoo"], model.card.get("training", {})
        picked = picked_for(model)
        lines += [f"## {model.name}", "",
                  f"{card.get('description', '')}", "",
                  f"- Task: {zoo['task']}; channels: {', '.join(map(str, zoo['channels']))}"
                  + (f"; scales: {', '.join(map(str, zoo['scales']))}" if zoo.get('scales')
                     else "")
                  + (f"; JPEG qualities: {'-'.join(map(str, zoo['qualities']))}"
                     if zoo.get('qualities') else "")
                  + (f"; **default** for {picked}" if picked else ""),
                  f"- Architecture: `{card['arch']}` with config `{json.dumps(card['config'])}`",
                  f"- Status: {zoo.get('status', '')}",
                  f"- Training data: {zoo['data']}",
                  f"- Data licence: {zoo['licence']}",
                  f"- Recipe: {_recipe(train)}" + ("; EMA weights" if train.get("ema") else ""),
                  f"- Weights: `{card['weights']}` (sha256 `{card['sha256']}`, "
                  f"{model.weights.stat().st_size / 2**20:.1f} MiB, "
                  f"{card.get('storage', 'float32')})", "",
                  f"Measured ({card.get('metrics_protocol', '')}):", ""]
        from restorekit.evaluate.tables import format_table

        output = "blind" if zoo["task"] == "denoise" else "output"
        names = {"dataset": "dataset", "degradation": "degradation", "images": "images",
                 "input_psnr": "input PSNR", "input_ssim": "input SSIM",
                 "blind_psnr": f"{output} PSNR",
                 "blind_ssim": f"{output} SSIM", "sigma_psnr": "true-sigma PSNR",
                 "sigma_ssim": "true-sigma SSIM"}
        rows = [{names.get(k, k.replace("_", " ")): v for k, v in m.items()}
                for m in card.get("metrics", [])]
        cols = [n for n in names.values() if any(n in r for r in rows)]
        cols += [k for k in dict.fromkeys(k for r in rows for k in r) if k not in cols]
        lines += [format_table(rows, "md", digits=4, columns=cols), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if len(argv) == 2 and argv[0] == "--docs-only":
        print(atomic_write_text(argv[1], render_zoo_docs()))
        return 0
    parser = argparse.ArgumentParser(prog="python -m restorekit.zoo.publish",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--name", required=True)
    parser.add_argument("--docs", help="also rewrite this markdown file of all model cards")
    parser.add_argument("--task", required=True, choices=["denoise", "jpeg", "sr", "inpaint"])
    parser.add_argument("--channels", default="1", help="comma-separated, e.g. 1 or 3 or 1,3")
    parser.add_argument("--scales", default="", help="comma-separated SR scales")
    parser.add_argument("--qualities", default="", metavar="LO-HI",
                        help="JPEG qualities restore picks this model for, e.g. 1-30")
    parser.add_argument("--default", action="store_true")
    parser.add_argument("--data", required=True, help="training data and where it came from")
    parser.add_argument("--licence", required=True, help="the training data's licence")
    parser.add_argument("--config-file", required=True, help="the config in the repo")
    parser.add_argument("--eval", action="append", default=[], metavar="DATASET=SPEC")
    parser.add_argument("--color", default="as-is", choices=["as-is", "y"])
    parser.add_argument("--y-channel", action="store_true")
    parser.add_argument("--crop-border", default="0",
                        help="pixels cropped before scoring, or 'scale' (the SR convention)")
    parser.add_argument("--checkpoint", default="last.pt")
    parser.add_argument("--no-ema", action="store_true")
    parser.add_argument("--after", help="card (JSON) of the weights the run was fine-tuned from")
    parser.add_argument("--storage", default="float32", choices=list(STORAGES),
                        help="int8: int8 weights with per-channel scales, a quarter of the size")
    args = parser.parse_args(argv)
    evals = [tuple(e.split("=", 1)) for e in args.eval]
    try:
        path = publish(args.run_dir, name=args.name, task=args.task,
                       channels=[int(c) for c in args.channels.split(",")],
                       scales=[int(s) for s in args.scales.split(",") if s],
                       default=args.default, data=args.data, licence=args.licence,
                       config_file=args.config_file, evals=evals, color=args.color,  # type: ignore[arg-type]
                       y_channel=args.y_channel,
                       crop_border=("scale" if args.crop_border == "scale"
                                    else int(args.crop_border)),
                       checkpoint=args.checkpoint, use_ema=not args.no_ema, after=args.after,
                       storage=args.storage,
                       qualities=[int(q) for q in args.qualities.split("-") if q])
    except RestorekitError as exc:
        print(f"publish: error: {exc}", file=sys.stderr)
        return 2
    card = json.loads(path.read_text())
    print(json.dumps(card["metrics"], indent=2))
    print(path)
    if args.docs:
        print(atomic_write_text(args.docs, render_zoo_docs()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
