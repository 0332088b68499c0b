"""Degradations as objects, their composition, and the spec strings that name them.

A :class:`Degradation` damages an image: ``degraded, params = d(image, rng, **overrides)``. It is
pure (the input is never modified), seeded (``rng`` is a ``np.random.Generator``, an int seed or
``None`` for fresh entropy) and works on numpy images (float32 HxW or HxWxC in [0, 1]) and torch
batches (NxCxHxW) with the same statistics. ``params`` says what was done, including the values
drawn for sampled parameters. ``a + b`` (or ``Chain([a, b])``) applies a then b, drawing from one
generator, with ``params = {"name": "chain", "steps": [params_a, params_b]}``; ``parse_spec``
builds any of them from text and ``d.spec`` writes it back (``parse_spec(d.spec) == d``).

On a torch batch, a sampled parameter (a range or a choice) is drawn once per image and recorded
as a list of N values; fixed parameters stay scalars. Noise on tensors comes from a
``torch.Generator`` seeded from the numpy generator, on the batch's device and dtype, so numpy and
torch give the same statistics but not the same numbers.

Spec grammar::

    spec   := step ("+" step)*          steps apply left to right
    step   := name [":" arg ("," arg)*]
    arg    := key "=" value
            | value                     first arg only: the step's main parameter (gaussian,
                                        speckle: sigma; poisson: peak; salt-pepper: amount;
                                        jpeg: quality; resample: scale; mask: region)
    value  := 25 | 0.5 | true | bicubic  a fixed value
            | lo "-" hi                 a number drawn uniformly per call (integers: inclusive)
            | a "|" b "|" c             one option drawn per call

Names and keys are case-insensitive and ``_``/``-`` are interchangeable. Box values take four
comma-separated numbers (``box=x,y,w,h``): integers are pixels, numbers with a ``.`` are
fractions of the image size. File paths cannot contain ``+``. Examples::

    gaussian:sigma=25                    AWGN, sigma on the 0-255 scale (gaussian:25 is the same)
    gaussian:sigma=0-50                  blind noise: sigma ~ U(0, 50) on every call
    poisson:peak=30                      shot noise, 30 photons at intensity 1
    nlf:b1=0.01,b2=0.0004                variance b1*y + b2 in [0, 1]-intensity units
    salt-pepper:amount=0.1,per-channel=true
    jpeg:quality=10-90
    resample:scale=2|3|4,down=nearest,up=nearest
    mask:lower-half+gaussian:sigma=50    lower half blacked out, then noise everywhere
    mask:box=8,8,16,16                   x, y, w, h in pixels
    mask:random-boxes=1-5,size=0.25
    box-noise:box=0.25,0.25,0.5,0.5,sigma=75

Errors are :class:`~restorekit.errors.SpecError` with one line naming the bad token, e.g.
``bad degradation spec 'gausian:sigma=5': unknown step 'gausian' (known: gaussian, ...)``.
"""

from __future__ import annotations

import copy
import difflib
import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from restorekit.errors import SpecError

__all__ = [
    "Chain",
    "Choice",
    "Degradation",
    "DegradationInfo",
    "Identity",
    "Param",
    "ParamInfo",
    "Uniform",
    "as_generator",
    "degrade",
    "is_tensor",
    "list_degradations",
    "parse_spec",
    "register_degradation",
]


# ---------------------------------------------------------------------------------------------
# Parameter values: fixed, or sampled per call
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uniform:
    """A numeric parameter drawn uniformly from [lo, hi] on every call (integers: inclusive)."""

    lo: float
    hi: float


@dataclass(frozen=True, init=False)
class Choice:
    """A parameter drawn from a fixed set of options on every call: ``Choice(2, 3, 4)``."""

    options: tuple[Any, ...]

    def __init__(self, *options: Any) -> None:
        if len(options) == 1 and isinstance(options[0], (list, tuple)):
            options = tuple(options[0])
        object.__setattr__(self, "options", tuple(options))


@dataclass(frozen=True)
class _Fixed:
    value: Any


Value = _Fixed | Uniform | Choice


