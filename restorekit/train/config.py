"""Training configuration: plain dataclasses loaded from TOML or YAML, with ``--set`` overrides.

A config file has three sections, ``[model]``, ``[data]`` and ``[train]``, plus an optional
top-level ``name``; every key is a field below (an unknown key is an error naming the valid
ones). ``model.config`` and the ``*_options`` tables are free-form and go to the network, the
loss, the schedule or the dataset as keyword arguments.

Overrides use dotted keys and are coerced to the field's type: ``train.lr=1e-4``,
``data.augment=flip,rot`` (or ``[flip, rot]``), ``model.config.channels=32``.

Paths (``data.root``, ``data.val_root``, ``train.out_dir``) expand ``~`` and ``${VAR}``.
``RESTOREKIT_DATA`` defaults to ``../shared/data`` relative to the current directory when it is
not set, which is where the project's datasets live beside a checkout. The trainer writes the
resolved config (overrides applied, paths expanded) to ``out_dir/config.toml`` (``.yaml`` when
the source was YAML) with :func:`save_config`, so every run can be repeated with
``restorekit train out_dir/config.toml --set train.out_dir=NEW`` (or continued in place with
``--resume``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from restorekit.errors import RestorekitError

__all__ = ["ModelConfig", "DataConfig", "TrainConfig", "ExperimentConfig", "load_config",
           "config_from_dict", "config_to_dict", "apply_overrides", "save_config",
           "resolve_paths", "dump_toml", "data_dir"]

SCHEDULES = ("constant", "step", "multistep", "cosine", "plateau")
OPTIMIZERS = ("adam", "adamw", "sgd", "adadelta")
AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass
class ModelConfig:
    """Which registered network to train, and its constructor config."""

    name: str = "dncnn"
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Training and validation data, given to ``restorekit.data.make_dataset``.

    ``kind``/``root``/``split`` name the training source; ``val_*`` the validation source
    (``val_root`` empty = no validation; ``val_kind`` empty = same kind as training).
    ``extra_roots`` (folder kind only) are more folders whose images join ``root``'s for
    training: one pool, each image picked equally often.
    ``degradation`` is a spec string such as ``"gaussian:sigma=0-50"``; ``val_degradation``
    defaults to it. ``length`` overrides the number of training samples per epoch,
    ``val_length`` caps the number of validation images. ``options`` go to both datasets.
    ``licence`` is the training data's licence for the model card; empty = what the README.md
    beside each training folder states (:mod:`restorekit.data.licence`).
    """

    kind: str = "folder"
    root: str = "${RESTOREKIT_DATA}/train400"
    extra_roots: list[str] = field(default_factory=list)
    split: str = "train"
    val_kind: str = ""
    val_root: str = ""
    val_split: str = "test"
    patch_size: int = 64
    degradation: str = "gaussian:sigma=25"
    val_degradation: str = ""
    color: str = "gray"
    augment: list[str] = field(default_factory=list)
    workers: int = 0
    length: int | None = None
    val_length: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    licence: str = ""

    @property
    def train_roots(self) -> list[str]:
        """``root`` followed by ``extra_roots``: every folder of the training pool."""
        return [self.root, *self.extra_roots]


