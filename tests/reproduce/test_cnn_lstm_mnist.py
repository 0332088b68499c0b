"""The cnn-lstm-mnist reproduction: plan, metrics, and a seconds-long smoke run on tiny budgets."""

from __future__ import annotations

import re

import numpy as np
import pytest

from restorekit.errors import RestorekitError
from restorekit.reproduce import cnn_lstm_mnist as exp
from restorekit.reproduce import get_experiment, list_experiments
from restorekit.reproduce.context import ReproContext


def test_registered() -> None:
    assert "cnn-lstm-mnist" in list_experiments()
    experiment = get_experiment("cnn-lstm-mnist")
    assert experiment.name == "cnn-lstm-mnist" and "Haque" in experiment.paper


@pytest.mark.parametrize("budget", ["quick", "full"])
def test_plans_load_and_configs_exist(budget: str) -> None:
    from restorekit.train import load_config

    plan = exp.load_plan(budget)
    assert plan.budget.steps >= 1
    for noise, names in plan.budget.plan.items():
        assert set(exp.MAIN_PAIR) <= set(names)
        assert exp._mask_of(plan.noises[noise]["spec"])[14:].all()  # lower 14 rows missing
        assert not exp._mask_of(plan.noises[noise]["spec"])[:14].any()
        for name in names:
            run = plan.runs[name]
            cfg = load_config(exp.CONFIG_DIR / run["config"], run.get("set", []))
            assert cfg.train.batch_size == 100 and cfg.train.loss == "rmse"
            assert cfg.train.l2_penalty > 0 and cfg.data.split == "all-train"


def test_budgets_train_every_net_equally_and_define_both_noises() -> None:
    quick, full = exp.load_plan("quick"), exp.load_plan("full")
    assert list(quick.budget.plan) == ["salt-pepper"]
    assert set(full.budget.plan) == {"salt-pepper", "white"}
    assert quick.budget.steps < full.budget.steps
    assert {"rk-unet", "cnn-lstm-adadelta"} <= set(full.budget.plan["salt-pepper"])


def test_bad_plan_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "experiment.toml"
    bad.write_text('[noises.a]\nspec = "mask:lower-half"\n[runs.cnn-lstm]\nconfig = "x"\n'
                   '[budgets.quick]\nsteps = 1\ntest_images = 1\nclassifier_epochs = 1\n'
                   'throughput_rounds = 1\ngrid_digits = 1\nplan = { a = ["cnn-lstm"] }\n')
    with pytest.raises(RestorekitError, match="needs the runs"):
        exp.load_plan("quick", bad)
    with pytest.raises(RestorekitError, match="no budget 'full'"):
        exp.load_plan("full", bad)
    with pytest.raises(RestorekitError, match="bad"):
        exp.load_plan("quick", bad, unknown_field=3)


def test_region_metrics_separate_the_missing_half() -> None:
    ref = np.zeros((2, 28, 28), np.float32)
    out = ref.copy()
    mask = np.zeros((28, 28), bool)
    mask[14:] = True
    out[:, 14:] = 0.1  # error only in the missing half
    row, per_image = exp.summarise(out, ref, mask)
    assert row["mse_missing"] == pytest.approx(0.01)
    assert row["mse_whole"] == pytest.approx(0.005)
    assert row["psnr_missing"] == pytest.approx(20.0)
    assert row["psnr_known"] == pytest.approx(100.0)  # exact: capped
    np.testing.assert_allclose(per_image, [20.0, 20.0])


def test_input_dependence_is_zero_for_one_image_and_one_for_the_originals(rng) -> None:
    ref = rng.random((5, 28, 28)).astype(np.float32)
    assert exp.input_dependence(ref, ref) == pytest.approx(1.0)
    assert exp.input_dependence(np.repeat(ref.mean(0, keepdims=True), 5, 0), ref) == \
        pytest.approx(0.0, abs=1e-6)


def test_paired_difference() -> None:
    d = exp.paired_difference(np.array([2.0, 3.0, 4.0, 5.0]), np.array([1.0, 1.0, 1.0, 1.0]))
    assert d["mean"] == pytest.approx(2.5) and d["ci_low"] > 0 and d["wins"] == 100.0


