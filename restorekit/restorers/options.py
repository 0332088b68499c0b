"""Check a classical method's options against its constructor before they reach the filter.

Options come from the command line (``--set patch_size=-3``) and go to scikit-image, SciPy or
BM3D code that does not check them: a negative patch size corrupts memory inside
scikit-image's compiled non-local means. So every option is checked here against the keyword
parameters and type hints of the method's ``__init__``: the name must exist, the value must
have the hinted type (an int is accepted for a float), and numbers must be finite and >= 0
(no classical option here is meaningfully negative). Methods add their own tighter bounds.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from restorekit.errors import RestorekitError

__all__ = ["check_options", "require_at_least"]

_NAMES = {int: "an integer", float: "a number", str: "a text", bool: "true or false",
          type(None): "none"}


def _allowed(hint: Any) -> tuple[type, ...]:
    """The plain types a hint admits (``int | None`` -> (int, NoneType)); () = anything."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(t for a in typing.get_args(hint) for t in _allowed(a))
    if typing.get_origin(hint) is typing.Literal:
        return (str,)
    return (hint,) if hint in _NAMES else ()


def _fits(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int):
        return int in allowed or float in allowed
    return any(isinstance(value, t) for t in allowed if t is not bool)


def check_options(method: str, factory: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Raise one clear :class:`RestorekitError` for an option ``factory`` cannot take."""
    init = factory.__init__ if inspect.isclass(factory) else factory
    params = {p.name for p in inspect.signature(init).parameters.values()
              if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"}
    hints = typing.get_type_hints(init)
    for key, value in options.items():
        if key not in params:
            raise RestorekitError(f"{method} has no option {key!r} (its options: "
                                  f"{', '.join(sorted(params)) or 'none'})")
        allowed = _allowed(hints.get(key))
        if allowed and not _fits(value, allowed):
            wanted = " or ".join(dict.fromkeys(_NAMES[t] for t in allowed))
            raise RestorekitError(f"{method}: {key} must be {wanted}, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not (
                math.isfinite(value) and value >= 0):
            raise RestorekitError(f"{method}: {key} must be a finite number >= 0, got {value!r}")


def require_at_least(method: str, **values: tuple[Any, float]) -> None:
    """``name=(value, minimum)``: raise unless each value given (not None) is >= its minimum."""
    for key, (value, low) in values.items():
        if value is not None and value < low:
            raise RestorekitError(f"{method}: {key} must be >= {low:g}, got {value!r}")