@dataclass
class TrainConfig:
    """Optimisation, schedule, logging and output settings; all counts are optimizer steps.

    ``batch_size`` is the global batch (split across processes under DDP). ``schedule`` is one
    of constant, step (``step_size``, ``gamma``), multistep (``milestones``, ``gamma``), cosine
    (``min_lr``) or plateau (``factor``, ``patience``, ``min_lr``; driven by validation PSNR),
    each after ``warmup`` linear warm-up steps. ``grad_clip`` is a max gradient norm (0 = off).
    ``l2_penalty`` adds ``lambda * sum(w**2)`` over weight matrices/kernels to the loss (the
    CNN-LSTM paper's "RMSE + L2"); ``weight_decay`` is the optimizer's own. ``amp``: auto = bf16
    (else fp16) on CUDA and float32 elsewhere; bf16/fp16 force autocast on CUDA or CPU.
    ``ema`` is an EMA decay of the weights (0 = off) used for validation and export.
    ``val_interval``/``checkpoint_interval`` of 0 mean "only at the end". ``out_dir`` empty =
    ``runs/<name>``. ``threads`` sets torch's CPU threads for the process (0 = torch's default).
    ``init_weights`` starts a fresh run from trained weights (a ``.safetensors`` file or a
    shipped model's name) instead of a random init: fine-tuning; a resumed run ignores it.
    ``init_grow`` loads ``init_weights`` of a smaller net of the same family into this larger
    one, keeping its function (rk-unet and EDSR: more blocks, more channels, biases; see
    ``restorekit.nets.grow``). ``init_partial`` loads only the tensors of ``init_weights``
    whose name and shape match and keeps the random init for the rest (transfer from another
    task or scale: an EDSR body trained at x3 starting x4, as Lim et al. 2017 start x3 and x4
    from x2).
    """

    steps: int = 1000
    batch_size: int = 16
    seed: int = 0
    optimizer: str = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.9
    weight_decay: float = 0.0
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    loss: str = "mse"
    loss_options: dict[str, Any] = field(default_factory=dict)
    l2_penalty: float = 0.0
    schedule: str = "constant"
    schedule_options: dict[str, Any] = field(default_factory=dict)
    warmup: int = 0
    grad_clip: float = 0.0
    val_interval: int = 500
    checkpoint_interval: int = 500
    log_interval: int = 10
    out_dir: str = ""
    device: str = "auto"
    amp: str = "auto"
    ema: float = 0.0
    tensorboard: bool = True
    threads: int = 0
    init_weights: str = ""
    init_grow: bool = False
    init_partial: bool = False


