"""Export a network for deployment: ONNX (with dynamic height/width) or TorchScript."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from restorekit.atomic import atomic_write
from restorekit.errors import MissingDependencyError, RestorekitError

EXPORT_FORMATS = ("onnx", "torchscript")


#: Default trace size. Odd on purpose: nets that pad to a multiple only record their padding
#: branch when the example needs padding; traced on a multiple, the graph rejects other sizes.
TRACE_SIZE = 67


def export_module(module: Any, path: str | Path, fmt: str, *, channels: int,
                  size: int = TRACE_SIZE, opset: int = 17) -> Path:
    """Write ``module`` (eval mode) to ``path`` as ``fmt``, traced on a 1 x channels x size x size
    example. ONNX gets dynamic batch, height and width axes.

    Nets with a noise-level input (``accepts_sigma``, e.g. rk-unet) are exported with a second
    input ``sigma``: one value per image (or one for the batch), on the 0-1 scale, as
    ``forward(x, sigma)`` takes it. Their in-graph fallback estimate (a median) has no ONNX
    operator, and a deployment usually has its own noise estimate or a user setting anyway.

    Nets whose control flow depends on the input size beyond padding (the CNN-LSTM draws one
    row per step) set ``exportable = False`` and are refused: a trace would only work at the
    traced size.
    """
    import torch

    if fmt not in EXPORT_FORMATS:
        raise RestorekitError(f"unknown export format {fmt!r} (choose from onnx, torchscript)")
    if not getattr(module, "exportable", True):
        raise RestorekitError(f"{type(module).__name__} cannot be exported: its forward loops "
                              "over image rows, so a traced graph would only fit the traced size")
    module = module.eval().cpu()
    example: tuple[Any, ...] = (
        torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(0)),)
    names = ["image"]
    axes = {"image": {0: "batch", 2: "height", 3: "width"},
            "restored": {0: "batch", 2: "height", 3: "width"}}
    if getattr(module, "accepts_sigma", False):
        example += (torch.full((1,), 25.0 / 255.0),)
        names.append("sigma")
        axes["sigma"] = {0: "values"}  # one per image, or one for the batch
    path = Path(path)
    _make_parent(path)
    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = torch.jit.trace(module, example, check_trace=False)
        return atomic_write(path, lambda tmp: traced.save(tmp))
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise MissingDependencyError("ONNX export needs the 'onnx' package: "
                                     "pip install 'restorekit[export]'") from None

    def write(tmp: str) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(module, example, tmp, input_names=names,
                              output_names=["restored"], opset_version=opset, dynamo=False,
                              dynamic_axes=axes)

    return atomic_write(path, write)


def _make_parent(path: Path) -> None:
    """Create the output's folder, or fail with one clear line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RestorekitError(f"cannot create the folder of {path}: "
                              f"{exc.strerror or exc}") from None
