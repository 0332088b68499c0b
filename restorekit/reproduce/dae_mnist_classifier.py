"""``dae-mnist-classifier``: Zhao's DAE on MNIST judged by a clean-digit classifier (Table 1).

Protocol (Z. Zhao, *Image Denoising by AutoEncoder: Learning Core Representations*, Sec. 3):

1. a classifier is trained on the clean MNIST training digits (the paper: 30 epochs, Adam);
2. a convolutional denoising autoencoder (``mnist-dae``, Sec. 2.1/2.3) is trained with MSE and
   Adam, batch size 100, on training digits with Gaussian noise added (the paper: 100 epochs);
3. the classifier's accuracy on the 10,000 test digits, clean / noisy / denoised, is
   98.25 / 13.68 / 96.10 %.

The paper never states the noise level, so we sweep sigma (0-255 scale, added to [0, 1] digits,
then clipped to [0, 1]) and report where the noisy accuracy is nearest 13.68 %, with all three
numbers at every level (and the noisy accuracy without clipping beside them). One blind DAE
(trained on sigma 0-600) serves the whole sweep. "Our best model"
is rk-unet trained the same way (configs in ``restorekit/experiments/dae_mnist_classifier/``),
given the true sigma through its noise map. A classifier trained on the noisy digits
themselves is the reference for a denoise-then-classify pipeline at a level (the pipeline is
one more classifier of the noisy digit). Representation transfer: a classifier whose
convolutions start from the DAE's encoder versus a random start, same data, seed and schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from restorekit.reproduce import Experiment, Report, ReproContext
from restorekit.reproduce.context import RESUME_HINT

PAPER = {"clean": 98.25, "noisy": 13.68, "denoised": 96.10}
#: The noise of the sweep: Gaussian, sigma on the 0-255 scale, result clipped to [0, 1] (valid
#: images; unclipped noise never brings the classifier down to 13.68 % below sigma 500).
NOISE = "gaussian:sigma={sigma:g},clip=true"
CONFIG_PACKAGE = "restorekit.experiments.dae_mnist_classifier"
_REUSED: list[str] = []  # finished training runs this invocation reused instead of training


@dataclass(frozen=True)
class Settings:
    """Everything a budget changes (the private ``TINY`` is for smoke tests)."""

    classifier_epochs: int
    classifier_train: int | None  # training digits for the classifier (None: all 60,000)
    dae_steps: int  # optimizer steps of batch 100 (600 steps = one epoch of MNIST)
    best_steps: int
    test_n: int  # test digits for Table 1 at the matched sigma (10,000 = the paper's protocol)
    sweep_n: int  # test digits for the sigma sweep and the transfer curves
    sigmas: tuple[int, ...]
    transfer_train: int
    transfer_epochs: int
    noisy_trained_epochs: int  # classifiers trained on noisy digits (at the matched sigma ...)
    noisy_trained_sigmas: tuple[int, ...]  # ... and at these sweep levels)
    finetune_steps: int  # task-driven fine-tunes of rk-unet at the matched sigma (batch 100)
    finetune_sweep_sigmas: tuple[int, ...]  # the same fine-tunes at these sweep levels
    val_length: int = 1000
    bayes_oracle_n: int = 3000  # noisy training digits the bank Bayes oracle classifies
    task_weight: float = 0.02  # weight of the classifier's cross-entropy in the task loss
    grid_digits: int = 6
    batch_size: int | None = None  # None: the configs' batch of 100 (the paper's)


QUICK = Settings(classifier_epochs=1, classifier_train=10000, dae_steps=200, best_steps=300,
                 test_n=2000, sweep_n=1000, sigmas=(50, 100, 200, 300, 400, 500),
                 transfer_train=1000, transfer_epochs=2, noisy_trained_epochs=1,
                 noisy_trained_sigmas=(), finetune_steps=150, finetune_sweep_sigmas=(),
                 val_length=200, bayes_oracle_n=500)
FULL = Settings(classifier_epochs=6, classifier_train=None, dae_steps=6000, best_steps=6000,
                test_n=10000, sweep_n=3000, sigmas=(25, 50, 100, 200, 300, 400, 500),
                transfer_train=3000, transfer_epochs=3, noisy_trained_epochs=6,
                noisy_trained_sigmas=(100, 200, 300), finetune_steps=2000,
                finetune_sweep_sigmas=(100, 150))
TINY = Settings(classifier_epochs=1, classifier_train=256, dae_steps=3, best_steps=3, test_n=100,
                sweep_n=60, sigmas=(100, 300), transfer_train=128, transfer_epochs=1,
                noisy_trained_epochs=1, noisy_trained_sigmas=(100,), finetune_steps=2,
                finetune_sweep_sigmas=(100,), val_length=16, bayes_oracle_n=16, grid_digits=3,
                batch_size=8)


def _config_path(name: str) -> Path:
    return Path(str(resources.files(CONFIG_PACKAGE).joinpath(name)))


def train_config(ctx: ReproContext, toml: str, steps: int, settings: Settings) -> Any:
    """Train one config from ``restorekit/experiments/dae_mnist_classifier`` in ``ctx.work``."""
    from restorekit.train import train

    mnist = ctx.dataset("mnist")
    base = ctx.load_config(_config_path(toml), resolve=False)
    batch = settings.batch_size or base.train.batch_size
    out = ctx.work / f"{base.name}-{steps}x{batch}-seed{ctx.seed}"
    overrides = [f"train.steps={steps}", f"train.seed={ctx.seed}", f"train.out_dir={out}",
                 f"data.root={mnist}", f"data.val_root={mnist}",
                 f"data.val_length={settings.val_length}", f"train.device={ctx.device}",
                 f"train.checkpoint_interval={max(1, min(300, steps))}"]
    if settings.batch_size is not None:
        overrides.append(f"train.batch_size={settings.batch_size}")
    config = ctx.load_config(_config_path(toml), overrides)
    ctx.log(f"training {config.model.name} ({toml}, {steps} steps) in {out}")
    # resume: a finished run is reused and an interrupted one continues (bit-exact)
    finished = (out / f"{config.name}.safetensors").is_file()
    result = train(config, resume=(out / "checkpoints" / "last.pt").is_file(), quiet=ctx.quiet,
                   resume_hint=RESUME_HINT)
    if result.interrupted:
        from restorekit.errors import RestorekitError

        raise RestorekitError(f"training of {toml} was interrupted at step {result.step}; "
                              "re-run the same command to continue")
    net = result.model.eval()
    if finished:  # nothing trained in this call: the finished run was reused
        from restorekit.weights import read_card

        card = read_card(result.weights) if result.weights else None
        took = f"{card['wall_seconds'] / 60:.1f} min" if card and "wall_seconds" in card else "?"
        _REUSED.append(f"{out.name} (trained earlier in {took})")
    return net, config, out


def crossing_sigma(rows: list[dict[str, Any]], target: float) -> float:
    """Sigma where the noisy accuracy crosses ``target``, linearly interpolated in the sweep."""
    pts = sorted((r["sigma"], r["noisy"]) for r in rows)
    for (s0, a0), (s1, a1) in zip(pts, pts[1:], strict=False):
        if (a0 - target) * (a1 - target) <= 0 and a0 != a1:
            return s0 + (s1 - s0) * (a0 - target) / (a0 - a1)
    return min(pts, key=lambda p: abs(p[1] - target))[0]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * math.log10(1 / mse) if mse > 0 else math.inf


def _evaluate(classifier: Any, clean: np.ndarray, labels: np.ndarray, sigma: float,
              denoisers: dict[str, Any], seed: int, device: Any) -> tuple[dict[str, Any], dict]:
    """One sweep row: accuracies and PSNRs of noisy and of each denoiser's output."""
    from restorekit.evaluate.downstream import (
        classifier_accuracy,
        degrade_images,
        restore_images,
    )

    noisy = degrade_images(clean, NOISE.format(sigma=sigma), seed=seed)
    unclipped = degrade_images(clean, f"gaussian:sigma={sigma:g}", seed=seed)
    row: dict[str, Any] = {
        "sigma": sigma,
        "noisy": classifier_accuracy(classifier, noisy, labels, device=device),
        "noisy_unclipped": classifier_accuracy(classifier, unclipped, labels, device=device)}
    images = {"noisy": noisy}
    psnrs = {"noisy_psnr": _psnr(noisy, clean)}
    for name, net in denoisers.items():
        out = restore_images(noisy, net, sigma=sigma, device=device)
        row[name] = classifier_accuracy(classifier, out, labels, device=device)
        psnrs[f"{name}_psnr"] = _psnr(out, clean)
        images[name] = out
    row.update(psnrs)
    return row, images