def _draw(value: Value, kind: str, gen: np.random.Generator, n: int | None) -> Any:
    """A fixed value as is; a sampled one drawn once (numpy) or once per image (batch of n)."""
    if isinstance(value, _Fixed):
        return value.value

    def one() -> Any:
        if isinstance(value, Uniform):
            if kind == "int":
                return int(gen.integers(int(value.lo), int(value.hi) + 1))
            return float(gen.uniform(value.lo, value.hi))
        return value.options[int(gen.integers(len(value.options)))]

    return one() if n is None else [one() for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Parameter declarations, parsing and formatting
# ---------------------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One parameter of a degradation: its type, default, bounds and help line.

    ``kind`` is one of float, int, bool, choice (one of ``options``), box (x, y, w, h in pixels
    or fractions), size (pixels or a fraction) and path. ``show`` puts it in the canonical spec
    even at its default. ``when=(key, values)`` makes it apply only when ``key`` has one of
    ``values``; giving it otherwise is an error. ``fixed`` forbids ranges and choices (a bool
    that is not fixed takes the choice ``true|false``, so the degradation must accept it per
    image on a batch).
    """

    name: str
    kind: str
    default: Any
    help: str
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    options: tuple[str, ...] = ()
    show: bool = False
    when: tuple[str, tuple[Any, ...]] | None = None
    fixed: bool = False

    @property
    def key(self) -> str:
        """The key as written in specs (kebab-case)."""
        return self.name.replace("_", "-")

    @property
    def sampleable(self) -> bool:
        return self.kind in ("float", "int", "choice", "bool") and not self.fixed

    def expected(self) -> str:
        """What a valid value looks like, for error messages and help."""
        if self.kind in ("float", "int"):
            noun = "a number" if self.kind == "float" else "an integer"
            lo = "-inf" if self.lo is None else _fmt_num(self.lo)
            hi = "inf" if self.hi is None else _fmt_num(self.hi)
            text = f"{noun} in {'(' if self.open_lo else '['}{lo}, {hi}]"
            return text + ("" if self.fixed else ", a range lo-hi or choices a|b")
        if self.kind == "bool":
            return "true or false" + ("" if self.fixed else " (or the choice true|false)")
        if self.kind == "choice":
            return "one of " + ", ".join(self.options) + ("" if self.fixed else " (or choices a|b)")
        if self.kind == "box":
            return "x,y,w,h as pixels (integers) or fractions (like 0.25)"
        if self.kind == "size":
            return "a pixel count (integer >= 1) or a fraction in (0, 1]"
        return "a file path"


def _fmt_num(v: Any) -> str:
    """Shortest exact text for a number; never contains '+' (the step separator)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    r = repr(float(v)).replace("e+", "e")
    return r[:-2] if r.endswith(".0") else r


def _fmt_box_num(v: Any) -> str:
    """Box numbers keep their type: integers are pixels, floats (always with '.') fractions."""
    if isinstance(v, numbers.Integral):
        return str(int(v))
    return repr(float(v)).replace("e+", "e")


def _fmt_scalar(p: Param, v: Any) -> str:
    if p.kind == "bool":
        return "true" if v else "false"
    if p.kind in ("choice", "path"):
        return str(v)
    if p.kind == "box":
        return ",".join(_fmt_box_num(t) for t in v)
    if p.kind == "size":
        return _fmt_box_num(v)
    return _fmt_num(v)


def _fmt_value(p: Param, value: Value) -> str:
    if isinstance(value, Uniform):
        return f"{_fmt_scalar(p, value.lo)}-{_fmt_scalar(p, value.hi)}"
    if isinstance(value, Choice):
        return "|".join(_fmt_scalar(p, o) for o in value.options)
    return _fmt_scalar(p, value.value)


def _norm_name(text: str) -> str:
    return text.strip().lower().replace("_", "-")


def _norm_key(text: str) -> str:
    return text.strip().lower().replace("-", "_")


def _is_int_text(t: str) -> bool:
    return not any(c in t for c in ".eEnN")  # no decimal point, exponent, nan or inf


def _bad(owner: str, p: Param, raw: Any) -> SpecError:
    shown = raw if isinstance(raw, str) else repr(raw)
    return SpecError(f"bad value {shown!r} for {owner} {p.key} (expected {p.expected()})")


def _number(p: Param, raw: Any, owner: str) -> Any:
    """Convert to the parameter's numeric type and check its bounds."""
    try:
        if isinstance(raw, (bool, np.bool_)):
            raise ValueError
        if isinstance(raw, str):
            v: Any = int(raw) if p.kind == "int" else float(raw)
        elif isinstance(raw, numbers.Real):
            v = float(raw)
            if p.kind == "int":
                if not v.is_integer():
                    raise ValueError
                v = int(v)
        else:
            raise ValueError
    except (ValueError, OverflowError):
        raise _bad(owner, p, raw) from None
    if not math.isfinite(v):
        raise _bad(owner, p, raw)
    if p.lo is not None and (v < p.lo or (p.open_lo and v == p.lo)):
        raise _bad(owner, p, raw)
    if p.hi is not None and v > p.hi:
        raise _bad(owner, p, raw)
    return v


def _box_num(raw: Any) -> int | float:
    if isinstance(raw, str):
        t = raw.strip()
        return int(t) if _is_int_text(t) else float(t)
    if isinstance(raw, (bool, np.bool_)):
        raise ValueError
    if isinstance(raw, numbers.Integral):
        return int(raw)
    if isinstance(raw, numbers.Real):
        return float(raw)
    raise ValueError


def _scalar(p: Param, raw: Any, owner: str) -> Any:
    """Validate one fixed value (a Python object or spec text) for parameter ``p``."""
    if isinstance(raw, str):
        raw = raw.strip()
    if p.kind in ("float", "int"):
        return _number(p, raw, owner)
    if p.kind == "bool":
        if isinstance(raw, (bool, np.bool_)):
            return bool(raw)
        if isinstance(raw, numbers.Integral) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str) and raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise _bad(owner, p, raw)
    if p.kind == "choice":
        if isinstance(raw, str):
            norm = {o.replace("_", "-"): o for o in p.options}
            key = raw.lower().replace("_", "-")
            if key in norm:
                return norm[key]
        raise _bad(owner, p, raw)
    if p.kind == "box":
        parts = raw.split(",") if isinstance(raw, str) else raw
        try:
            box = tuple(_box_num(t) for t in parts)
        except (TypeError, ValueError, OverflowError):
            raise _bad(owner, p, raw) from None
        ok = len(box) == 4 and all(
            (isinstance(t, int) and t >= 0) or (isinstance(t, float) and 0.0 <= t <= 1.0)
            for t in box
        )
        if not ok:
            raise _bad(owner, p, raw)
        return box
    if p.kind == "size":
        try:
            v = _box_num(raw)
        except (TypeError, ValueError, OverflowError):
            raise _bad(owner, p, raw) from None
        if (isinstance(v, int) and v >= 1) or (isinstance(v, float) and 0.0 < v <= 1.0):
            return v
        raise _bad(owner, p, raw)
    # path
    if isinstance(raw, (str, os.PathLike)):
        path = os.fspath(raw)
        if isinstance(path, str) and path.strip() and "+" not in path:
            return path
    raise _bad(owner, p, raw)


