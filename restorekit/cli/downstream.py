"""``restorekit downstream``: MNIST classifier accuracy on clean / degraded / restored digits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from restorekit.cli.options import table_format_option
from restorekit.cli.state import get_state
from restorekit.errors import RestorekitError
from restorekit.evaluate.tables import format_table


def _default_cache() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "restorekit" / "classifiers"


def _gaussian_sigma(spec: str) -> float | None:
    """The fixed sigma (0-255) of a plain ``gaussian`` spec, else None (the restorer estimates)."""
    from restorekit.degrade import parse_spec

    deg = parse_spec(spec)
    sigma = deg.config.get("sigma") if deg.name == "gaussian" else None
    return float(sigma) if isinstance(sigma, (int, float)) else None


def _restorer(method: str | None, weights: str | None, options: dict[str, Any],
              device: str) -> Any:
    from restorekit.api import make_restorer

    if method is None and weights is not None:
        from restorekit.weights import read_card

        card = read_card(weights)
        if card is None:
            raise RestorekitError(f"{weights}: no model card beside it; give --method NAME")
        method = str(card["arch"])
    return make_restorer(method or "auto", image_channels=1, weights=weights, device=device,
                         **options)


def _emit(text: str, output: str | None) -> None:
    """Print ``text``, or write it to ``output`` (checked by :func:`check_side_output` before
    the work began)."""
    if output is None:
        click.echo(text)
        return
    from restorekit.atomic import atomic_write_text

    atomic_write_text(Path(output), text + "\n")
    get_state().status(f"wrote {output}")


@click.command("downstream")
@click.option("--degradation", "-d", "degradations", multiple=True,
              default=("gaussian:sigma=100",), show_default=True,
              help='Degradation spec, e.g. "gaussian:sigma=100" (repeatable).')
@click.option("--method", "-m", default=None,
              help="Restorer (any registered name; default: the --weights card's arch, or auto).")
@click.option("--weights", "-w", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Network weights (.safetensors with its card, e.g. a trained mnist-dae).")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Restorer/network option (repeatable).")
@click.option("--classifier", type=click.Path(dir_okay=False), default=None,
              help="Classifier weights (.safetensors from restorekit); default: train on the "
                   "60,000 clean training digits once and cache them.")
@click.option("--classifier-epochs", type=click.IntRange(min=1), default=3, show_default=True,
              help="Training epochs of the clean-digit classifier.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where the trained classifier is cached (default ~/.cache/restorekit/"
                   "classifiers).")
@click.option("--mnist", "mnist_root", type=click.Path(file_okay=False), default=None,
              help="MNIST folder (default $RESTOREKIT_DATA/mnist).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Use only the first N test digits.")
@click.option("--transfer", is_flag=True,
              help="Also compare a classifier initialised from the denoiser's encoder with a "
                   "random one, accuracy per epoch (network methods only).")
@click.option("--transfer-epochs", type=click.IntRange(min=1), default=3, show_default=True,
              help="Training epochs of each representation-transfer classifier.")
@click.option("--transfer-train", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Number of clean training digits for the transfer classifiers.")
@table_format_option
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the result to this file instead of stdout.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the degradation, the classifier and the transfer runs.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N, mps, auto.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
def downstream_command(degradations: tuple[str, ...], method: str | None, weights: str | None,
                       options: tuple[str, ...], classifier: str | None, classifier_epochs: int,
                       cache_dir: str | None, mnist_root: str | None, limit: int | None,
                       transfer: bool, transfer_epochs: int, transfer_train: int, fmt: str,
                       output: str | None, seed: int, device: str, overwrite: bool) -> int:
    """Accuracy of a clean-MNIST classifier on clean, degraded and restored test digits.

    The table of Zhao's DAE paper (Table 1: clean / noisy / denoised), for any degradation and
    restorer; with --transfer, also the representation-transfer comparison.
    """
    import numpy as np
    from torch import nn

    from restorekit.cli.options import parse_options
    from restorekit.data.mnist import load_mnist
    from restorekit.degrade import parse_spec
    from restorekit.evaluate import downstream as ds
    from restorekit.train.config import data_dir

    state = get_state()
    for spec in degradations:
        parse_spec(spec)  # a bad spec fails before any training
    if output is not None:
        from restorekit.cli.files import check_side_output

        check_side_output(output, "-o", inputs=[Path(p) for p in (weights, classifier) if p],
                          overwrite=overwrite)
    root = Path(mnist_root) if mnist_root else Path(data_dir()) / "mnist"
    restorer = _restorer(method, weights, parse_options(options), device)
    name = getattr(restorer, "name", None) or type(restorer).__name__
    net = getattr(restorer, "net", None)
    if transfer and not isinstance(net, nn.Module):
        raise RestorekitError(f"--transfer needs a network method; {name!r} has no encoder")

    test_x, test_y = load_mnist(root, "test")
    if limit is not None:
        test_x, test_y = test_x[:limit], test_y[:limit]
    clean = test_x.astype(np.float32) / np.float32(255)
    if classifier is not None:
        model = ds.load_classifier(classifier)
    else:
        state.status(f"classifier: clean MNIST, {classifier_epochs} epoch(s), seed {seed} "
                     "(trained once, then cached)")
        model = ds.clean_mnist_classifier(root, cache_dir=cache_dir or _default_cache(),
                                          seed=seed, epochs=classifier_epochs, device=device,
                                          quiet=state.quiet)
    rows = []
    for spec in state.progress(degradations, desc="Downstream", leave=False):
        sigma = _gaussian_sigma(spec)
        row = ds.downstream_table(
            model, clean, test_y,
            lambda x, s=spec: ds.degrade_images(x, s, seed=seed),
            lambda x, s=sigma: ds.restore_images(x, restorer, sigma=s, device=device,
                                                 quiet=state.quiet),
            device=device)
        rows.append({"degradation": spec, "method": name, **row})

    transfer_table: list[dict[str, Any]] = []
    if transfer:
        train_x, train_y = load_mnist(root, "train")
        result = ds.representation_transfer(
            net, train_x[:transfer_train].astype(np.float32) / np.float32(255),
            train_y[:transfer_train], clean, test_y, epochs=transfer_epochs, seed=seed,
            device=device, quiet=state.quiet)
        if result["copied"] == 0:
            raise RestorekitError(f"{name}: no encoder convolution fits the classifier")
        transfer_table = ds.transfer_rows(result)

    if fmt == "json":
        payload: Any = {"downstream": rows, "transfer": transfer_table} if transfer else rows
        _emit(json.dumps(payload, indent=2), output)
    else:
        text = format_table(rows, fmt)
        if transfer_table:
            sep = "\n\n" if fmt == "csv" else "\n\nRepresentation transfer (accuracy %, " \
                "encoder-initialised vs random):\n\n"
            text += sep + format_table(transfer_table, fmt)
        _emit(text, output)
    return 0


COMMANDS = [downstream_command]
