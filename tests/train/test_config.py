"""Config loading (TOML/YAML), --set overrides with type coercion, paths, saving."""

from __future__ import annotations

from pathlib import Path

import pytest

from restorekit.errors import RestorekitError
from restorekit.train.config import (
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "restorekit/experiments/examples/dncnn_tiny.toml"

TOML = """
name = "demo"
[model]
name = "dncnn"
config = { depth = 5, channels = 16 }
[data]
root = "/data/train"
augment = ["flip"]
[train]
steps = 100
lr = 2e-4
betas = [0.9, 0.99]
schedule = "multistep"
schedule_options = { milestones = [50, 80], gamma = 0.5 }
"""

YAML = """
name: demo
model:
  name: dncnn
  config: {depth: 5, channels: 16}
data:
  root: /data/train
  augment: [flip]
train:
  steps: 100
  lr: 2e-4          # PyYAML reads this as a string (YAML 1.1); it is coerced to float
  betas: [0.9, 0.99]
  schedule: multistep
  schedule_options: {milestones: [50, 80], gamma: 0.5}
"""


def test_toml_and_yaml_give_the_same_config(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(TOML)
    (tmp_path / "a.yaml").write_text(YAML)
    a = load_config(tmp_path / "a.toml", resolve=False)
    b = load_config(tmp_path / "a.yaml", resolve=False)
    assert a == b
    assert a.train.lr == 2e-4 and isinstance(a.train.lr, float)
    assert a.model.config == {"depth": 5, "channels": 16}
    assert a.train.batch_size == 16  # default


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    (tmp_path / "my_run.toml").write_text("[train]\nsteps = 3\n")
    cfg = load_config(tmp_path / "my_run.toml")
    assert cfg.name == "my_run"
    assert cfg.out_dir == Path("runs/my_run")


def test_overrides_are_coerced_to_the_field_type() -> None:
    cfg = apply_overrides(ExperimentConfig(), [
        "train.lr=1e-4", "train.steps=2e3", "model.config.features=32", "data.augment=flip,rot90",
        "train.betas=[0.8, 0.9]", "data.length=none", "train.tensorboard=false",
        "data.patch_size=48", "model.name=rk-unet", "train.schedule_options.min_lr=1e-6",
        "model.config.channels=[8, 16]", "data.degradation=gaussian:sigma=50",
    ])
    assert cfg.train.lr == 1e-4 and isinstance(cfg.train.lr, float)
    assert cfg.train.steps == 2000 and isinstance(cfg.train.steps, int)
    assert cfg.model.config == {"features": 32, "channels": [8, 16]}
    assert cfg.data.augment == ["flip", "rot90"]
    assert cfg.train.betas == [0.8, 0.9]
    assert cfg.data.length is None
    assert cfg.train.tensorboard is False
    assert cfg.data.patch_size == 48
    assert cfg.model.name == "rk-unet"
    assert cfg.train.schedule_options == {"min_lr": 1e-6}
    assert cfg.data.degradation == "gaussian:sigma=50"


@pytest.mark.parametrize("text", ['{depth = 2, channels = [8, 16]}',  # TOML, as in the files
                                  '{"depth": 2, "channels": [8, 16]}',  # JSON
                                  "{depth: 2, channels: [8, 16]}"])     # YAML flow
def test_a_table_override_reads_in_toml_json_or_yaml(text: str) -> None:
    cfg = apply_overrides(ExperimentConfig(), [f"model.config={text}"])
    assert cfg.model.config == {"depth": 2, "channels": [8, 16]}


def test_a_table_yaml_would_misread_is_an_error_not_a_silent_key() -> None:
    with pytest.raises(RestorekitError, match="write a table as"):
        apply_overrides(ExperimentConfig(), ["model.config={depth=2, extra}"])


def test_unknown_keys_name_the_key_and_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(RestorekitError, match=r"train\.lrr.*did you mean 'lr'.*batch_size"):
        apply_overrides(ExperimentConfig(), ["train.lrr=1"])
    with pytest.raises(RestorekitError, match=r"'trian'.*valid keys: name, model, data, train"):
        apply_overrides(ExperimentConfig(), ["trian.lr=1"])
    (tmp_path / "bad.toml").write_text("[data]\nroot = 'x'\npatch = 3\n")
    with pytest.raises(RestorekitError, match=r"data\.patch.*patch_size"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(RestorekitError, match="unknown config key 'extra'"):
        config_from_dict({"extra": 1})


@pytest.mark.parametrize("override, message", [
    ("train.steps=ten", "train.steps: expected int"),
    ("train.steps=1.5", "train.steps: expected int"),
    ("train.lr=fast", "train.lr: expected float"),
    ("train.tensorboard=maybe", "expected bool"),
    ("train.lr", "expected KEY=VALUE"),
    ("train=3", "train is a value|train: expected"),
    ("train.lr.x=3", "is a value, not a section"),
])
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(RestorekitError, match=message):
        apply_overrides(ExperimentConfig(), [override])


def test_validate_rejects_unknown_choices(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[train]\noptimizer = 'lbfgs'\n")
    with pytest.raises(RestorekitError, match="train.optimizer must be one of"):
        load_config(tmp_path / "c.toml")
    (tmp_path / "c.toml").write_text("[train]\nschedule = 'exp'\n")
    with pytest.raises(RestorekitError, match="train.schedule must be one of"):
        load_config(tmp_path / "c.toml")


def test_paths_expand_restorekit_data_and_home(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "c.toml").write_text(
        "[data]\nroot = '${RESTOREKIT_DATA}/train400'\nval_root = '~/set12'\n"
        "extra_roots = ['${RESTOREKIT_DATA}/bsd200', '~/t91']\n"
        "[train]\nout_dir = '$MYRUNS/x'\n")
    monkeypatch.setenv("RESTOREKIT_DATA", "/srv/data")
    monkeypatch.setenv("MYRUNS", "/srv/runs")
    monkeypatch.setenv("HOME", "/home/me")
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.data.root == "/srv/data/train400"
    assert cfg.data.val_root == "/home/me/set12"
    assert cfg.data.extra_roots == ["/srv/data/bsd200", "/home/me/t91"]
    assert cfg.train.out_dir == "/srv/runs/x"
    # Unset: ../shared/data relative to the current directory.
    monkeypatch.delenv("RESTOREKIT_DATA")
    work = tmp_path / "checkout"
    work.mkdir()
    monkeypatch.chdir(work)
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.data.root == str(tmp_path.resolve() / "shared" / "data" / "train400")
    monkeypatch.delenv("MYRUNS")
    with pytest.raises(RestorekitError, match="MYRUNS"):
        load_config(tmp_path / "c.toml")


@pytest.mark.parametrize("fmt", ["toml", "yaml"])
def test_saved_config_loads_back_identically(tmp_path: Path, fmt: str) -> None:
    cfg = load_config(EXAMPLE, ["train.out_dir=/tmp/x", "data.length=none",
                                "model.config.channels=[8, 16]", "train.lr=3e-4"])
    path = save_config(cfg, tmp_path, fmt=fmt)
    assert path.name == f"config.{fmt}"
    again = load_config(path)
    assert config_to_dict(again) == config_to_dict(cfg)


def test_example_config_is_valid() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.name == "dncnn_tiny"
    assert cfg.model.name == "dncnn"
    assert cfg.train.schedule == "cosine"
    assert cfg.data.root.endswith("train400") and "$" not in cfg.data.root


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[train\n")
    with pytest.raises(RestorekitError, match="invalid TOML"):
        load_config(tmp_path / "c.toml")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(RestorekitError, match="toml, .yaml"):
        load_config(tmp_path / "c.json")
    with pytest.raises(RestorekitError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.yaml").write_text("model: [a\n")
    with pytest.raises(RestorekitError, match=r"invalid YAML at line 2, column 1: expected"
                       ) as exc:
        load_config(tmp_path / "bad.yaml")
    assert "\n" not in str(exc.value)
    (tmp_path / "empty.toml").write_text("")
    with pytest.raises(RestorekitError, match="the config sets nothing"):
        load_config(tmp_path / "empty.toml", allow_empty=False)
    assert load_config(tmp_path / "empty.toml", ["train.steps=3"],
                       allow_empty=False).train.steps == 3
    assert load_config(tmp_path / "empty.toml").train.steps == 1000  # every default


def test_every_shipped_training_config_loads_and_builds_its_net() -> None:
    """The recipes model cards point at stay runnable (experiment.toml files are the
    reproductions' own schema, read by ``restorekit reproduce``)."""
    from restorekit.restorers.base import build_net

    root = Path(__file__).resolve().parents[2] / "restorekit" / "experiments"
    configs = [p for p in sorted(root.rglob("*.toml")) if p.name != "experiment.toml"]
    assert len(configs) > 20
    for path in configs:
        cfg = load_config(path)
        build_net(cfg.model.name, **cfg.model.config)
        assert not (cfg.train.init_grow and cfg.train.init_partial), path


def test_docs_config_lists_every_key_with_its_default() -> None:
    """docs/config.md is the reference of config keys: one row per dataclass field, whose
    default column matches the code."""
    import dataclasses
    import re

    from restorekit.train.config import DataConfig, ModelConfig, TrainConfig

    text = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z0-9_.]+)` \| [a-z]+ \| ([^|]+) \|", text, re.M))
    for section, cls in (("model", ModelConfig), ("data", DataConfig), ("train", TrainConfig)):
        for f in dataclasses.fields(cls):
            key = f"{section}.{f.name}"
            assert key in rows, f"docs/config.md has no row for {key}"
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            shown = rows[key].strip().strip("`")
            if default is None:
                assert shown == "none", key
            elif isinstance(default, bool):
                assert shown == str(default).lower(), key
            elif isinstance(default, (dict, list)):
                assert shown == str(default).replace("'", '"'), key
            elif isinstance(default, str):
                assert shown == ('""' if default == "" else default), key
            else:
                assert float(shown) == float(default), key
    documented = {k for k in rows if "." in k}
    fields = {f"{s}.{f.name}" for s, c in (("model", ModelConfig), ("data", DataConfig),
                                            ("train", TrainConfig)) for f in dataclasses.fields(c)}
    assert documented == fields  # no row for a key that no longer exists
