"""The bank Bayes classifier: exact likelihood, the analytic Bayes error, clipping, bad input."""

import numpy as np
import pytest
from scipy.stats import norm

from restorekit.errors import RestorekitError
from restorekit.evaluate.bank_bayes import (
    bank_bayes_accuracy,
    bank_bayes_predict,
    gaussian_log_likelihood,
)


def test_log_likelihood_matches_pixelwise_censored_gaussian():
    rng = np.random.default_rng(0)
    bank = rng.uniform(0, 1, (4, 3, 5))
    sigma = 0.4
    noisy = np.clip(bank[[1, 3]] + rng.normal(0, sigma, (2, 3, 5)), 0, 1)
    assert (noisy == 0).any() and (noisy == 1).any()  # both censored sides are exercised
    got = gaussian_log_likelihood(noisy, bank, sigma)
    for i, y in enumerate(noisy.reshape(2, -1)):
        for k, x in enumerate(bank.reshape(4, -1)):
            want = np.where(y <= 0, norm.logcdf(-x / sigma),
                            np.where(y >= 1, norm.logcdf((x - 1) / sigma),
                                     norm.logpdf(y, loc=x, scale=sigma)))
            assert got[i, k] == pytest.approx(want.sum(), rel=1e-9, abs=1e-9)


def test_unclipped_is_plain_gaussian():
    rng = np.random.default_rng(1)
    bank = rng.uniform(0, 1, (3, 6))
    noisy = bank[:2] + rng.normal(0, 0.8, (2, 6))  # values outside [0, 1] stay as they are
    got = gaussian_log_likelihood(noisy, bank, 0.8, clipped=False)
    want = norm.logpdf(noisy[:, None, :], loc=bank[None], scale=0.8).sum(-1)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_two_point_bank_reaches_the_analytic_bayes_accuracy():
    # two clean images at distance d: the Bayes error is Phi(-d / (2 sigma))
    a, b = np.zeros(16), np.full(16, 0.25)
    sigma, n = 0.5, 4000
    d = np.linalg.norm(a - b)
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, n)
    noisy = np.where(labels[:, None] == 0, a, b) + rng.normal(0, sigma, (n, 16))
    acc = bank_bayes_accuracy(noisy, labels, np.stack([a, b]), [0, 1], sigma, clipped=False)
    want = 100 * (1 - norm.cdf(-d / (2 * sigma)))
    assert acc == pytest.approx(want, abs=1.5)  # binomial std ~0.75 points at n=4000


def test_clipping_aware_likelihood_beats_the_naive_one_on_clipped_noise():
    rng = np.random.default_rng(3)
    bank = rng.uniform(0, 1, (20, 30)) ** 3  # mostly dark images, as digits
    bank_labels = np.arange(20) % 5
    idx = rng.integers(0, 20, 3000)
    sigma = 0.9
    noisy = np.clip(bank[idx] + rng.normal(0, sigma, (3000, 30)), 0, 1)
    aware = bank_bayes_accuracy(noisy, bank_labels[idx], bank, bank_labels, sigma)
    naive = bank_bayes_accuracy(noisy, bank_labels[idx], bank, bank_labels, sigma,
                                clipped=False)
    assert aware > naive + 2


def test_predict_batches_agree_and_keep_label_values():
    rng = np.random.default_rng(4)
    bank = rng.uniform(0, 1, (6, 2, 2))
    labels = np.array([7, 7, 3, 3, 9, 9])
    noisy = np.clip(bank + rng.normal(0, 0.05, bank.shape), 0, 1)
    one = bank_bayes_predict(noisy, bank, labels, 0.05, batch_size=1)
    np.testing.assert_array_equal(one, bank_bayes_predict(noisy, bank, labels, 0.05))
    np.testing.assert_array_equal(one, labels)


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma": 0.0}, "sigma"),
    ({"sigma": float("nan")}, "sigma"),
    ({"bank_labels": [0, 1]}, "labels"),
    ({"noisy": np.zeros((2, 5))}, "pixels"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_input_is_a_clear_error(kwargs, match):
    args = {"noisy": np.zeros((2, 4)), "bank": np.zeros((3, 4)), "bank_labels": [0, 1, 1],
            "sigma": 0.5}
    args.update(kwargs)
    with pytest.raises(RestorekitError, match=match):
        bank_bayes_predict(**args)


def test_accuracy_needs_one_label_per_noisy_image():
    with pytest.raises(RestorekitError, match="labels"):
        bank_bayes_accuracy(np.zeros((3, 4)), [0, 1], np.zeros((2, 4)), [0, 1], 0.5)