def _split_range(text: str) -> tuple[str, str] | None:
    """Split 'lo-hi' at a '-' that is not a sign or part of an exponent."""
    for i, ch in enumerate(text):
        if ch == "-" and i > 0 and text[i - 1] not in "eE":
            a, b = text[:i].strip(), text[i + 1 :].strip()
            if a and b:
                return a, b
    return None


def _coerce(p: Param, raw: Any, owner: str) -> Value:
    """Turn a user value into a fixed value or a sampler, validating every number."""
    if isinstance(raw, _Fixed):
        raw = raw.value
    if p.sampleable:
        numeric = p.kind in ("float", "int")
        if isinstance(raw, tuple) and numeric and len(raw) == 2:
            raw = Uniform(*raw)
        elif isinstance(raw, list):
            raw = Choice(raw)
        if isinstance(raw, Uniform) and numeric:
            lo, hi = _scalar(p, raw.lo, owner), _scalar(p, raw.hi, owner)
            if lo > hi:
                shown = f"{_fmt_num(lo)}-{_fmt_num(hi)}"
                raise SpecError(f"bad value {shown!r} for {owner} {p.key} (range is reversed)")
            return Uniform(lo, hi)
        if isinstance(raw, Choice):
            if not raw.options:
                raise SpecError(f"empty choice for {owner} {p.key}")
            return Choice(*(_scalar(p, o, owner) for o in raw.options))
        if isinstance(raw, str):
            text = raw.strip()
            if "|" in text:
                return Choice(*(_scalar(p, o, owner) for o in text.split("|")))
            if numeric:
                try:
                    return _Fixed(_scalar(p, text, owner))
                except SpecError:
                    parts = _split_range(text)
                    if parts is None:
                        raise
                    return _coerce(p, Uniform(*parts), owner)
    if isinstance(raw, (Uniform, Choice)):
        raise SpecError(f"{owner} {p.key} cannot be sampled (expected {p.expected()})")
    return _Fixed(_scalar(p, raw, owner))


