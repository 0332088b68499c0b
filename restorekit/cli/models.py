"""``restorekit models`` (what is registered) and ``restorekit export`` (ONNX/TorchScript)."""

from __future__ import annotations

import json
from typing import Any

import click

from restorekit.cli.options import parse_options
from restorekit.errors import RestorekitError
from restorekit.evaluate.tables import format_table


def _model_rows() -> list[dict[str, Any]]:
    """Every registered restorer, then the task interpolations ``restore`` runs itself; a
    network's tasks include those its shipped models were trained for."""
    from restorekit.api import TASK_INTERPOLATIONS
    from restorekit.restorers.base import build_net, list_restorers
    from restorekit.zoo import shipped_models, zoo_models

    shipped = shipped_models()
    trained: dict[str, list[str]] = {}
    for m in zoo_models().values():
        trained.setdefault(m.arch, []).append(m.task)
    rows = []
    for e in list_restorers():
        params = None
        if e.kind == "network":
            from restorekit.nets.common import count_parameters

            params = count_parameters(build_net(e.name))
        tasks = list(dict.fromkeys([*e.tasks, *trained.get(e.name, [])]))
        rows.append({"name": e.name, "kind": e.kind, "params": params,
                     "tasks": ",".join(tasks), "channels": ",".join(map(str, e.channels)),
                     "weights": ",".join(shipped.get(e.name, [])) or "-",
                     "needs": e.extra or "", "paper": e.paper, "summary": e.summary})
    for name, (task, summary, paper) in TASK_INTERPOLATIONS.items():
        rows.append({"name": name, "kind": "classical", "params": None, "tasks": task,
                     "channels": "1,3", "weights": "-", "needs": "", "paper": paper,
                     "summary": summary})
    return rows


def _shipped_rows() -> list[dict[str, Any]]:
    """One row per shipped model: what it does, where restore picks it by default and its
    first validation score."""
    from restorekit.zoo import picked_for, zoo_models

    rows = []
    for m in sorted(zoo_models().values(), key=lambda m: (m.task, m.name)):
        first = (m.card.get("metrics") or [{}])[0]
        psnr = first.get("blind_psnr")
        score = (f"{first.get('dataset')} {first.get('degradation')}: {psnr:.2f} dB"
                 if isinstance(psnr, (int, float)) else "-")
        rows.append({"name": m.name, "arch": m.arch, "task": m.task,
                     "images": ",".join("gray" if c == 1 else "rgb" for c in m.channels)
                     + (f" x{'/'.join(map(str, m.scales))}" if m.scales else ""),
                     "default": picked_for(m),
                     "MiB": f"{m.weights.stat().st_size / 2**20:.1f}", "validation": score})
    return rows


def _fit(text: str, width: int | None) -> str:
    """Cut each line of ``text`` to ``width`` characters (None: leave it whole)."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    if width is not None:
        lines = [ln if len(ln) <= width else ln[:width - 1] + "…" for ln in lines]
    return "\n".join(lines)


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--kind", type=click.Choice(["classical", "network"]), help="Only this kind.")
def models_command(as_json: bool, kind: str | None) -> None:
    """List every restorer (name, parameters, tasks, channels, paper), then the shipped
    pretrained models (task, default, size, a validation score). Lines are cut to the
    terminal's width; --json has everything."""
    import shutil
    import sys

    rows = [r for r in _model_rows() if kind in (None, r["kind"])]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        r["params"] = f"{r['params'] / 1e6:.3f}M" if r["params"] else "-"
        r["shipped"] = str(len(r["weights"].split(","))) if r["weights"] != "-" else "-"
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    click.echo(_fit(format_table(rows, "table", columns=["name", "kind", "params", "tasks",
                                                         "channels", "shipped", "paper"]), width))
    if kind != "classical":
        click.echo("\nShipped models (restorekit restore --model NAME; docs/zoo.md has their "
                   "cards):")
        click.echo(_fit(format_table(_shipped_rows(), "table"), width))


@click.command("export")
@click.argument("name")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False),
              help="Weights to load (safetensors with card, or legacy .pth).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), required=True,
              help="ONNX (onnxruntime, TensorRT, ...) or TorchScript (torch.jit.load).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="File to write.")
@click.option("--set", "options", multiple=True, metavar="KEY=VALUE",
              help="Architecture config override (repeatable).")
@click.option("--size", type=click.IntRange(min=8), default=67, show_default=True,
              help="Side of the example input used for tracing (odd, so padding is traced).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--untrained", is_flag=True, help="Export a registered network with no --weights "
              "(random weights: to test a deployment pipeline, not to restore).")
def export_command(name: str, weights: str | None, fmt: str, output: str,
                   options: tuple[str, ...], size: int, overwrite: bool,
                   untrained: bool) -> None:
    """Export network NAME with --weights, or a shipped model, to ONNX or TorchScript. Nets
    with a noise-level input get a second input, sigma (0-1 scale)."""
    from pathlib import Path

    from restorekit.errors import ImageWriteError
    from restorekit.export import export_module
    from restorekit.restorers.base import build_net, get_entry
    from restorekit.weights import card_path, load_weights, read_card
    from restorekit.zoo import load_zoo_restorer, zoo_models

    shipped = zoo_models().get(name)
    if not shipped and get_entry(name).kind != "network":  # unknown names get suggestions
        raise click.UsageError(f"{name} is a classical method; only networks are exported")
    if weights is None and not shipped and not untrained:
        raise click.UsageError(f"{name} is not a shipped model: give its trained --weights "
                               "(or --untrained to export random weights)")
    if untrained and (weights or shipped):
        raise click.UsageError("--untrained applies to a registered network without --weights")
    source = Path(weights) if weights else shipped.weights if shipped else None
    if source is not None and Path(output).resolve() in {source.resolve(),
                                                         card_path(source).resolve()}:
        raise RestorekitError(f"-o {output} is the weights being exported (or their card); "
                              "refusing to overwrite an input, even with --overwrite")
    if Path(output).exists() and not overwrite:
        raise ImageWriteError(f"output {output} exists (use --overwrite)")
    config = parse_options(options)
    if weights is None and shipped:
        if config:
            raise RestorekitError(f"{name} is a shipped model: its architecture is fixed "
                                  "(--set applies to a network name)")
        module = load_zoo_restorer(name, device="cpu").net
    else:
        card = read_card(weights) if weights else None
        module = build_net(name, **{**(card or {}).get("config", {}), **config})
        if weights:
            load_weights(module, weights, sha256=(card or {}).get("sha256"))
    path = export_module(module, output, fmt, channels=module.in_channels, size=size)
    click.echo(f"exported {name} to {path} ({fmt})")


COMMANDS = [models_command, export_command]