def cached_classifier(ctx: ReproContext, s: Settings, epochs: int,
                      degradation: str | None = None, seed: int | None = None) -> Any:
    """The MNIST classifier trained on clean (or ``degradation``-damaged) training digits,
    cached in ``ctx.work / "classifier"``; a cached one is named among the reused runs."""
    from restorekit.evaluate import downstream as ds

    cache = ctx.work / "classifier"
    seed = ctx.seed if seed is None else seed
    settings = ds.mnist_classifier_settings(s.classifier_train or 60000, seed=seed,
                                            epochs=epochs, degradation=degradation)
    cached = ds.classifier_cache_path(cache, settings)
    if cached.is_file():
        _REUSED.append(f"classifier {cached.name}")
    return ds.mnist_classifier(ctx.dataset("mnist"), cache_dir=cache, seed=seed,
                               epochs=epochs, device=ctx.torch_device(), quiet=ctx.quiet,
                               limit=s.classifier_train, degradation=degradation)


def finetuned(ctx: ReproContext, s: Settings, name: str, denoiser: Any, classifier: Any,
              sigma: float, train: tuple[np.ndarray, np.ndarray], **loss: Any
              ) -> tuple[Any, Any]:
    """Copies of ``denoiser`` and ``classifier`` fine-tuned by
    :func:`~restorekit.train.task_driven.finetune_for_classifier` at ``sigma``; cached in
    ``ctx.work / "finetune"`` (a cached pair is named among the reused runs). The classifier
    copy is returned only when it learned (``train_classifier``), else ``None``."""
    import copy

    from safetensors.torch import save_file

    from restorekit.atomic import atomic_write
    from restorekit.evaluate.downstream import load_classifier, save_classifier
    from restorekit.train.task_driven import finetune_for_classifier
    from restorekit.weights import load_weights

    net, judge = copy.deepcopy(denoiser), copy.deepcopy(classifier)
    tag = "-".join(f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}"
                   for k, v in sorted(loss.items()))
    path = ctx.work / "finetune" / f"{name}-{s.finetune_steps}-s{sigma:g}-{tag}-seed{ctx.seed}"
    files = {key: path.parent / f"{path.name}.{key}.safetensors"
             for key in ("denoiser", "classifier")}
    learned = bool(loss.get("train_classifier"))
    if all(f.is_file() for f in files.values()):
        load_weights(net, files["denoiser"])
        _REUSED.append(f"fine-tune {path.name}")
        own = load_classifier(files["classifier"]) if learned else None
        return net.eval(), own
    ctx.log(f"fine-tuning rk-unet: {name}, {s.finetune_steps} steps at sigma {sigma:g}")
    finetune_for_classifier(net, judge, train[0], train[1], NOISE.format(sigma=sigma),
                            steps=s.finetune_steps, batch_size=s.batch_size or 100,
                            sigma=sigma, seed=ctx.seed, device=ctx.torch_device(),
                            quiet=ctx.quiet, **loss)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    atomic_write(files["denoiser"], lambda tmp: save_file(state, tmp))
    save_classifier(judge, files["classifier"], meta={"fine-tune": path.name})
    return net, judge if learned else None