# ---------------------------------------------------------------------------------------------
# Images on either backend
# ---------------------------------------------------------------------------------------------


def is_tensor(x: Any) -> bool:
    """True for a torch tensor, found without importing torch."""
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "shape")


def check_image(x: Any) -> None:
    """Reject anything but a float numpy HxW / HxWxC image or a float torch NxCxHxW batch."""
    if is_tensor(x):
        if x.ndim != 4:
            raise ValueError(f"torch images must be NxCxHxW batches, got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"expected a float tensor in [0, 1], got {x.dtype}")
        empty = x.numel() == 0
    elif isinstance(x, np.ndarray):
        if x.ndim not in (2, 3):
            raise ValueError(f"numpy images must be HxW or HxWxC, got shape {x.shape}")
        if x.dtype.kind != "f":
            raise TypeError(f"expected a float image in [0, 1], got dtype {x.dtype}")
        empty = x.size == 0
    else:
        raise TypeError(f"expected a numpy image or a torch batch, got {type(x).__name__}")
    if empty:
        raise ValueError(f"empty image of shape {tuple(x.shape)}")


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A ``np.random.Generator`` from a generator, an int seed or None (fresh entropy)."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, not {type(rng).__name__}")


class Ops:
    """The few array operations degradations need, on the image's own library, device and dtype.

    numpy images draw from the numpy generator; torch batches draw from a ``torch.Generator``
    seeded from it and create noise on the batch's device. Per-image values (lists, drawn for
    sampled parameters on batches) become (N, 1, 1, 1) tensors.
    """

    def __init__(self, x: Any, gen: np.random.Generator) -> None:
        self.x = x
        self.gen = gen
        self.torch = is_tensor(x)
        self._tgen: Any = None
        if self.torch:
            self.n: int | None = int(x.shape[0])
            self.hw = (int(x.shape[2]), int(x.shape[3]))
        else:
            self.n = None
            self.hw = (int(x.shape[0]), int(x.shape[1]))
            self._dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float32)

    @property
    def tgen(self) -> Any:
        if self._tgen is None:
            import torch

            self._tgen = torch.Generator(device=self.x.device)
            self._tgen.manual_seed(int(self.gen.integers(2**63)))
        return self._tgen

    def pixel_shape(self) -> tuple[int, ...]:
        """Shape of one draw per pixel (shared by all channels), broadcastable to the image."""
        if self.torch:
            return (self.n, 1, *self.hw)
        return self.hw if self.x.ndim == 2 else (*self.hw, 1)

    def normal(self, shape: Sequence[int] | None = None) -> Any:
        shape = tuple(self.x.shape if shape is None else shape)
        if self.torch:
            import torch

            return torch.randn(shape, generator=self.tgen, device=self.x.device, dtype=self.x.dtype)
        return self.gen.standard_normal(shape, dtype=self._dt)

    def uniform(self, shape: Sequence[int] | None = None) -> Any:
        shape = tuple(self.x.shape if shape is None else shape)
        if self.torch:
            import torch

            return torch.rand(shape, generator=self.tgen, device=self.x.device, dtype=self.x.dtype)
        return self.gen.random(shape, dtype=self._dt)

    def poisson(self, lam: Any) -> Any:
        if self.torch:
            import torch

            return torch.poisson(lam, generator=self.tgen)
        return self.gen.poisson(lam).astype(self._dt)

    def value(self, v: Any, scale: float = 1.0) -> Any:
        """A parameter as a float, or per image as an (N, 1, 1, 1) tensor."""
        if isinstance(v, list):
            import torch

            t = torch.tensor([float(a) * scale for a in v], dtype=self.x.dtype)
            return t.to(self.x.device).reshape(-1, 1, 1, 1)
        return float(v) * scale

    def mask(self, m: np.ndarray) -> Any:
        """A boolean HxW or NxHxW numpy mask, broadcastable to the image."""
        if self.torch:
            import torch

            t = torch.from_numpy(np.ascontiguousarray(m)).to(self.x.device)
            return t.reshape(-1, 1, *self.hw)
        return m if self.x.ndim == 2 else m[..., None]

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """``a`` where ``cond`` else ``b`` (``a`` may be a number or per-image value)."""
        if self.torch:
            import torch

            if not isinstance(a, torch.Tensor):
                a = torch.tensor(float(a), dtype=b.dtype, device=b.device)
            return torch.where(cond, a, b)
        return np.where(cond, a, b).astype(b.dtype, copy=False)

    def clip(self, a: Any) -> Any:
        return a.clamp(0.0, 1.0) if self.torch else np.clip(a, 0.0, 1.0)

    def sqrt(self, a: Any) -> Any:
        return a.sqrt() if self.torch else np.sqrt(a)

    def relu(self, a: Any) -> Any:
        return a.clamp_min(0.0) if self.torch else np.maximum(a, 0.0)