def test_tiny_run_writes_report_and_figures(dataset, tmp_path) -> None:
    dataset("mnist")
    ctx = ReproContext.create("cnn-lstm-mnist", budget="quick", out=tmp_path, seed=0,
                              device="cpu", quiet=True, data_root=dataset("mnist").parent)
    tiny = exp.Budget(steps=2, test_images=30, classifier_epochs=1, throughput_rounds=1,
                      grid_digits=3, classifier_limit=300, val_length=4,
                      plan={"salt-pepper": ["cnn-lstm", "cnn-cnn", "cnn-lstm-adadelta"]})
    report = exp.run(ctx, budget=tiny)
    path = report.write(tmp_path / "cnn-lstm-mnist.md")
    text = path.read_text()
    for needle in ("## Verdict", "Training time", "Adam versus Adadelta", "CNN-LSTM",
                   "CNN-CNN", "corrupted input", "PSNR missing (dB)"):
        assert needle in text
    for png in ("grid-salt-pepper.png", "loss-salt-pepper.png",
                "optimizers-salt-pepper-cnn-lstm.png"):
        assert (tmp_path / "cnn-lstm-mnist" / png).stat().st_size > 1000
        assert f"cnn-lstm-mnist/{png}" in text
    # the corrupted input's missing half is black: its PSNR there is far below the known half
    row = re.search(r"\| corrupted input \| ([\d.]+) \|", text)
    assert row is not None and float(row.group(1)) < 15
    runs = tmp_path / "cnn-lstm-mnist" / "runs" / "quick-2steps-seed0" / "salt-pepper"
    assert (runs / "cnn-lstm" / "log.csv").is_file()
    # a second run reuses the finished training runs and measures the same numbers
    again = exp.run(ctx, budget=tiny).render()
    strip = re.compile(r"\| ours: (wall|s/iteration|500k).*")
    assert strip.sub("", again).split("## Training time")[0] == \
        strip.sub("", report.render()).split("## Training time")[0]


def test_thought_saturation_sees_a_saturated_encoder(rng) -> None:
    import torch

    from restorekit.restorers.base import build_net

    torch.manual_seed(0)
    net = build_net("cnn-lstm")
    images = rng.random((8, 28, 28)).astype(np.float32)
    fresh = exp.thought_saturation(net, images)
    with torch.no_grad():
        net.encoder.fc.bias.fill_(10.0)  # tanh(>> 1): every entry at the limit
    assert fresh < 50 and exp.thought_saturation(net, images) == pytest.approx(100.0)
    assert net.training  # the mode is restored


def _result(label: str, spread: float, saturation: float) -> exp.RunResult:
    return exp.RunResult(name="cnn-lstm", label=label, steps=1, wall=1.0, log=[],
                         restored=np.zeros((1, 28, 28)),
                         metrics={"spread": spread, "thought_saturation": saturation})


def test_collapse_notes_tell_a_mean_digit_from_a_saturated_code() -> None:
    mean_digit = exp._collapse_notes("s&p", _result("plain", 0.0, 100.0))
    assert len(mean_digit) == 2 and "mean digit" in mean_digit[0]
    reads_rows = exp._collapse_notes("s&p", _result("residual", 0.6, 100.0))
    assert len(reads_rows) == 1 and "mean digit" not in reads_rows[0]
    assert "corrupted rows" in reads_rows[0]
    assert exp._collapse_notes("s&p", _result("healthy", 0.6, 10.0)) == []


def test_full_plan_runs_the_plain_stacking_ablation() -> None:
    from restorekit.train import load_config

    plan = exp.load_plan("full")
    assert "cnn-lstm-plain" in plan.budget.plan["salt-pepper"]
    main = load_config(exp.CONFIG_DIR / plan.runs["cnn-lstm"]["config"])
    plain = plan.runs["cnn-lstm-plain"]
    ablation = load_config(exp.CONFIG_DIR / plain["config"], plain["set"])
    assert main.model.config["residual"] is True and ablation.model.config["residual"] is False


def test_a_baseline_still_drawing_the_mean_digit_leaves_the_claim_untested() -> None:
    def run(name: str, spread: float) -> exp.RunResult:
        return exp.RunResult(name, name, 1, 0.0, [], np.zeros((1, 28, 28)),
                             metrics={"spread": spread})

    results = {"salt-pepper": {"cnn-cnn": run("cnn-cnn", 0.001)},
               "white": {"cnn-cnn": run("cnn-cnn", 0.3)}}
    assert exp._collapsed_baselines(results) == ["salt-pepper"]
    assert exp._collapse_notes("salt-pepper", results["salt-pepper"]["cnn-cnn"])


def test_a_failure_against_a_baseline_that_learnt_outweighs_an_untested_condition() -> None:
    word, why = exp._claim({"salt-pepper": True, "white": False}, ["salt-pepper"])
    assert word == "**does not hold**" and "in white" in why
    word, why = exp._claim({"salt-pepper": True, "white": True}, ["white"])
    assert word == "is **not tested**" and "mean digit in white" in why
    word, why = exp._claim({"salt-pepper": True, "white": True}, [])
    assert word == "**holds**" and "(salt-pepper, white)" in why