def _noisy_trained_accuracy(ctx: ReproContext, s: Settings, sigma: float, noisy: np.ndarray,
                            labels: np.ndarray) -> float:
    """Accuracy on ``noisy`` of the classifier trained on digits with the same noise."""
    from restorekit.evaluate import downstream as ds

    ctx.log(f"classifier on noisy training digits, sigma {sigma:g}")
    model = cached_classifier(ctx, s, s.noisy_trained_epochs, NOISE.format(sigma=sigma))
    return ds.classifier_accuracy(model, noisy, labels, device=ctx.torch_device())


def _bank_bayes(ctx: ReproContext, s: Settings, sigma: float, noisy: np.ndarray,
                labels: np.ndarray, train: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Accuracy of the Bayes rule whose prior is the classifier's training digits
    (:mod:`restorekit.evaluate.bank_bayes`): on the noisy test digits (a plug-in classifier)
    and on noisy copies of the first training digits themselves (the oracle)."""
    from restorekit.evaluate import downstream as ds
    from restorekit.evaluate.bank_bayes import bank_bayes_accuracy

    ctx.log(f"Bayes rule with the training digits as the prior, sigma {sigma:g}")
    bank_x, bank_y = (a[:s.classifier_train] for a in train)
    k = min(s.bayes_oracle_n, len(bank_x))
    own = ds.degrade_images(bank_x[:k], NOISE.format(sigma=sigma), seed=ctx.seed + 1)
    return {"plug-in": bank_bayes_accuracy(noisy, labels, bank_x, bank_y, sigma / 255),
            "oracle": bank_bayes_accuracy(own, bank_y[:k], bank_x, bank_y, sigma / 255),
            "oracle_n": k, "bank_n": len(bank_x)}


def finetune_variants(s: Settings) -> list[tuple[str, str, str, dict[str, Any]]]:
    """The fine-tunes of Table 1's rk-unet: key, what it is, its loss, and the options of
    :func:`~restorekit.train.task_driven.finetune_for_classifier` that make it."""
    return [
        ("mse", "fine-tuned at this sigma", "MSE", {"ce_weight": 0.0}),
        ("task", "fine-tuned for the classifier",
         f"MSE + {s.task_weight:g} CE (classifier frozen)", {"ce_weight": s.task_weight}),
        ("joint", "end to end with a copy of the classifier", "CE (both learn)",
         {"mse_weight": 0.0, "ce_weight": 1.0, "train_classifier": True})]


def score_denoiser(ctx: ReproContext, net: Any, own: Any, classifier: Any, independent: Any,
                   sigma: float, noisy: np.ndarray, clean: np.ndarray, labels: np.ndarray
                   ) -> dict[str, Any]:
    """Accuracy of ``net``'s output for the Table 1 classifier, the independent clean one and
    (end to end) the fine-tune's ``own`` classifier, and its PSNR."""
    from restorekit.evaluate import downstream as ds

    device = ctx.torch_device()
    out = ds.restore_images(noisy, net, sigma=sigma, device=device)
    return {
        "Table 1 classifier": ds.classifier_accuracy(classifier, out, labels, device=device),
        "independent classifier": ds.classifier_accuracy(independent, out, labels,
                                                         device=device),
        "own classifier": (ds.classifier_accuracy(own, out, labels, device=device)
                           if own is not None else None),
        "PSNR": _psnr(out, clean)}


def _tuned_rows(ctx: ReproContext, s: Settings, best: Any, classifier: Any, independent: Any,
                sigma: float, train: tuple[np.ndarray, np.ndarray],
                noisy: np.ndarray, clean: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
    """Table 1's rk-unet and three fine-tunes of it at ``sigma``, read by the Table 1 classifier,
    an independently trained clean classifier and (end to end) the fine-tune's own."""
    models = [("rk-unet of Table 1 (blind)", "MSE", best, None)]
    for key, name, loss, options in finetune_variants(s):
        net, own = finetuned(ctx, s, key, best, classifier, sigma, train, **options)
        models.append((f"rk-unet {name}", loss, net, own))
    return [{"denoiser": label, "loss": loss,
             **score_denoiser(ctx, net, own, classifier, independent, sigma, noisy, clean,
                              labels)}
            for label, loss, net, own in models]


def _save_png(path: Path, image: np.ndarray) -> Path:
    from restorekit.io import write_image

    return write_image(path, image, overwrite=True)


def run_with(ctx: ReproContext, s: Settings) -> Report:
    """The experiment under explicit settings (``run`` picks QUICK or FULL)."""
    import torch

    from restorekit.data.mnist import load_mnist
    from restorekit.evaluate import downstream as ds
    from restorekit.evaluate.figures import comparison_grid
    from restorekit.evaluate.report import plot_loss_curve, plot_sweep

    if torch.get_num_threads() > 2:
        torch.set_num_threads(2)
    _REUSED.clear()
    device = ctx.torch_device()
    mnist = ctx.dataset("mnist")
    test_x, test_y = load_mnist(mnist, "test")
    clean_all = test_x[:s.test_n].astype(np.float32) / np.float32(255)
    labels_all = test_y[:s.test_n]
    n_sweep = min(s.sweep_n, s.test_n)
    clean, labels = clean_all[:n_sweep], labels_all[:n_sweep]

    ctx.log("classifier on clean training digits")
    classifier = cached_classifier(ctx, s, s.classifier_epochs)
    dae, dae_cfg, dae_dir = train_config(ctx, "dae.toml", s.dae_steps, s)
    best, best_cfg, best_dir = train_config(ctx, "best.toml", s.best_steps, s)
    denoisers = {"dae": dae, "best": best}

    rows: list[dict[str, Any]] = []
    for sigma in ctx.progress(s.sigmas, desc="sigma sweep"):
        rows.append(_evaluate(classifier, clean, labels, sigma, denoisers, ctx.seed, device)[0])
    clean_acc = ds.classifier_accuracy(classifier, clean, labels, device=device)
    target = crossing_sigma(rows, PAPER["noisy"])
    matched_sigma = int(max(5, 5 * round(target / 5)))
    if matched_sigma not in s.sigmas:
        rows.append(_evaluate(classifier, clean, labels, matched_sigma, denoisers, ctx.seed,
                              device)[0])
        rows.sort(key=lambda r: r["sigma"])
    for r in rows:
        r["clean"] = clean_acc
        if r["sigma"] in s.noisy_trained_sigmas:
            noisy = ds.degrade_images(clean, NOISE.format(sigma=r["sigma"]), seed=ctx.seed)
            r["noisy_trained"] = _noisy_trained_accuracy(ctx, s, r["sigma"], noisy, labels)
    ctx.log(f"Table 1 at sigma {matched_sigma:g} on {len(clean_all)} test digits")
    matched, images = _evaluate(classifier, clean_all, labels_all, matched_sigma, denoisers,
                                ctx.seed, device)
    table_clean = ds.classifier_accuracy(classifier, clean_all, labels_all, device=device)
    ceiling = _noisy_trained_accuracy(ctx, s, matched_sigma, images["noisy"], labels_all)
    train_x, train_y = load_mnist(mnist, "train")
    train_x = train_x.astype(np.float32) / np.float32(255)
    bayes = _bank_bayes(ctx, s, matched_sigma, images["noisy"], labels_all, (train_x, train_y))

    ctx.log("denoisers fine-tuned for the classifier")
    independent = cached_classifier(ctx, s, s.classifier_epochs, seed=ctx.seed + 1)
    tuned = _tuned_rows(ctx, s, best, classifier, independent, matched_sigma,
                        (train_x, train_y), images["noisy"], clean_all, labels_all)
    joint = tuned[-1]["own classifier"]
    tuned_sweep, noisy_acc = [], {}
    for sigma in s.finetune_sweep_sigmas:
        noisy = ds.degrade_images(clean, NOISE.format(sigma=sigma), seed=ctx.seed)
        noisy_acc[sigma] = ds.classifier_accuracy(classifier, noisy, labels, device=device)
        tuned_sweep += [{"sigma": sigma, **r} for r in _tuned_rows(
            ctx, s, best, classifier, independent, sigma, (train_x, train_y), noisy, clean,
            labels)]
    # fine-tunes (the clean classifiers frozen) that both clean classifiers read within 1 point
    tuned_met = [r for r in tuned_sweep if "fine-tuned" in r["denoiser"] and clean_acc - min(
        r["Table 1 classifier"], r["independent classifier"]) <= 1.0]

    ctx.log("representation transfer")
    transfer = ds.representation_transfer(
        dae, train_x[:s.transfer_train],
        train_y[:s.transfer_train], clean, labels, epochs=s.transfer_epochs, seed=ctx.seed,
        device=device, quiet=ctx.quiet)
    transfer_table = ds.transfer_rows(transfer)

    # ---- figures
    fig = ctx.figures
    sweep_png = plot_sweep(rows, "sigma", ["clean", "noisy", "dae", "best"],
                           fig / "accuracy_vs_sigma.png",
                           title="classifier accuracy (%) vs Gaussian sigma (0-255)")
    k = min(s.grid_digits, len(clean))
    grid = comparison_grid(
        [[clean[i], np.clip(images["noisy"][i], 0, 1), images["dae"][i], images["best"][i]]
         for i in range(k)],
        col_labels=["clean", f"s={matched_sigma:g}", "DAE", "unet"])
    grid_png = _save_png(fig / "digits.png",
                         np.kron(grid, np.ones((3, 3, 1), np.float32)))  # 3x: readable
    dae_loss = fig / "dae_loss.png"
    best_loss = fig / "best_loss.png"
    dae_fit = plot_loss_curve(dae_dir / "log.csv", dae_loss, title="mnist-dae training loss (MSE)")
    best_fit = plot_loss_curve(best_dir / "log.csv", best_loss,
                               title="rk-unet training loss (MSE)")
    transfer_png = plot_sweep(transfer_table, "epoch", ["encoder_init_acc", "random_init_acc"],
                              fig / "transfer.png",
                              title="classifier test accuracy (%): DAE-encoder vs random init")

    # ---- report
    rep = Report()
    batch = dae_cfg.train.batch_size
    epochs_dae = s.dae_steps * batch / 60000
    epochs_best = s.best_steps * best_cfg.train.batch_size / 60000
    best_desc = ", ".join(f"{k}={v}" for k, v in best_cfg.model.config.items())
    rep.heading("Setup")
    rep.text(
        f"* Data: MNIST, official split; denoisers and classifiers train on the training "
        f"digits. Table 1 uses the first {len(clean_all):,} test digits (the paper: all "
        f"10,000), the sigma sweep and the transfer curves the first {len(clean):,}.\n"
        f"* Noise: `{NOISE.format(sigma=0).replace('=0,', '=S,')}`, zero-mean Gaussian with "
        f"std S/255 added to digits in [0, 1], then **clipped to [0, 1]** (the paper does not "
        f"say). Clipped noisy digits are valid images, and only they bring the classifier "
        f"down to the paper's 13.68 % within the sweep (the `noisy_unclipped` column shows "
        f"the same noise without clipping). Seed {ctx.seed}; the same noisy digits feed the "
        f"classifier and the denoisers.\n"
        f"* Classifier (`restorekit.nets.classifier.MnistClassifier`): the paper does not "
        f"describe its classifier; ours is conv3x3(32)-BN-ReLU-maxpool, conv3x3(64)-BN-ReLU-"
        f"maxpool, dropout, FC 128, FC 10 (the DAE encoder's layout), Adam 1e-3, batch 128, "
        f"{s.classifier_epochs} epoch(s) on "
        f"{s.classifier_train or 60000:,} clean training digits (the paper: 30 epochs; how the "
        f"length moves the matched noise: [docs/benchmarks/dae_classifier_epochs.md]"
        f"(../benchmarks/dae_classifier_epochs.md)).\n"
        f"* Paper's DAE (`mnist-dae`, `dae.toml`): conv/BN/ReLU/max-pool encoder 1-32-64, "
        f"transposed-conv decoder with ReLU output, MSE, Adam 1e-3, batch {batch} (the paper: "
        f"100), {s.dae_steps} steps = {epochs_dae:.1f} epochs (the paper: 100 epochs), one "
        f"blind model trained on `{dae_cfg.data.degradation}`.\n"
        f"* Our best model (`rk-unet`: {best_desc}; `best.toml`): the same data, noise, loss "
        f"and batch, {s.best_steps} steps = {epochs_best:.1f} epochs; its noise-level map is "
        f"given the true sigma.")

    rep.heading("Table 1 of the paper beside ours")
    m = matched
    rep.text(
        f"Noisy accuracy crosses the paper's 13.68 % at sigma ~ {target:.0f} (interpolated in "
        f"the sweep below); Table 1 is measured at sigma = {matched_sigma:g} on "
        f"{len(clean_all):,} test digits.")
    rep.table([
        {"images": "clean (origin)", "paper": PAPER["clean"], "ours (paper's DAE)": table_clean,
         "ours (rk-unet)": table_clean},
        {"images": f"noisy (sigma {matched_sigma:g})", "paper": PAPER["noisy"],
         "ours (paper's DAE)": m["noisy"], "ours (rk-unet)": m["noisy"]},
        {"images": "denoised", "paper": PAPER["denoised"], "ours (paper's DAE)": m["dae"],
         "ours (rk-unet)": m["best"]},
    ], digits=2)
    gaps = {name: table_clean - m[name] for name in ("dae", "best")}
    verdict = {name: "met" if gap <= 1.0 else "not met" for name, gap in gaps.items()}
    rep.text(
        f"Paper: denoised is {PAPER['clean'] - PAPER['denoised']:.2f} points below clean. "
        f"Ours at sigma {matched_sigma:g}: the paper's DAE is {gaps['dae']:.2f} points below "
        f"clean, rk-unet {gaps['best']:.2f}. Our goal, denoised within 1 point of clean: "
        f"**{verdict['dae']}** with the paper's DAE, **{verdict['best']}** with rk-unet.")
    best_learned = max([ceiling, m["dae"], m["best"]]
                       + [r[k] for r in tuned for k in ("Table 1 classifier",
                                                        "independent classifier",
                                                        "own classifier") if r[k] is not None])
    best_any = max(best_learned, bayes["plug-in"])
    readable = [r for r in rows if r.get("noisy_trained") is not None
                and r["clean"] - r["noisy_trained"] <= 1.0]
    task = tuned[2]
    rep.text(
        f"Is the goal reachable at this noise? Denoising and then classifying is itself a "
        f"classifier of the noisy digit, so it can do no better than the best possible "
        f"classifier of noisy digits, the Bayes classifier. That one needs the true "
        f"distribution of handwritten digits, which nobody has. Below, every classifier of "
        f"these noisy test digits we built, beside the Bayes rule whose prior is the "
        f"{bayes['bank_n']:,} training digits themselves (`restorekit.evaluate.bank_bayes`: "
        f"the exact likelihood of clipped Gaussian noise, summed over the training digits of "
        f"each class):")
    rep.table([
        {"classifier of the noisy digits": "the clean-digit classifier of Table 1",
         "accuracy (%)": m["noisy"]},
        {"classifier of the noisy digits": f"the same classifier trained on digits with this "
         f"noise (`{NOISE.format(sigma=matched_sigma)}`, drawn afresh every batch, "
         f"{s.noisy_trained_epochs} epoch(s))", "accuracy (%)": ceiling},
        {"classifier of the noisy digits": "Bayes rule, prior = the training digits (plug-in)",
         "accuracy (%)": bayes["plug-in"]},
        {"classifier of the noisy digits": "rk-unet of Table 1, then the clean classifier",
         "accuracy (%)": m["best"]},
        {"classifier of the noisy digits": "rk-unet fine-tuned for the classifier, then the "
         "clean classifier", "accuracy (%)": task["Table 1 classifier"]},
        {"classifier of the noisy digits": "rk-unet and a copy of the classifier trained end "
         "to end", "accuracy (%)": joint},
        {"classifier of the noisy digits": f"*oracle*: the same Bayes rule on noisy copies of "
         f"{bayes['oracle_n']:,} of its own training digits", "accuracy (%)": bayes["oracle"]},
    ], digits=2)
    rep.text(
        f"The oracle shows what the noise leaves: when the clean digit is one of a known set, "
        f"{bayes['oracle']:.1f} % of noisy digits are still recognised, so the noise alone does "
        f"not rule out near-clean accuracy. The real task asks about digits never seen, where "
        f"the same rule (a soft nearest neighbour among the training digits) scores "
        f"{bayes['plug-in']:.1f} %: what is missing is a prior over all handwritten digits"
        + (f", and the best learned pipeline ({best_learned:.1f} %) carries a better one than "
           f"the bank. " if best_learned > bayes["plug-in"] else
           ", and none of the learned pipelines carries a better one than the bank. ") + (
            f"Every classifier of the real task stays at least {table_clean - best_any:.1f} "
            f"points below clean ({table_clean:.2f} %), so the 1-point goal is not met at this "
            f"level. The best possible accuracy is at least {best_any:.1f} % (a classifier we "
            f"built reaches it) and, if unseen digits are no easier to tell apart than a known "
            f"set, at most about the oracle's {bayes['oracle']:.1f} %. We read the goal as out "
            f"of reach for models "
            f"trainable on this machine, not as impossible, and the paper's 96.10 % as the "
            f"mark of a classifier fooled by much weaker noise. "
            if table_clean - best_any > 1.0 else
            "A classifier reads this noise within 1 point of clean, so the goal is reachable "
            "in principle. ")
        + "In the sweep (column `noisy_trained` below) the directly trained classifier is "
        + ("within 1 point of clean at sigma "
           + ", ".join(f"{r['sigma']:g} (rk-unet: {r['clean'] - r['best']:.2f} points below)"
                       for r in readable)
           + ": there the goal is reachable in principle."
           if readable else "within 1 point of clean at none of the levels it was trained at."))
    reach = {}
    for name in ("dae", "best"):
        ok = [r["sigma"] for r in rows if r["clean"] - r[name] <= 1.0]
        reach[name] = f"up to sigma {max(ok):g}" if ok else "at no swept sigma"
    beyond = ", ".join(f"{v:g}" for v in sorted({r["sigma"] for r in tuned_met
                                                 if r["sigma"] > max(ok, default=0)}))
    rep.text(
        f"Across the sweep, denoised accuracy stays within 1 point of clean {reach['dae']} "
        f"with the paper's DAE and {reach['best']} with rk-unet"
        + (f"; fine-tuned for the classifier, rk-unet meets it at sigma "
           f"{beyond} too (see *Fine-tuned for the classifier*)" if beyond else "")
        + ". Where the noisy accuracy "
        f"falls to 13.68 % depends on how robust the classifier is: ours still scores "
        f"{rows[0]['noisy']:.1f} % at sigma {rows[0]['sigma']:g} and reaches 13.68 % only "
        f"when the noisy PSNR is ~{matched['noisy_psnr']:.1f} dB, where little of the digit "
        f"is left to recover; the paper's classifier (undescribed) was presumably fooled by "
        f"far weaker noise, where denoising can recover most of the accuracy.")

    rep.heading("Fine-tuned for the classifier")
    tuned_batch = s.batch_size or 100
    rep.text(
        f"Table 1's rk-unet is one blind model for the whole sweep, trained on MSE alone. Three "
        f"fine-tunes of it, {s.finetune_steps} steps of batch {tuned_batch} at sigma "
        f"{matched_sigma:g} (fresh noise every batch, Adam 1e-4 with cosine decay): on MSE at "
        f"this level only; on MSE plus {s.task_weight:g} times the cross-entropy of the Table 1 "
        f"classifier reading its output, the classifier frozen (task-driven denoising: Liu et "
        f"al., When Image Denoising Meets High-Level Vision Tasks, IJCAI 2018, Eq. 3; "
        f"`restorekit.train.task_driven`); and on the cross-entropy alone with a copy of the "
        f"classifier learning too (end to end: the pair becomes one classifier of noisy "
        f"digits). The task loss teaches the denoiser what the Table 1 classifier needs, which "
        f"may be that classifier's quirks rather than the digit, so a second clean-digit "
        f"classifier, trained the same way from seed {ctx.seed + 1}, reads the same outputs as "
        f"a check. Accuracy (%) on the {len(clean_all):,} test digits of Table 1 and PSNR (dB):")
    rep.table(tuned, digits=2)
    top = max(tuned[1:3], key=lambda r: r["independent classifier"])
    rep.text(
        f"Fine-tuning adds {top['Table 1 classifier'] - tuned[0]['Table 1 classifier']:+.2f} "
        f"points for the Table 1 classifier and "
        f"{top['independent classifier'] - tuned[0]['independent classifier']:+.2f} for the "
        f"independent one (best fine-tune for the independent classifier: {top['denoiser']}); "
        f"end to end, {joint:.2f} %. All stay {table_clean - best_any:.1f} or more points below "
        f"clean accuracy ({table_clean:.2f} %). The task-driven and end-to-end fine-tunes at "
        f"longer lengths, from these same runs: [docs/benchmarks/dae_long_finetune.md]"
        f"(../benchmarks/dae_long_finetune.md) (`python benchmarks/dae_long_finetune.py`).")
    if tuned_sweep:
        met = [f"{r['denoiser']} at sigma {r['sigma']:g}" for r in tuned_met]
        rep.text(
            f"The same fine-tunes at lighter noise, on the sweep's {len(clean):,} test digits "
            f"(clean {clean_acc:.2f} %; the clean classifier reads the noisy digits at "
            + ", ".join(f"{a:.2f} % at sigma {v:g}" for v, a in noisy_acc.items()) + "):")
        rep.table(tuned_sweep, digits=2)
        rep.text(
            "Within 1 point of clean accuracy for both clean-digit classifiers: "
            + ("; ".join(met) + "." if met else "none of these fine-tunes."))

    rep.heading("Accuracy at every noise level")
    rep.text("Accuracy (%) of the clean-digit classifier on clean, noisy (clipped), DAE-denoised "
             "(`dae`), rk-unet-denoised (`best`) and unclipped noisy digits; `noisy_trained`: "
             "accuracy on the noisy digits of the classifier trained on digits with that noise "
             f"({s.noisy_trained_epochs} epoch(s), measured at some levels only); PSNR (dB) "
             "of the noisy input and of each denoiser's output against the clean digits.")
    rep.table(rows, digits=2, columns=["sigma", "clean", "noisy", "dae", "best",
                                       "noisy_trained", "noisy_unclipped", "noisy_psnr",
                                       "dae_psnr", "best_psnr"])
    rep.figure(sweep_png, "Accuracy against sigma: clean, noisy, denoised by the paper's DAE "
               "and by rk-unet", relative_to=ctx.out)
    rep.figure(grid_png, f"Test digits at sigma {matched_sigma:g}: clean, noisy, the paper's "
               "DAE, rk-unet", relative_to=ctx.out)

    rep.heading("Training")
    fits = []
    for label, fit in (("mnist-dae", dae_fit), ("rk-unet", best_fit)):
        if fit is not None:
            fits.append(f"{label}: loss ~ {fit[0]:.4g} {'+' if fit[1] >= 0 else '-'} "
                        f"{abs(fit[1]):.4g} ln(step)")
    reused = (f" Reused finished runs (their time is not in the total above): "
              f"{', '.join(_REUSED)}." if _REUSED else "")
    rep.text(f"Runs in `{ctx.work}` (config.toml in each regenerates it with "
             f"`restorekit train`). Fitted trends: " + ("; ".join(fits) or "n/a") + "."
             + reused)
    rep.figure(dae_loss, "mnist-dae training loss", relative_to=ctx.out)
    rep.figure(best_loss, "rk-unet training loss", relative_to=ctx.out)

    rep.heading("Representation transfer")
    first, last = transfer_table[0], transfer_table[-1]
    rep.text(
        f"Two classifiers trained on the first {s.transfer_train:,} clean training digits "
        f"for {s.transfer_epochs} epoch(s), same seed, data order and head initialisation; "
        f"one starts its {transfer['copied']} convolutions (with BatchNorm) from the trained "
        f"DAE's encoder, the other from random weights. Test accuracy after epoch 1: "
        f"{first['encoder_init_acc']:.2f} % (encoder) vs {first['random_init_acc']:.2f} % "
        f"(random); after epoch {last['epoch']}: {last['encoder_init_acc']:.2f} % vs "
        f"{last['random_init_acc']:.2f} %.")
    rep.table(transfer_table, digits=4)
    rep.figure(transfer_png, "Representation transfer: test accuracy per epoch",
               relative_to=ctx.out)

    rep.heading("Not reproduced exactly")
    rep.text(
        f"* Training length: {epochs_dae:.1f} DAE epochs and {s.classifier_epochs} classifier "
        f"epoch(s) instead of 100 and 30 (CPU budget, shared machine).\n"
        f"* The noise level, the classifier's architecture and the DAE's layer sizes are not "
        f"in the paper; ours are stated above. One blind DAE instead of one per level.\n"
        f"* The noise is clipped to [0, 1]; the paper does not say whether it was.")
    return rep


def run(ctx: ReproContext) -> Report:
    """Run under ``ctx.budget`` (quick: a few minutes; full: the committed report)."""
    return run_with(ctx, ctx.pick(QUICK, FULL))


def tiny(ctx: ReproContext, **changes: Any) -> Report:
    """Seconds-long smoke run (tests only; not a public budget)."""
    return run_with(ctx, replace(TINY, **changes))


EXPERIMENT = Experiment(
    name="dae-mnist-classifier",
    title="Zhao's MNIST denoising autoencoder judged by a clean-digit classifier",
    paper="Z. Zhao, Image Denoising by AutoEncoder: Learning Core Representations, "
          "The Australian National University preprint, 2018",
    claim="A classifier trained on clean MNIST scores 98.25 % on clean, 13.68 % on noisy and "
          "96.10 % on DAE-denoised test digits (Table 1): denoising recovers almost all the "
          "accuracy the noise destroyed.",
    run=run,
)
