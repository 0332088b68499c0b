"""Save and load network weights safely: safetensors plus a JSON model card.

A model is ``arch name + config + weights``. ``save_weights`` writes ``NAME.safetensors`` and a
card ``NAME.json`` beside it holding the architecture, its config and the weights' sha256, so
``load_network`` can rebuild the module without any code from the file. Legacy ``.pth``/``.pt``
files load only through ``torch.load(weights_only=True)``: nothing from a checkpoint executes.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

from restorekit.atomic import atomic_write, atomic_write_text
from restorekit.errors import WeightsError, WeightsMismatchError
from restorekit.quantize import STORAGES, dequantize_state, is_quantized, quantize_state

CARD_FORMAT = "restorekit-card/1"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(weights: str | Path) -> Path:
    """The model card that belongs to a weights file (same stem, ``.json``)."""
    return Path(weights).with_suffix(".json")


def save_weights(module: Any, path: str | Path, *, arch: str, config: dict[str, Any],
                 card: dict[str, Any] | None = None, storage: str = "float32") -> Path:
    """Write ``module``'s weights as safetensors and its model card; both atomically.

    ``storage="int8"`` stores weight tensors as int8 with per-channel scales
    (:mod:`restorekit.quantize`): a quarter of the size; loading dequantizes them.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path}: weights are saved as .safetensors")
    if storage not in STORAGES:
        raise WeightsError(f"unknown weight storage {storage!r}; choose {', '.join(STORAGES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    if storage == "int8":
        state = quantize_state(state)
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"arch": arch,
                                                                   "storage": storage}))
    full = {"format": CARD_FORMAT, "arch": arch, "config": config, **(card or {}),
            "weights": path.name, "storage": storage, "sha256": sha256_file(path)}
    text = json.dumps(full, indent=2, sort_keys=False) + "\n"
    atomic_write_text(card_path(path), text)
    return path


def read_card(weights: str | Path) -> dict[str, Any] | None:
    """The card beside ``weights``, or None when there is none."""
    cp = card_path(weights)
    if not cp.is_file():
        return None
    try:
        card = json.loads(cp.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{cp}: unreadable model card ({exc})") from None
    if not isinstance(card, dict) or "arch" not in card:
        raise WeightsError(f"{cp}: not a restorekit model card (no 'arch')")
    return card


def load_state_dict(path: str | Path, *, sha256: str | None = None) -> dict[str, Any]:
    """Read a state dict from ``.safetensors`` or a legacy ``.pth``/``.pt`` (weights only)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if sha256 is not None and sha256_file(path) != sha256:
        raise WeightsError(f"{path}: sha256 does not match its model card (corrupt or replaced)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad weights file
        kind = "safetensors" if path.suffix == ".safetensors" else "PyTorch (torch.save)"
        if isinstance(exc, pickle.UnpicklingError):  # torch's text advises unsafe loading
            why = "not a checkpoint, or one holding more than tensors: only tensors are loaded"
        else:
            why = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
        raise WeightsError(f"{path}: cannot read weights: not a valid {kind} file ({why})"
                           ) from exc
    if path.suffix == ".safetensors":
        return dequantize_state(state, source=str(path)) if is_quantized(state) else state
    for key in ("state_dict", "model", "params", "net"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_weights(module: Any, path: str | Path, *, sha256: str | None = None,
                 grow: bool = False, partial: bool = False) -> list[str]:
    """Load weights into ``module``; any mismatch is one clear :class:`WeightsError`.

    ``grow=True`` loads the weights of a smaller net of the same family into a larger one
    through the module's ``grow_from(state)`` (which keeps the smaller net's function, so
    fine-tuning starts from its quality); a module without that method is a WeightsError.
    ``partial=True`` loads only the tensors whose name and shape match and keeps the module's
    own values for the rest (transfer learning, e.g. an SR body trained at another scale:
    Lim et al., EDSR, CVPRW 2017, Sec. 4.2; BasicSR's ``strict_load_g: false``); at least one
    tensor must match. Returns the names of the module's tensors left as they were.
    """
    state = load_state_dict(path, sha256=sha256)
    if grow and partial:
        raise WeightsError("grow and partial loading exclude each other; choose one")
    if grow:
        grow_from = getattr(module, "grow_from", None)
        if grow_from is None:
            raise WeightsError(f"{type(module).__name__} cannot be grown from smaller weights "
                               "(it has no grow_from); drop the grow option")
        try:
            grow_from(state)
        except ValueError as exc:
            raise WeightsError(f"{path}: {exc}") from None
        return []
    own = module.state_dict()
    fits = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if partial:
        if not fits:
            raise WeightsError(f"{path}: no tensor matches {type(module).__name__} in name "
                               "and shape; nothing to load")
        module.load_state_dict({**own, **fits})
        return sorted(set(own) - set(fits))
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(set(own) & set(state) - set(fits))
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected),
                            ("wrong shape", shapes)):
            if keys:
                more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
                parts.append(f"{label}: {', '.join(keys[:3])}{more}")
        raise WeightsMismatchError(
            f"{path}: weights do not match {type(module).__name__} ({'; '.join(parts)})")
    module.load_state_dict(state)
    return []


def load_network(path: str | Path, **overrides: Any) -> tuple[Any, dict[str, Any]]:
    """Build the architecture named in the card beside ``path`` and load the weights into it."""
    from restorekit.restorers.base import build_net

    card = read_card(path)
    if card is None:
        raise WeightsError(f"{path}: no model card ({card_path(path).name}) naming its"
                           " architecture; pass the architecture name explicitly")
    module = build_net(card["arch"], **{**card.get("config", {}), **overrides})
    load_weights(module, path, sha256=card.get("sha256"))
    return module, card
