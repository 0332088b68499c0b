"""The ``Restorer`` interface and the one registry of every method, classical or learned.

Classical filters register a :class:`Restorer` subclass with :func:`register_restorer`; networks
register an ``nn.Module`` class with :func:`register_net` and are wrapped in a
``NetworkRestorer`` when loaded. Built-in modules are imported on first look-up, so importing
this module stays cheap.
"""

from __future__ import annotations

import difflib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from restorekit.errors import RestorekitError, UnknownNameError

Kind = Literal["classical", "network"]

# Imported on the first look-up of each kind; each registers its methods as a side effect.
# Classical names resolve without importing torch (the nets package imports it).
_BUILTIN_MODULES: dict[str, str] = {"classical": "restorekit.restorers.classical",
                                    "network": "restorekit.nets"}


class Restorer(ABC):
    """Repairs an image.

    ``restore`` takes a float32 numpy image in [0, 1], HxW or HxWxC, and returns one of the same
    shape and range. ``sigma`` is a Gaussian noise level on the 0-255 scale; restorers that need
    one and get ``None`` estimate it from the image.
    """

    #: Registry name, set by :func:`register_restorer` / :func:`register_net`.
    name: ClassVar[str] = ""
    #: Whether ``restore`` uses ``sigma`` (so callers know to estimate and report it).
    uses_sigma: ClassVar[bool] = False

    @abstractmethod
    def restore(self, image: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """Return the restored image, same shape as ``image``."""

    def __call__(self, image: np.ndarray, sigma: float | None = None) -> np.ndarray:
        return self.restore(image, sigma=sigma)


def as_input_image(image: Any, *, min_side: int = 1) -> np.ndarray:
    """``image`` as a float32 HxW or HxWxC array for a restorer: integers scaled to [0, 1],
    floats kept as they are (noisy inputs may leave [0, 1]); anything else is one clear error."""
    a = np.asarray(image)
    if a.dtype.kind in "ui":
        a = a.astype(np.float32) / np.float32(np.iinfo(a.dtype).max)
    elif a.dtype.kind == "b":
        a = a.astype(np.float32)
    elif a.dtype.kind != "f":
        raise RestorekitError(f"cannot restore an array of dtype {a.dtype}")
    if a.ndim not in (2, 3) or min(a.shape[:2]) < min_side or (a.ndim == 3 and a.shape[2] < 1):
        raise RestorekitError(f"expected an HxW or HxWxC image of at least {min_side}x{min_side}"
                              f" pixels, got shape {a.shape}")
    return a.astype(np.float32, copy=False)


@dataclass(frozen=True)
class Entry:
    """What the registry knows about one method."""

    name: str
    kind: Kind
    factory: Callable[..., Any]
    paper: str = ""
    tasks: tuple[str, ...] = ("denoise",)
    channels: tuple[int, ...] = (1, 3)
    summary: str = ""
    extra: str | None = None  # optional-dependency extra that must be installed
    defaults: dict[str, Any] = field(default_factory=dict)  # default config for nets


_REGISTRY: dict[str, Entry] = {}
_loaded: set[str] = set()


def _add(entry: Entry) -> None:
    if entry.name in _REGISTRY and _REGISTRY[entry.name].factory is not entry.factory:
        raise ValueError(f"restorer name {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry


def register_restorer(
    name: str,
    *,
    paper: str = "",
    tasks: tuple[str, ...] = ("denoise",),
    channels: tuple[int, ...] = (1, 3),
    summary: str = "",
    extra: str | None = None,
) -> Callable[[type[Restorer]], type[Restorer]]:
    """Class decorator registering a classical :class:`Restorer` under ``name``."""

    def deco(cls: type[Restorer]) -> type[Restorer]:
        cls.name = name
        doc = (cls.__doc__ or "").strip().splitlines()
        summary_ = summary or (doc[0] if doc else "")
        _add(Entry(name, "classical", cls, paper, tasks, channels, summary_, extra))
        return cls

    return deco


def register_net(
    name: str,
    *,
    paper: str,
    tasks: tuple[str, ...] = ("denoise",),
    channels: tuple[int, ...] = (1, 3),
    summary: str = "",
    defaults: dict[str, Any] | None = None,
) -> Callable[[type], type]:
    """Class decorator registering an ``nn.Module`` architecture under ``name``.

    ``defaults`` is the config (constructor keyword arguments) used when none is given.
    """

    def deco(cls: type) -> type:
        doc = (cls.__doc__ or "").strip().splitlines()
        summary_ = summary or (doc[0] if doc else "")
        _add(Entry(name, "network", cls, paper, tasks, channels, summary_, None,
                   dict(defaults or {})))
        return cls

    return deco


def _ensure_loaded(kind: Kind | None = None) -> None:
    for k, module in _BUILTIN_MODULES.items():
        if kind in (None, k) and k not in _loaded:
            _loaded.add(k)
            importlib.import_module(module)


def get_entry(name: str) -> Entry:
    """Look up ``name``; an unknown name raises with the closest known names."""
    _ensure_loaded("classical")
    if name not in _REGISTRY:
        _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `restorekit models`"
        raise UnknownNameError(f"unknown method {name!r}{hint}") from None


def list_restorers(kind: Kind | None = None) -> list[Entry]:
    """Every registered method (optionally of one kind), sorted by name."""
    _ensure_loaded(kind)
    return sorted((e for e in _REGISTRY.values() if kind in (None, e.kind)), key=lambda e: e.name)


def build_net(name: str, **config: Any) -> Any:
    """Build the ``nn.Module`` registered as ``name`` from a plain config dict."""
    entry = get_entry(name)
    if entry.kind != "network":
        raise UnknownNameError(f"{name!r} is a classical method, not a network")
    try:
        return entry.factory(**{**entry.defaults, **config})
    except TypeError as exc:
        raise RestorekitError(f"bad config for network {name!r}: {exc}") from None


def load_restorer(name: str, *, weights: str | None = None, device: str | None = None,
                  **config: Any) -> Restorer:
    """Return a ready :class:`Restorer` for ``name``.

    Classical methods take their options as ``config``; networks take their architecture config,
    optional ``weights`` (safetensors or legacy ``.pth``) and a ``device``.
    """
    entry = get_entry(name)
    if entry.kind == "classical":
        if weights is not None:
            raise RestorekitError(f"{name!r} is a classical method; weights apply to networks")
        from restorekit.restorers.options import check_options

        check_options(name, entry.factory, config)
        return entry.factory(**config)
    from restorekit.restorers.network import NetworkRestorer

    return NetworkRestorer.from_registry(name, weights=weights, device=device, **config)