# ---------------------------------------------------------------------------------------------
# The Degradation base class and the registry
# ---------------------------------------------------------------------------------------------

_REGISTRY: dict[str, type[Degradation]] = {}
_ORDER: list[type[Degradation]] = []


def register_degradation(cls: type[Degradation]) -> type[Degradation]:
    """Class decorator: make ``cls`` available to :func:`parse_spec` under its name and aliases."""
    for name in (cls.name, *cls.aliases):
        key = _norm_name(name)
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"degradation name {name!r} is registered twice")
        _REGISTRY[key] = cls
    if cls not in _ORDER:
        _ORDER.append(cls)
    return cls


class Degradation:
    """Something that damages an image; see the module docstring for the contract.

    Subclasses declare ``name``, ``PARAMS`` (and optionally ``positional``, the parameter a
    bare first spec argument sets) and implement ``_apply(x, p, ops) -> (out, params)``, where
    ``p`` holds the values drawn for this call. Constructor arguments are the parameters, as
    values, spec text (``"0-50"``), :class:`Uniform`, :class:`Choice`, a 2-tuple (uniform range)
    or a list (choice).
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""
    example: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    positional: ClassVar[str | None] = None

    def __init__(self, *args: Any, **params: Any) -> None:
        if args:
            if len(args) > 1 or self.positional is None:
                raise TypeError(f"{type(self).__name__} takes parameters by keyword")
            if self.positional in params:
                raise TypeError(f"{self.positional!r} given twice")
            params[self.positional] = args[0]
        self._values: dict[str, Value] = {p.name: _Fixed(p.default) for p in self.PARAMS}
        self._explicit: set[str] = set()
        self._update(params)

    # -- parameters ---------------------------------------------------------------------------

    @classmethod
    def _param(cls, key: str) -> Param:
        for p in cls.PARAMS:
            if p.name == key:
                return p
        keys = ", ".join(p.key for p in cls.PARAMS) or "none"
        close = difflib.get_close_matches(key.replace("_", "-"), [p.key for p in cls.PARAMS], 1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        shown = key.replace("_", "-")
        raise SpecError(f"unknown key {shown!r} for {cls.name} (keys: {keys}){hint}")

    def _applies(self, p: Param) -> bool:
        if p.when is None:
            return True
        key, values = p.when
        v = self._values[key]
        return isinstance(v, _Fixed) and v.value in values

    def _update(self, params: dict[str, Any]) -> None:
        given = set()
        for raw_key, raw in params.items():
            p = self._param(_norm_key(raw_key))
            self._values[p.name] = _coerce(p, raw, self.name)
            given.add(p.name)
        self._explicit |= given
        for p in self.PARAMS:
            if self._applies(p):
                continue
            if p.name in given:
                key, values = p.when  # type: ignore[misc]
                need = "|".join(str(v) for v in values)
                raise SpecError(f"{self.name} {p.key} only applies with {key}={need}")
            self._values[p.name] = _Fixed(p.default)
            self._explicit.discard(p.name)
        self._validate()

    def _validate(self) -> None:
        """Hook for checks across parameters (and loading files); raise SpecError."""

    @property
    def config(self) -> dict[str, Any]:
        """The current settings: plain values, or :class:`Uniform` / :class:`Choice` samplers."""
        return {
            k: v.value if isinstance(v, _Fixed) else v
            for k, v in self._values.items()
            if self._applies(self._param(k))
        }

    def with_params(self, **overrides: Any) -> Degradation:
        """A copy with some parameters changed (the original is untouched)."""
        new = copy.copy(self)
        new._values = dict(self._values)
        new._explicit = set(self._explicit)
        new._update(overrides)
        return new

    @property
    def spec(self) -> str:
        """The canonical spec string; ``parse_spec(d.spec) == d``."""
        parts = [
            f"{p.key}={_fmt_value(p, self._values[p.name])}"
            for p in self.PARAMS
            if self._applies(p) and (p.show or self._values[p.name] != _Fixed(p.default))
        ]
        return self.name + (":" + ",".join(parts) if parts else "")

    # -- applying -----------------------------------------------------------------------------

    def __call__(
        self, image: Any, rng: np.random.Generator | int | None = None, **overrides: Any
    ) -> tuple[Any, dict[str, Any]]:
        """Return ``(degraded, params)``; ``overrides`` change parameters for this call only."""
        d = self.with_params(**overrides) if overrides else self
        check_image(image)
        gen = as_generator(rng)
        n = int(image.shape[0]) if is_tensor(image) else None
        drawn = {
            k: _draw(v, d._param(k).kind, gen, n)
            for k, v in d._values.items()
            if d._applies(d._param(k))
        }
        out, params = d._apply(image, drawn, Ops(image, gen))
        if is_tensor(image):
            out = out.to(image.dtype)
        else:
            out = np.asarray(out).astype(image.dtype, copy=False)
        return out, {"name": d.name, **params}

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    # -- composition and identity -------------------------------------------------------------

    def __add__(self, other: Degradation | str) -> Chain:
        return Chain([self, parse_spec(other)])

    def __radd__(self, other: str) -> Chain:
        return Chain([parse_spec(other), self])

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.spec == other.spec  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.spec))

    def __repr__(self) -> str:
        return f"parse_spec({self.spec!r})"

    @classmethod
    def _from_args(cls, step: str, argtext: str | None) -> Degradation:
        """Build from the text after ``name:`` (None when there is none)."""
        if argtext is None:
            return cls()
        kwargs: dict[str, str] = {}
        last: Param | None = None
        for i, token in enumerate(argtext.split(",")):
            t = token.strip()
            if not t:
                raise SpecError(f"empty argument in step {step!r}")
            if "=" in t:
                key, _, value = t.partition("=")
                if not key.strip():
                    raise SpecError(f"missing key before '=' in {t!r}")
                last = cls._param(_norm_key(key))
                if last.name in kwargs:
                    raise SpecError(f"{cls.name} {last.key} given twice in step {step!r}")
                kwargs[last.name] = value
            elif last is not None and last.kind in ("box", "path"):
                kwargs[last.name] += "," + t  # box=8,8,16,16: the comma continues the value
            elif i == 0 and cls.positional is not None:
                last = cls._param(cls.positional)
                kwargs[last.name] = t
            else:
                keys = ", ".join(p.key for p in cls.PARAMS) or "none"
                raise SpecError(
                    f"unexpected {t!r} in step {step!r}: use key=value (keys for {cls.name}: "
                    f"{keys})"
                )
        return cls(**kwargs)


@register_degradation
class Identity(Degradation):
    """Leaves the image as it is (a clean baseline in sweeps)."""

    name = "identity"
    aliases = ("none",)
    summary = "no degradation (a clean baseline)"
    example = "identity"

    def _apply(self, x: Any, p: dict[str, Any], ops: Ops) -> tuple[Any, dict[str, Any]]:
        return (x.clone() if ops.torch else x.copy()), p


class Chain(Degradation):
    """Degradations applied in order; ``params`` is ``{"name": "chain", "steps": [...]}``.

    Per-call overrides go to every step that has that parameter, e.g. ``chain(x, sigma=10)``.
    """

    name = "chain"

    def __init__(self, steps: Sequence[Degradation | str]) -> None:
        flat: list[Degradation] = []
        for s in steps:
            d = parse_spec(s)
            flat.extend(d.steps if isinstance(d, Chain) else [d])
        self.steps: tuple[Degradation, ...] = tuple(flat)
        self._values = {}
        self._explicit = set()

    @property
    def spec(self) -> str:
        return "+".join(s.spec for s in self.steps) or "identity"

    @property
    def config(self) -> dict[str, Any]:
        return {"steps": [s.config for s in self.steps]}

    def with_params(self, **overrides: Any) -> Chain:
        new = [s for s in self.steps]
        for key, value in overrides.items():
            k = _norm_key(key)
            hit = [i for i, s in enumerate(new) if any(p.name == k for p in s.PARAMS)]
            if not hit:
                raise SpecError(f"no step of {self.spec!r} has a parameter {key!r}")
            for i in hit:
                new[i] = new[i].with_params(**{k: value})
        return Chain(new)

    def __call__(
        self, image: Any, rng: np.random.Generator | int | None = None, **overrides: Any
    ) -> tuple[Any, dict[str, Any]]:
        d = self.with_params(**overrides) if overrides else self
        check_image(image)
        gen = as_generator(rng)
        x = image
        steps = []
        for s in d.steps:
            x, p = s(x, gen)
            steps.append(p)
        if x is image:
            x = x.clone() if is_tensor(x) else x.copy()
        return x, {"name": "chain", "steps": steps}


# ---------------------------------------------------------------------------------------------
# Parsing and the convenience API
# ---------------------------------------------------------------------------------------------


_MODULE_ORDER = ("noise", "mask", "jpeg", "resample")


def _ordered() -> list[type[Degradation]]:
    """Registered classes, built-ins in a reading order (noise, masks, jpeg, resample), then
    the rest in registration order."""

    def rank(c: type[Degradation]) -> int:
        mod = c.__module__.rsplit(".", 1)[-1]
        return _MODULE_ORDER.index(mod) if mod in _MODULE_ORDER else len(_MODULE_ORDER)

    return sorted(_ORDER, key=rank)


def _known() -> str:
    return ", ".join(c.name for c in _ordered())


def _parse_step(step: str) -> Degradation:
    name, colon, argtext = step.partition(":")
    key = _norm_name(name)
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, list(_REGISTRY), 1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(f"unknown step {name.strip()!r} (known: {_known()}){hint}")
    return _REGISTRY[key]._from_args(step, argtext if colon else None)


def parse_spec(spec: str | Degradation) -> Degradation:
    """Build a degradation from a spec string (see the module docstring for the grammar).

    A single step gives that degradation, several give a :class:`Chain`; a Degradation is
    returned as is. Any problem raises :class:`SpecError` naming the bad token.
    """
    if isinstance(spec, Degradation):
        return spec
    if not isinstance(spec, str):
        raise SpecError(f"a degradation spec must be a string, not {type(spec).__name__}")
    if not spec.strip():
        raise SpecError(f"empty degradation spec (known steps: {_known()})")
    steps = []
    for raw in spec.split("+"):
        step = raw.strip()
        try:
            if not step:
                raise SpecError("empty step (steps are joined by '+')")
            steps.append(_parse_step(step))
        except SpecError as exc:
            raise SpecError(f"bad degradation spec {spec!r}: {exc}") from None
    return steps[0] if len(steps) == 1 else Chain(steps)


def degrade(
    image: Any, spec: str | Degradation, seed: np.random.Generator | int | None = None
) -> tuple[Any, dict[str, Any]]:
    """Apply a spec string or degradation to ``image``: ``(degraded, params)``."""
    return parse_spec(spec)(image, seed)


@dataclass(frozen=True)
class ParamInfo:
    """One parameter, for help text."""

    key: str
    kind: str
    default: Any
    help: str
    expected: str


@dataclass(frozen=True)
class DegradationInfo:
    """One registered degradation, for help text; ``str()`` gives a one-line summary."""

    name: str
    aliases: tuple[str, ...]
    summary: str
    params: tuple[ParamInfo, ...]
    example: str
    main: str | None = None  # the key a bare first argument sets (gaussian:25 -> sigma)

    def __str__(self) -> str:
        keys = ", ".join(f"{p.key}={_fmt_default(p)}" for p in self.params)
        return f"{self.name}: {self.summary}" + (f" [{keys}]" if keys else "")


def _fmt_default(p: ParamInfo) -> str:
    d = p.default
    if d is None:
        return "?"
    if p.kind in ("choice", "path"):
        return str(d)
    if p.kind == "box":
        return ",".join(_fmt_box_num(t) for t in d)
    if p.kind == "size":
        return _fmt_box_num(d)
    return _fmt_num(d)


def list_degradations() -> list[DegradationInfo]:
    """Every registered degradation with its parameters and a one-line summary."""
    return [
        DegradationInfo(
            c.name,
            c.aliases,
            c.summary,
            tuple(ParamInfo(p.key, p.kind, p.default, p.help, p.expected()) for p in c.PARAMS),
            c.example or c.name,
            c.positional.replace("_", "-") if c.positional else None,
        )
        for c in _ordered()
    ]
