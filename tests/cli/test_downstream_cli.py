"""``restorekit downstream`` through click's CliRunner (on the command object itself).

Bad input surfaces as the RestorekitError that ``restorekit.cli.main`` turns into one line on
stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from restorekit.cli.downstream import COMMANDS, downstream_command
from restorekit.cli.state import CliState
from restorekit.errors import RestorekitError, SpecError

torch.set_num_threads(1)


def _run(args: list[str]):  # noqa: ANN202 - test helper
    return CliRunner().invoke(downstream_command, args, obj=CliState(quiet=True),
                              catch_exceptions=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """MNIST root, a classifier trained on 500 clean digits and an (untrained) mnist-dae."""
    base = Path(os.environ.get("RESTOREKIT_DATA") or Path(__file__).resolve().parents[2].parent
                / "shared" / "data")
    root = base / "mnist"
    if not root.is_dir():
        pytest.skip(f"dataset 'mnist' not found under {base} (set RESTOREKIT_DATA)")
    from restorekit.data.mnist import load_mnist
    from restorekit.evaluate.downstream import save_classifier, train_classifier
    from restorekit.nets.autoencoder import MnistDAE
    from restorekit.weights import save_weights

    tmp = tmp_path_factory.mktemp("downstream")
    x, y = load_mnist(root, "train")
    model, _ = train_classifier(x[:500].astype(np.float32) / 255, y[:500], epochs=1, seed=0)
    clf = save_classifier(model, tmp / "clf.safetensors")
    torch.manual_seed(0)
    dae = save_weights(MnistDAE(), tmp / "dae.safetensors", arch="mnist-dae",
                       config={"features": [32, 64]})
    return root, clf, dae, tmp


def test_exported() -> None:
    assert [c.name for c in COMMANDS] == ["downstream"]


def test_json_table_with_classical_method(setup) -> None:  # noqa: ANN001
    root, clf, _, _ = setup
    res = _run(["--mnist", str(root), "--classifier", str(clf), "--limit", "60",
                "-d", "gaussian:sigma=200", "-d", "gaussian:sigma=10", "--method", "median",
                "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["degradation"] for r in rows] == ["gaussian:sigma=200", "gaussian:sigma=10"]
    for r in rows:
        assert r["method"] == "median" and r["n"] == 60
        assert all(0 <= r[k] <= 100 for k in ("clean", "degraded", "restored"))
    assert rows[0]["clean"] == rows[1]["clean"]
    assert rows[0]["degraded"] < rows[1]["degraded"]  # more noise, fewer correct


def test_weights_card_transfer_and_output(setup) -> None:  # noqa: ANN001
    root, clf, dae, tmp = setup
    out = tmp / "result.md"
    res = _run(["--mnist", str(root), "--classifier", str(clf), "--limit", "40",
                "--weights", str(dae), "--transfer", "--transfer-train", "64",
                "--transfer-epochs", "2", "--format", "md", "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "| mnist-dae |" in text
    assert "Representation transfer" in text
    assert "encoder_init_acc" in text and text.count("\n| 2 |") == 1


def test_bad_inputs_are_clear_errors(setup, tmp_path: Path) -> None:  # noqa: ANN001
    root, clf, dae, _ = setup
    res = _run(["--mnist", str(root), "--classifier", str(clf), "-d", "gaussian:sigma=oops"])
    assert isinstance(res.exception, SpecError)
    res = _run(["--mnist", str(root), "--classifier", str(clf), "--method", "median",
                "--transfer"])
    assert isinstance(res.exception, RestorekitError) and "network" in str(res.exception)
    res = _run(["--mnist", str(tmp_path / "nowhere"), "--classifier", str(clf),
                "--method", "median"])
    assert isinstance(res.exception, RestorekitError)
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"not weights")
    res = _run(["--mnist", str(root), "--classifier", str(bad), "--method", "median"])
    assert isinstance(res.exception, RestorekitError)
    before = Path(clf).read_bytes()
    res = _run(["--mnist", str(root), "--classifier", str(clf), "--method", "median",
                "--limit", "5", "-o", str(clf)])
    assert isinstance(res.exception, RestorekitError) and "overwrite" in str(res.exception)
    assert Path(clf).read_bytes() == before
    res = _run(["--mnist", str(root), "--classifier", str(clf), "--method", "median",
                "--limit", "5", "-o", str(tmp_path / "missing" / "x.json")])
    assert isinstance(res.exception, RestorekitError)
    assert not (tmp_path / "missing").exists()
    kept = tmp_path / "kept.md"
    kept.write_text("mine")
    args = ["--mnist", str(root), "--classifier", str(clf), "--method", "median", "--limit",
            "5", "-o", str(kept)]
    res = _run(args)
    assert isinstance(res.exception, RestorekitError) and "--overwrite" in str(res.exception)
    assert kept.read_text() == "mine"
    assert _run([*args, "--overwrite"]).exit_code == 0 and "median" in kept.read_text()
    res = _run(["--mnist", str(root), "--classifier", str(clf), "-w", str(tmp_path / "no.pt")])
    assert res.exit_code == 2 and "does not exist" in res.output
