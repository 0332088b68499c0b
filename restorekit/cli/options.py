"""Parse repeatable ``--set key=value`` options into a config dict with typed values."""

from __future__ import annotations

from typing import Any

from restorekit.errors import RestorekitError


def parse_value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"none"`` -> None, else the text."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_options(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Turn ``["a=1", "b=x"]`` into ``{"a": 1, "b": "x"}``; a malformed item is an error."""
    config: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RestorekitError(f"bad option {item!r}: expected KEY=VALUE")
        config[key.strip().replace("-", "_")] = parse_value(value)
    return config