@dataclass
class ExperimentConfig:
    """One training run: ``name`` plus the model, data and train sections."""

    name: str = "experiment"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    description: str = ""

    @property
    def out_dir(self) -> Path:
        """Where checkpoints, logs, the resolved config and the exported weights go."""
        return Path(self.train.out_dir or f"runs/{self.name}")

    def validate(self) -> None:
        """Check values the types alone cannot (choices, ranges); raise RestorekitError."""
        t = self.train
        checks = [
            (t.optimizer.lower() in OPTIMIZERS, f"train.optimizer must be one of {OPTIMIZERS}"),
            (t.schedule.lower() in SCHEDULES, f"train.schedule must be one of {SCHEDULES}"),
            (t.amp.lower() in AMP_MODES, f"train.amp must be one of {AMP_MODES}"),
            (t.steps >= 1, "train.steps must be >= 1"),
            (t.batch_size >= 1, "train.batch_size must be >= 1"),
            (t.lr > 0, "train.lr must be > 0"),
            (0.0 <= t.ema < 1.0, "train.ema must be in [0, 1)"),
            (min(t.warmup, t.grad_clip, t.weight_decay, t.l2_penalty) >= 0,
             "train.warmup, grad_clip, weight_decay and l2_penalty must be >= 0"),
            (min(t.val_interval, t.checkpoint_interval) >= 0 and t.log_interval >= 1,
             "intervals must be >= 0 (log_interval >= 1)"),
            (self.data.workers >= 0 and t.threads >= 0,
             "data.workers and train.threads must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise RestorekitError(message)


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}
_PATH_FIELDS = {("data", "root"), ("data", "extra_roots"), ("data", "val_root"),
                ("train", "out_dir")}


# --------------------------------------------------------------------------- type coercion


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def parse_literal(text: str) -> Any:
    """A ``--set`` value without a known type: number, bool, none, a list or table (JSON, TOML
    inline ``{a = 1}``, or YAML flow ``{a: 1}``, ``[flip, rot]``), else the text."""
    s = text.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    if s[:1] in "[{":
        try:
            return json.loads(s)
        except json.JSONDecodeError:
            pass
        tomllib = _tomllib()
        try:  # the config files' own syntax: {num_blocks = 2}
            return tomllib.loads(f"v = {s}")["v"]
        except tomllib.TOMLDecodeError:
            pass
        import yaml  # flow style is forgiving: [flip, rot], {a: 1}

        try:
            value = yaml.safe_load(s)
        except yaml.YAMLError:
            return text
        if isinstance(value, dict) and any(v is None and "=" in str(k) for k, v in value.items()):
            raise RestorekitError(f"cannot read {text!r}: write a table as {{key = value}} "
                                  "(TOML) or {\"key\": value} (JSON)")
        return value
    return text


def _tomllib() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` (from a file or a ``--set`` string) to the annotated type ``tp``."""
    optional, inner = _is_optional(tp)
    if value is None or (optional and isinstance(value, str)
                         and value.strip().lower() in ("none", "null", "")):
        if optional:
            return None
        raise RestorekitError(f"{key}: a value is required (got none)")
    tp = inner
    origin = typing.get_origin(tp)
    bad = RestorekitError(f"{key}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
    if tp is Any:
        return parse_literal(value) if isinstance(value, str) else value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in (
                "true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.strip().lower() in ("true", "yes", "on", "1")
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        try:
            number = float(value) if isinstance(value, (str, float)) else math.nan
        except ValueError:
            raise bad from None
        if math.isfinite(number) and number.is_integer():
            return int(number)
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad from None
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise bad
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            parsed = parse_literal(value) if value.strip()[:1] == "[" else None
            if isinstance(parsed, list):
                value = parsed
            else:
                value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad
        return [coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if isinstance(value, str):
            value = parse_literal(value)
        if not isinstance(value, dict):
            raise RestorekitError(f"{key}: expected a table of options, got {value!r}")
        return dict(value)
    raise bad  # pragma: no cover - every field type is handled above


# --------------------------------------------------------------------------- dict <-> dataclass


def _unknown(key: str, valid: list[str]) -> RestorekitError:
    import difflib

    name = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return RestorekitError(f"unknown config key {key!r}{hint}; valid keys: {', '.join(valid)}")


def _section_from_dict(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise RestorekitError(f"[{prefix}] must be a table, got {type(data).__name__}")
    hints = _hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            raise _unknown(f"{prefix}.{key}", valid)
        kwargs[key] = coerce(value, hints[key], f"{prefix}.{key}")
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any], *, name: str | None = None) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from a nested dict (as read from TOML or YAML)."""
    if not isinstance(data, dict):
        raise RestorekitError("a config must be a table/mapping at the top level")
    valid = [f.name for f in dataclasses.fields(ExperimentConfig)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            kwargs[key] = _section_from_dict(_SECTIONS[key], value or {}, key)
        elif key in ("name", "description"):
            kwargs[key] = coerce(value, str, key)
        else:
            raise _unknown(key, valid)
    if name and "name" not in kwargs:
        kwargs["name"] = name
    return ExperimentConfig(**kwargs)


def config_to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """The config as a plain nested dict (what :func:`config_from_dict` reads back)."""
    return dataclasses.asdict(config)


# --------------------------------------------------------------------------- overrides


def apply_overrides(config: ExperimentConfig, overrides: list[str] | tuple[str, ...]
                    ) -> ExperimentConfig:
    """Apply ``key=value`` overrides (dotted keys) in place and return ``config``."""
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise RestorekitError(f"bad override {item!r}: expected KEY=VALUE, e.g. train.lr=1e-4")
        parts = key.split(".")
        target: Any = config
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if dataclasses.is_dataclass(target):
                hints = _hints(type(target))
                if part not in hints:
                    raise _unknown(where, [f.name for f in dataclasses.fields(target)])
                if last:
                    setattr(target, part, coerce(text, hints[part], where))
                else:
                    target = getattr(target, part)
                    if not (dataclasses.is_dataclass(target) or isinstance(target, dict)):
                        raise RestorekitError(f"{where} is a value, not a section; "
                                              f"use --set {where}=VALUE")
            elif isinstance(target, dict):  # free-form tables: model.config, *_options
                if last:
                    old = target.get(part)
                    new = parse_literal(text)
                    if isinstance(old, float) and isinstance(new, int) and not isinstance(
                            new, bool):
                        new = float(new)
                    target[part] = new
                else:
                    target = target.setdefault(part, {})
                    if not isinstance(target, dict):
                        raise RestorekitError(f"{where} is a value, not a table")
    return config


# --------------------------------------------------------------------------- paths


def data_dir() -> str:
    """``$RESTOREKIT_DATA``, or ``../shared/data`` relative to the current directory."""
    env = os.environ.get("RESTOREKIT_DATA")
    return env if env else str((Path.cwd().parent / "shared" / "data").resolve())


_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def expand_path(text: str) -> str:
    """Expand ``${VAR}``/``$VAR`` (``RESTOREKIT_DATA`` has a default) and a leading ``~``."""
    if not text:
        return text

    def sub(m: re.Match[str]) -> str:
        var = m.group(1) or m.group(2)
        if var == "RESTOREKIT_DATA":
            return data_dir()
        if var not in os.environ:
            raise RestorekitError(f"path {text!r} uses ${{{var}}}, which is not set")
        return os.environ[var]

    return os.path.expanduser(_VAR.sub(sub, text))


def resolve_paths(config: ExperimentConfig) -> ExperimentConfig:
    """Expand the path fields in place (and fill ``train.out_dir``); return ``config``."""
    for section, key in _PATH_FIELDS:
        obj = getattr(config, section)
        value = getattr(obj, key)
        setattr(obj, key, [expand_path(v) for v in value] if isinstance(value, list)
                else expand_path(value))
    if not config.train.out_dir:
        config.train.out_dir = str(config.out_dir)
    return config


# --------------------------------------------------------------------------- files


def _read(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RestorekitError(f"cannot read config {path}: {exc.strerror or exc}") from None
    if suffix == ".toml":
        tomllib = _tomllib()
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RestorekitError(f"{path}: invalid TOML: {exc}") from None
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise RestorekitError(f"{path}: invalid YAML{where}: {what}") from None
        return data or {}
    raise RestorekitError(f"{path}: config files are .toml, .yaml or .yml")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = (), *,
                resolve: bool = True, allow_empty: bool = True) -> ExperimentConfig:
    """Read a TOML/YAML config, apply ``--set`` overrides, expand paths and validate it.

    ``allow_empty=False`` refuses a file that sets nothing when no override does either
    (training every default at once is never what was meant)."""
    path = Path(path)
    data = _read(path)
    if not (data or overrides or allow_empty):
        raise RestorekitError(f"{path}: the config sets nothing; a run needs its [model], "
                              "[data] and [train] choices (examples: "
                              "restorekit/experiments/examples/)")
    config = config_from_dict(data, name=path.stem)
    apply_overrides(config, overrides)
    if resolve:
        resolve_paths(config)
    config.validate()
    return config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()
                 if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise RestorekitError(f"cannot write {type(value).__name__} value {value!r} to TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def dump_toml(data: dict[str, Any]) -> str:
    """Write a two-level dict (scalars, then one table per section) as TOML; ``None`` is
    omitted (TOML has no null; every ``None`` field defaults to ``None`` on reading)."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items()
             if not isinstance(v, dict) and v is not None]
    for section, table in data.items():
        if not isinstance(table, dict):
            continue
        lines += ["", f"[{_toml_key(section)}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()
                  if v is not None]
    return "\n".join(lines) + "\n"


def save_config(config: ExperimentConfig, out_dir: str | Path | None = None, *,
                fmt: str = "toml") -> Path:
    """Write the resolved config to ``out_dir/config.toml`` (or ``.yaml``) atomically."""
    from restorekit.atomic import atomic_write_text

    folder = Path(out_dir) if out_dir is not None else config.out_dir
    folder.mkdir(parents=True, exist_ok=True)
    data = config_to_dict(config)
    if fmt == "yaml":
        import yaml

        return atomic_write_text(folder / "config.yaml", yaml.safe_dump(data, sort_keys=False))
    return atomic_write_text(folder / "config.toml", dump_toml(data))
