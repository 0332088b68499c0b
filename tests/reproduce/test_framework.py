"""The reproduce framework: experiment registry, report writing, the CLI's --list and errors."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import restorekit.reproduce as repro
from restorekit.cli.reproduce import reproduce_command
from restorekit.errors import RestorekitError, UnknownNameError
from restorekit.reproduce import Experiment, Report, ReproContext


@pytest.fixture
def toy_experiment(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register a tiny experiment module that writes a table and a figure."""

    def run(ctx: ReproContext) -> Report:
        from restorekit.evaluate.figures import comparison_grid
        from restorekit.io import write_image

        report = Report()
        report.heading("Result")
        report.table([{"budget": ctx.budget, "value": ctx.pick(1.0, 2.0)}], digits=1)
        fig = ctx.figures / "grid.png"
        write_image(fig, comparison_grid([[np.zeros((8, 8), np.float32)] * 2]))
        report.figure(fig, "a grid", relative_to=ctx.out)
        return report

    module = types.ModuleType("restorekit_toy_experiment")
    module.EXPERIMENT = Experiment(name="toy", title="Toy experiment", paper="Nobody (2026)",
                                   claim="toys work", run=run)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(repro.EXPERIMENT_MODULES, "toy", module.__name__)
    real = repro._module_exists
    monkeypatch.setattr(repro, "_module_exists", lambda name: name in sys.modules or real(name))
    return "toy"


def test_run_writes_report_with_command_and_figures(toy_experiment: str, tmp_path: Path) -> None:
    path = repro.run_experiment(toy_experiment, budget="full", out=tmp_path, quiet=True)
    text = path.read_text()
    assert path == tmp_path / "toy.md"
    assert text.startswith("# Toy experiment")
    assert "`restorekit reproduce toy --budget full --seed 0 --out" in text
    assert "| full | 2.0 |" in text
    assert "![a grid](toy/grid.png)" in text and (tmp_path / "toy" / "grid.png").is_file()


def test_unknown_experiment_and_budget(toy_experiment: str, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'toy'"):
        repro.get_experiment("toyy")
    with pytest.raises(RestorekitError, match="budget must be one of"):
        repro.run_experiment("toy", budget="huge", out=tmp_path)  # type: ignore[arg-type]


def test_cli_lists_experiments(toy_experiment: str) -> None:
    result = CliRunner().invoke(reproduce_command, ["--list"])
    assert result.exit_code == 0 and "toy" in result.output and "Toy experiment" in result.output
    result = CliRunner().invoke(reproduce_command, [])
    assert result.exit_code != 0 and "--list" in result.output


def test_set_overrides_every_training_config_and_gets_its_own_work_folder(
        tmp_path: Path) -> None:
    config = Path(repro.__file__).parents[1] / "experiments" / "examples" / "dncnn_tiny.toml"
    plain = ReproContext.create("toy", budget="quick", out=tmp_path, seed=0, device="cpu",
                                quiet=True, data_root=tmp_path)
    ctx = ReproContext.create("toy", budget="quick", out=tmp_path, seed=0, device="cpu",
                              quiet=True, data_root=tmp_path,
                              overrides=["train.lr=0.5", "train.steps=7"])
    assert plain.load_config(config, ["train.steps=5"], resolve=False).train.steps == 5
    cfg = ctx.load_config(config, ["train.steps=5"], resolve=False)
    assert (cfg.train.steps, cfg.train.lr) == (7, 0.5)  # the user's --set comes last
    assert ctx.work != plain.work and ctx.work.parent == plain.work.parent
    threads = ReproContext.create("toy", budget="quick", out=tmp_path, seed=0, device="cpu",
                                  quiet=True, data_root=tmp_path,
                                  overrides=["train.threads=1"])
    assert threads.work == plain.work  # a speed-only override reuses the same runs
    for bad, message in [("train.nope=1", "unknown config key"), ("train.steps", "KEY=VALUE"),
                         ("train.steps=abc", "expected int")]:
        out = tmp_path / "bad"
        with pytest.raises(RestorekitError, match=message):  # before any folder is made
            ReproContext.create("toy", budget="quick", out=out, seed=0, device="cpu",
                                quiet=True, data_root=tmp_path, overrides=[bad])
        assert not out.exists()


def test_cli_records_set_in_the_regenerate_command(toy_experiment: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(reproduce_command, [toy_experiment, "--out", str(tmp_path),
                                                    "--set", "train.lr=0.5"])
    assert result.exit_code == 0, result.output
    assert "--set train.lr=0.5" in (tmp_path / "toy.md").read_text()


def test_every_experiment_that_trains_tells_a_stopped_run_how_to_continue() -> None:
    """reproduce has no --resume: each experiment's trainer is given RESUME_HINT."""
    root = Path(__file__).resolve().parents[2] / "restorekit" / "reproduce"
    for path in sorted(root.glob("*.py")):
        text = path.read_text()
        if "train(config" in text or ("Trainer" in text and "resume=" in text):
            assert "RESUME_HINT" in text, path.name
