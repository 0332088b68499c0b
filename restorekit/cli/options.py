"""Options several commands share: ``--format`` for tables, ``--crop-border``, and the
repeatable ``--set key=value`` options parsed into a config dict with typed values."""

from __future__ import annotations

from typing import Any

import click

from restorekit.errors import RestorekitError
from restorekit.evaluate.tables import FORMATS

table_format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
    help="How to print the results.")

crop_border_option = click.option(
    "--crop-border", type=click.IntRange(min=0), default=0, show_default=True,
    help="Pixels left out at each border when measuring (SR papers: the scale).")


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
