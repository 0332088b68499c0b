"""restorekit.evaluate.downstream and restorekit.nets.classifier on synthetic and real digits."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from restorekit.errors import InvalidImageError, RestorekitError, WeightsError
from restorekit.evaluate import downstream as ds
from restorekit.nets.autoencoder import MnistDAE
from restorekit.nets.classifier import MnistClassifier, init_from_encoder

torch.set_num_threads(1)


def _bars(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic 28x28 'digits': class k is a bright horizontal bar at row 3 + 2k, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    x = rng.uniform(0, 0.2, (n, 28, 28)).astype(np.float32)
    for i, k in enumerate(labels):
        x[i, 3 + 2 * k: 5 + 2 * k, 4:24] = 1.0
    return x, labels.astype(np.uint8)


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, list[dict], np.ndarray, np.ndarray]:
    x, y = _bars(600)
    ex, ey = _bars(200, seed=1)
    model, hist = ds.train_classifier(x, y, epochs=2, batch_size=32, seed=0, eval_images=ex,
                                      eval_labels=ey)
    return model, hist, ex, ey


def test_train_classifier_learns_and_reports_history(trained) -> None:  # noqa: ANN001
    model, hist, ex, ey = trained
    assert [h["epoch"] for h in hist] == [1, 2]
    assert set(hist[0]) == {"epoch", "train_loss", "train_accuracy", "eval_accuracy"}
    assert hist[1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["eval_accuracy"] > 90
    assert ds.classifier_accuracy(model, ex, ey) == pytest.approx(hist[-1]["eval_accuracy"])
    assert not model.training


def test_train_classifier_is_seeded() -> None:
    x, y = _bars(200)
    a, ha = ds.train_classifier(x, y, epochs=1, batch_size=50, seed=3)
    b, hb = ds.train_classifier(x, y, epochs=1, batch_size=50, seed=3)
    c, _ = ds.train_classifier(x, y, epochs=1, batch_size=50, seed=4)
    assert ha == hb
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(va, vc) for va, vc in zip(a.state_dict().values(),
                                                         c.state_dict().values(), strict=True))


def test_classifier_accuracy_counts_and_validates() -> None:
    class Always3(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(len(x), 10)
            out[:, 3] = 1
            return out

    x = np.zeros((8, 28, 28), np.float32)
    y = np.array([3, 3, 3, 1, 2, 3, 0, 0])
    assert ds.classifier_accuracy(Always3(), x, y, batch_size=3) == pytest.approx(50.0)
    assert ds.classifier_accuracy(Always3(), x[:, None], y) == pytest.approx(50.0)
    with pytest.raises(InvalidImageError, match="labels"):
        ds.classifier_accuracy(Always3(), x, y[:5])
    with pytest.raises(InvalidImageError, match="N x 28 x 28"):
        ds.classifier_accuracy(Always3(), np.zeros((28, 28), np.float32), y[:1])
    with pytest.raises(InvalidImageError, match="float"):
        ds.classifier_accuracy(Always3(), np.zeros((8, 28, 28), np.uint8), y)
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidImageError, match="NaN"):
        ds.classifier_accuracy(Always3(), bad, y)


def test_init_from_encoder_copies_matching_convs() -> None:
    torch.manual_seed(0)
    dae, clf = MnistDAE(), MnistClassifier()
    with torch.no_grad():  # make BN statistics non-default so their copy is visible
        dae.encoder[1].running_mean.fill_(0.5)
    assert init_from_encoder(clf, dae) == 2
    assert torch.equal(clf.features[0].weight, dae.encoder[0].weight)
    assert torch.equal(clf.features[4].weight, dae.encoder[4].weight)
    assert torch.equal(clf.features[1].running_mean, dae.encoder[1].running_mean)
    # a wider first layer matches nothing: the classifier is left alone
    other = MnistClassifier()
    before = other.features[0].weight.clone()
    assert init_from_encoder(other, MnistDAE(features=(16, 32))) == 0
    assert torch.equal(other.features[0].weight, before)


def test_train_classifier_rejects_an_unusable_encoder() -> None:
    x, y = _bars(16)
    with pytest.raises(RestorekitError, match="encoder"):
        ds.train_classifier(x, y, epochs=1, init_from=MnistDAE(features=(8,)))
    with pytest.raises(RestorekitError, match="together"):
        ds.train_classifier(x, y, epochs=1, eval_images=x)
    with pytest.raises(RestorekitError, match="epochs"):
        ds.train_classifier(x, y, epochs=1, lr=0)


def test_representation_transfer_differs_only_by_the_encoder() -> None:
    x, y = _bars(256)
    ex, ey = _bars(64, seed=2)
    torch.manual_seed(1)
    dae = MnistDAE()
    res = ds.representation_transfer(dae, x, y, ex, ey, epochs=2, batch_size=64, seed=5)
    assert res["copied"] == 2
    assert len(res["encoder"]) == len(res["random"]) == 2
    _, plain = ds.train_classifier(x, y, epochs=2, batch_size=64, seed=5, eval_images=ex,
                                   eval_labels=ey)
    assert res["random"] == plain  # random arm = a plain run with the same seed
    assert res["encoder"] != res["random"]
    rows = ds.transfer_rows(res)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["random_init_acc"] == plain[1]["eval_accuracy"]


def test_degrade_and_restore_images() -> None:
    x, _ = _bars(10)
    a = ds.degrade_images(x, "gaussian:sigma=50", seed=1)
    b = ds.degrade_images(x, "gaussian:sigma=50", seed=1)
    c = ds.degrade_images(x, "gaussian:sigma=50", seed=2)
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert abs(float((a - x).std()) - 50 / 255) < 0.01  # unclipped by default

    class Halve(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return t * 0.5 * self.w

    out = ds.restore_images(a, Halve(), batch_size=3)
    assert np.allclose(out, np.clip(a * 0.5, 0, 1))

    class SigmaNet(Halve):
        accepts_sigma = True
        seen: list = []

        def forward(self, t: torch.Tensor, sigma: object = None) -> torch.Tensor:
            self.seen.append(sigma)
            return t

    net = SigmaNet()
    ds.restore_images(a, net, sigma=51.0)
    assert net.seen and net.seen[0] == pytest.approx(0.2)

    from restorekit.restorers.base import load_restorer

    med = ds.restore_images(a[:2], load_restorer("median"))
    assert med.shape == (2, 28, 28) and 0 <= med.min() and med.max() <= 1


def test_downstream_table(trained) -> None:  # noqa: ANN001
    model, _, ex, ey = trained
    kept = {}

    def degrade(x: np.ndarray) -> np.ndarray:
        kept["clean"] = x.copy()
        return np.zeros_like(x)

    row = ds.downstream_table(model, ex, ey, degrade, lambda d: kept["clean"])
    assert row["n"] == len(ex)
    assert row["restored"] == pytest.approx(row["clean"])
    assert row["degraded"] < 40  # blank images: one class at most
    no_restore = ds.downstream_table(model, ex, ey, degrade, None)
    assert "restored" not in no_restore


def test_save_load_classifier(tmp_path: Path, trained) -> None:  # noqa: ANN001
    model, _, ex, ey = trained
    path = ds.save_classifier(model, tmp_path / "c.safetensors", meta={"note": 1})
    back = ds.load_classifier(path)
    assert ds.classifier_accuracy(back, ex, ey) == ds.classifier_accuracy(model, ex, ey)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(WeightsError, match="mnist-classifier"):
        ds.load_classifier(tmp_path / "bad.safetensors")


def test_train_classifier_on_damaged_digits() -> None:
    """``degradation`` damages every training batch afresh: that classifier reads noisy digits."""
    x, y = _bars(600)
    ex, ey = _bars(300, seed=1)
    spec = "gaussian:sigma=150,clip=true"
    noisy = ds.degrade_images(ex, spec, seed=7)
    clean_trained, _ = ds.train_classifier(x, y, epochs=2, batch_size=32, seed=0)
    noisy_trained, hist = ds.train_classifier(x, y, epochs=2, batch_size=32, seed=0,
                                              degradation=spec)
    again, hist_again = ds.train_classifier(x, y, epochs=2, batch_size=32, seed=0,
                                            degradation=spec)
    assert hist == hist_again  # the noise is seeded
    assert ds.classifier_accuracy(clean_trained, noisy, ey) < 80
    assert ds.classifier_accuracy(noisy_trained, noisy, ey) > 95
    assert ds.classifier_accuracy(again, noisy, ey) == ds.classifier_accuracy(noisy_trained,
                                                                              noisy, ey)


def test_clean_mnist_classifier_caches(tmp_path: Path, dataset) -> None:  # noqa: ANN001
    root = dataset("mnist")
    cache = tmp_path / "cache"
    a = ds.clean_mnist_classifier(root, cache_dir=cache, epochs=1, limit=300)
    files = list(cache.glob("mnist-classifier-*.safetensors"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    b = ds.clean_mnist_classifier(root, cache_dir=cache, epochs=1, limit=300)
    assert files[0].stat().st_mtime_ns == stamp  # loaded, not retrained
    for va, vb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb)
    ds.clean_mnist_classifier(root, cache_dir=cache, epochs=1, limit=300, seed=1)
    assert len(list(cache.glob("*.safetensors"))) == 2  # other settings, other file
    ds.mnist_classifier(root, cache_dir=cache, epochs=1, limit=300,
                        degradation="gaussian:sigma=100")
    assert len(list(cache.glob("*.safetensors"))) == 3  # the damage is part of the key
    files[0].write_bytes(b"corrupt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = ds.clean_mnist_classifier(root, cache_dir=cache, epochs=1, limit=300)
    assert any("retraining" in str(w.message) for w in caught)
    for va, vc in zip(a.state_dict().values(), c.state_dict().values(), strict=True):
        assert torch.equal(va, vc)  # retrained deterministically
