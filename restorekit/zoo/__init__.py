"""Shipped pretrained restorers: weights (``*.safetensors``) and model cards (``*.json``) here.

A zoo model is ``name + card + weights``. Its card is a normal restorekit model card (``arch``,
``config``, ``sha256``; see :mod:`restorekit.weights`) with a ``zoo`` section saying what the model
is for::

    "zoo": {"name": "rk-unet-gray-blind", "task": "denoise", "channels": [1],
            "default": true, "scales": [], "data": "...", "licence": "...", "metrics": {...}}

The weights' sha256 is checked against the card on every load, so a corrupted or swapped file is
refused. ``default: true`` asks ``restorekit restore`` to prefer the model for its task and
channels; ``qualities: [lo, hi]`` makes a JPEG model the choice for inputs whose quality (read
from the file's tables, or estimated from its pixels) lies in that range, where it was measured
to beat the default.
:func:`default_model` decides, and :func:`picked_for` says where a model is picked.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restorekit.errors import UnknownNameError, WeightsError

ZOO_DIR = Path(__file__).resolve().parent

__all__ = ["ZOO_DIR", "ZooModel", "zoo_models", "get_zoo_model", "default_model",
           "picked_for", "shipped_models", "load_zoo_restorer"]


@dataclass(frozen=True)
class ZooModel:
    """One shipped model: its name, what it does, and where its weights are."""

    name: str
    arch: str
    task: str
    channels: tuple[int, ...]
    weights: Path
    default: bool = False
    scales: tuple[int, ...] = ()
    qualities: tuple[int, ...] = ()  # (lo, hi): the JPEG qualities it is picked for
    card: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def summary(self) -> str:
        return str(self.card.get("description", ""))

    def serves(self, task: str, scale: int | None = None) -> bool:
        """Whether the model does ``task`` (at SR ``scale``, when given: a model without
        ``scales`` takes any)."""
        return self.task == task and (scale is None or not self.scales or scale in self.scales)

    def made_for(self, quality: int | None) -> bool:
        """Whether the model is the JPEG specialist for inputs of ``quality`` (None: unknown)."""
        return (quality is not None and bool(self.qualities)
                and self.qualities[0] <= quality <= self.qualities[-1])


def _from_card(path: Path) -> ZooModel | None:
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: unreadable zoo model card ({exc})") from None
    zoo = card.get("zoo") if isinstance(card, dict) else None
    if not isinstance(zoo, dict):
        return None  # a plain model card, not a zoo entry
    return ZooModel(name=str(zoo["name"]), arch=str(card["arch"]), task=str(zoo["task"]),
                    channels=tuple(int(c) for c in zoo.get("channels", [1])),
                    weights=path.with_name(str(card["weights"])),
                    default=bool(zoo.get("default", False)),
                    scales=tuple(int(s) for s in zoo.get("scales", [])),
                    qualities=tuple(int(q) for q in zoo.get("qualities", [])), card=card)


@functools.lru_cache(maxsize=4)
def _scan(folder: str) -> dict[str, ZooModel]:
    models = {}
    for path in sorted(Path(folder).glob("*.json")):
        model = _from_card(path)
        if model is not None and model.weights.is_file():
            models[model.name] = model
    return models


def zoo_models() -> dict[str, ZooModel]:
    """Every shipped model whose weights are present, by name (scanned once per folder)."""
    return dict(_scan(str(ZOO_DIR)))


zoo_models.cache_clear = _scan.cache_clear  # type: ignore[attr-defined]


def get_zoo_model(name: str) -> ZooModel:
    """The shipped model called ``name``."""
    models = zoo_models()
    if name not in models:
        known = ", ".join(models) or "none shipped"
        raise UnknownNameError(f"no shipped model {name!r} (shipped: {known})")
    return models[name]


def default_model(task: str, channels: int, scale: int | None = None,
                  quality: int | None = None) -> str | None:
    """The shipped model ``restorekit restore`` uses for ``task`` on ``channels``-channel images.

    A model marked default for exactly these channels wins; else any model for the task that
    takes these channels; else a gray model (run per channel) for colour images. A JPEG model
    made for the input's ``quality`` (its card's ``qualities``) counts as marked default, and
    comes first. Within each tier a model marked default (for other channels) comes before a
    specialist, then the one made for the fewest scales (a net made for x3 only beats a
    multi-scale one at x3). None if the zoo has nothing for the task.
    """
    candidates = [m for m in zoo_models().values() if m.serves(task, scale)]

    def preferred(m: ZooModel) -> bool:
        return m.default or m.made_for(quality)

    for test in (lambda m: preferred(m) and channels in m.channels,
                 lambda m: channels in m.channels,
                 lambda m: 1 in m.channels):
        matches = sorted((m for m in candidates if test(m)),
                         key=lambda m: (not m.made_for(quality), not preferred(m),
                                        len(m.scales) or math.inf))
        if matches:
            return matches[0].name
    return None


def picked_for(model: ZooModel) -> str:
    """Where ``restorekit restore`` picks ``model`` on its own: "gray x2", "gray,rgb",
    "gray q1-30", or "" (never: e.g. a multi-scale net beaten by a specialist at each of its
    scales). Asked of :func:`default_model`, so listings cannot disagree with what restore
    does; a JPEG specialist is asked at the ends of its quality range."""
    picked = []
    for channels, label in ((1, "gray"), (3, "rgb")):
        if model.qualities:
            if all(default_model(model.task, channels, quality=q) == model.name
                   for q in (model.qualities[0], model.qualities[-1])):
                picked.append(f"{label} q{model.qualities[0]}-{model.qualities[-1]}")
            continue
        scales = [s for s in model.scales or [None]
                  if default_model(model.task, channels, s) == model.name]
        if scales:
            picked.append(label + (f" x{'/'.join(map(str, scales))}" if model.scales else ""))
    return ",".join(picked)


def shipped_models() -> dict[str, list[str]]:
    """Architecture name -> names of the shipped models built on it."""
    out: dict[str, list[str]] = {}
    for model in zoo_models().values():
        out.setdefault(model.arch, []).append(model.name)
    return out


def load_zoo_restorer(name: str, *, device: str | None = None, **options: Any) -> Any:
    """A ready ``NetworkRestorer`` for the shipped model ``name`` (sha256 checked)."""
    from restorekit.restorers.network import NetworkRestorer

    model = get_zoo_model(name)
    if options.get("self_ensemble"):
        from restorekit.restorers.self_ensemble import content_grid

        options.setdefault("content_grid", content_grid(model.task))
    restorer = NetworkRestorer.from_registry(model.arch, weights=str(model.weights),
                                             device=device, **options)
    restorer.name = model.name  # type: ignore[misc]  # report the zoo name, not the arch
    return restorer
