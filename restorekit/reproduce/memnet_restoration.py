"""``memnet-restoration``: Gupta et al.'s study of MemNet on four restoration tasks.

Protocol (P. Gupta, A. Bhattacharjee, B. Joseph, *Image Restoration using Deep Neural
Networks*, Sec. 5-8): MemNet (Tai et al., ICCV 2017) is trained, one model per task, on the
brightness (Y) channel of natural images for salt & pepper denoising, x3 super-resolution with
nearest-neighbour scaling, JPEG deblocking and the combined chain scale -> noise -> JPEG; the
planned evaluation is PSNR/SSIM, stress tests (the JPEG model across qualities, the denoiser
across noise types and levels, the SR model across random scales, each single-task test set
through the combined model), a depth ablation and an RGB extension. The study reports pictures
only, no numbers; this module measures all of it.

Our choices where the study is silent are in ``restorekit/experiments/memnet_restoration/``
(``experiment.toml``: noise amounts, qualities, test sets; ``memnet.toml``; ``rk_unet.toml``,
"our best model", trained the same way). MemNet is CPU-sized (M2R2, 16 features) instead of
M6R6 (64 features, 80 convolutions), whose per-step cost is measured and reported instead.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from restorekit.reproduce import Experiment, Report, ReproContext
from restorekit.reproduce import memnet_restoration_eval as ev
from restorekit.reproduce.memnet_restoration_plan import (
    TASK_ORDER,
    Plan,
    Run,
    depth,
    load_plan,
    memnet_config,
    step_seconds,
    train_run,
)
from restorekit.restorers.base import get_entry

#: Iterations the study trains each model for (Sec. 5.4), to scale our measured step cost.
STUDY_ITERATIONS = 100_000


def _pair(m: dict[str, float] | None) -> str:
    return "-" if m is None else f"{ev.fmt_db(m['psnr'])} / {m['ssim']:.4f}"


def _short(spec: str) -> str:
    """A compact label of a degradation spec for table headers."""
    return (spec.replace("resample:scale=", "x").replace(",down=nearest,up=nearest", " nn")
            .replace("salt-pepper:amount=", "s&p ").replace("jpeg:quality=", "q")
            .replace("gaussian:sigma=", "gauss ").replace(",clip=true", "")
            .replace("poisson:peak=", "poisson ").replace("speckle:sigma=", "speckle ")
            .replace("+", " + "))


def _train_all(ctx: ReproContext, plan: Plan) -> tuple[dict[str, Run], dict[str, Run],
                                                        dict[tuple[int, int], Run], Run | None]:
    """MemNet and rk-unet per task, the ablation's MemNets and the RGB MemNet."""
    b = plan.budget
    main_mr = (b.memnet["num_memblocks"], b.memnet["num_resblocks"])
    memnets: dict[str, Run] = {}
    unets: dict[str, Run] = {}
    for name in TASK_ORDER:
        task = plan.tasks[name]
        memnets[name] = train_run(ctx, plan, f"memnet-{name}", f"MemNet, {task.label}",
                                  "memnet.toml", task.train, model=memnet_config(plan),
                                  lr=b.memnet_lr)
        unets[name] = train_run(ctx, plan, f"rk-unet-{name}", f"rk-unet, {task.label}",
                                "rk_unet.toml", task.train)
    abl_task = plan.tasks[plan.ablation["task"]]
    ablation = {main_mr: memnets[abl_task.name]}
    for m, r in b.ablation:
        if (m, r) not in ablation:
            ablation[(m, r)] = train_run(ctx, plan, f"memnet-{abl_task.name}-M{m}R{r}",
                                         f"MemNet M{m}R{r}, {abl_task.label}", "memnet.toml",
                                         abl_task.train, model=memnet_config(plan, m, r),
                                         lr=b.memnet_lr)
    rgb = None
    if b.rgb:
        rgb_task = plan.tasks[plan.rgb["task"]]
        rgb = train_run(ctx, plan, f"memnet-{rgb_task.name}-rgb", f"MemNet RGB, "
                        f"{rgb_task.label}", "memnet.toml", rgb_task.train, color="rgb",
                        model=memnet_config(plan), lr=b.memnet_lr)
    return memnets, unets, ablation, rgb


def run_with(ctx: ReproContext, plan: Plan) -> Report:
    """The experiment under an explicit plan (``run`` loads the budget's)."""
    import torch

    if torch.get_num_threads() > 2:
        torch.set_num_threads(2)
    b = plan.budget
    seed = ctx.seed
    images: dict[str, Any] = {}

    def imgs(name: str, limit: int | None = None) -> list[Any]:
        if name not in images:
            images[name] = ev.test_images(ctx, name, b.limits.get(name), b.test_crop)
        return images[name][:limit] if limit else images[name]

    def progress(items: Any) -> Any:
        return ctx.progress(list(items), desc="evaluating", leave=False)

    # ---- cost of depth: one training step, including M6R6 at the paper's width
    ctx.log("timing MemNet training steps")
    cost_rows = []
    for m, r, c in ctx.progress(b.cost_configs, desc="step cost"):
        sec, params = step_seconds(m, r, c, batch=b.batch_size, patch=b.patch_size, seed=seed)
        cost_rows.append({"model": f"M{m}R{r}, {c} features", "convs": depth(m, r),
                          "params": params, f"s/step (batch {b.batch_size})": sec,
                          "h for 100K steps": sec * STUDY_ITERATIONS / 3600})

    memnets, unets, ablation, rgb = _train_all(ctx, plan)
    mr = f"M{b.memnet['num_memblocks']}R{b.memnet['num_resblocks']}"

    # ---- headline: every task on its test set
    ctx.log("headline tests")
    main_rows: list[dict[str, Any]] = []
    head: dict[str, Any] = {}  # task -> {(label, spec): mean metrics}
    verdicts: dict[str, bool] = {}
    for name in TASK_ORDER:
        task = plan.tasks[name]
        methods = {"memnet": memnets[name].method, "rk-unet": unets[name].method,
                   **{bl: bl for bl in task.baselines}}
        res = ev.mean_rows(methods, task.tests, imgs(task.test_set), seed=seed, crop=task.crop,
                           progress=progress)
        ok = True
        for spec in task.tests:
            row = {"task": task.label, "test": _short(spec),
                   "images": f"{task.test_set} ({len(imgs(task.test_set))})",
                   "input": _pair(res[("input", spec)]),
                   f"MemNet {mr}": _pair(res[("memnet", spec)]),
                   "rk-unet (ours)": _pair(res[("rk-unet", spec)]),
                   "classical": "; ".join(f"{bl} {_pair(res[(bl, spec)])}"
                                          for bl in task.baselines) or "-"}
            ok &= res[("memnet", spec)]["psnr"] > res[("input", spec)]["psnr"]
            main_rows.append(row)
        head[name] = res
        verdicts[name] = ok

    # ---- comparison grid (first test image and degradation of every task)
    grid_rows, grid_caps = [], []
    for name in TASK_ORDER:
        task = plan.tasks[name]
        crops, caps = ev.restored_crops({"memnet": memnets[name].method,
                                         "rk-unet": unets[name].method}, task.tests[0],
                                        imgs(task.test_set)[0], seed=seed, size=b.grid_crop)
        grid_rows.append(crops)
        grid_caps.append([name] + caps[1:])
    side = min(c.shape[0] for row in grid_rows for c in row)
    grid_rows = [[c[:side, :side] for c in row] for row in grid_rows]
    grid_png = ev.write_grid(ctx.figures / "tasks.png", grid_rows,
                             ["clean", "degraded", f"MemNet {mr}", "rk-unet"], grid_caps)

    # ---- stress tests
    ctx.log("stress tests")
    st, n = plan.stress, b.stress_limit
    jpeg_specs = [f"jpeg:quality={q}" for q in st["jpeg_qualities"]]
    res = ev.mean_rows({"memnet": memnets["jpeg"].method, "rk-unet": unets["jpeg"].method},
                       jpeg_specs, imgs(plan.tasks["jpeg"].test_set, n), seed=seed, crop=0,
                       progress=progress)
    jpeg_rows = [{"quality": q, "input": res[("input", s)]["psnr"],
                  "memnet": res[("memnet", s)]["psnr"], "rk-unet": res[("rk-unet", s)]["psnr"],
                  "memnet_ssim": res[("memnet", s)]["ssim"]}
                 for q, s in zip(st["jpeg_qualities"], jpeg_specs, strict=True)]
    jpeg_png = ev.plot_sweep_png(ctx.figures / "stress_jpeg.png", jpeg_rows, "quality",
                                 ["input", "memnet", "rk-unet"],
                                 "JPEG model (trained on q10|20) across qualities, PSNR (dB)")

    dn = plan.tasks["denoise"]
    sp_specs = [f"salt-pepper:amount={a}" for a in st["sp_amounts"]]
    noise_specs = sp_specs + list(st["other_noises"])
    dn_methods = {"memnet": memnets["denoise"].method, "rk-unet": unets["denoise"].method,
                  **{bl: bl for bl in dn.baselines}}
    res = ev.mean_rows(dn_methods, noise_specs, imgs(dn.test_set, n), seed=seed, crop=0,
                       progress=progress)
    noise_rows = [{"noise": _short(s), **{k: res[(k, s)]["psnr"] for k in
                                         ["input", *dn_methods]}} for s in noise_specs]
    sp_rows = [{"amount": a, **{k: res[(k, s)]["psnr"] for k in ["input", *dn_methods]}}
               for a, s in zip(st["sp_amounts"], sp_specs, strict=True)]
    sp_png = ev.plot_sweep_png(ctx.figures / "stress_salt_pepper.png", sp_rows, "amount",
                               ["input", *dn_methods],
                               "denoiser (trained on s&p 0.05-0.3) across amounts, PSNR (dB)")

    sr_rows: list[dict[str, Any]] = []
    scales = [*st["sr_scales"], st["sr_random"]]
    sr_res = {}
    for kind, suffix in (("nearest", ",down=nearest,up=nearest"), ("bicubic", "")):
        specs = [f"resample:scale={s}{suffix}" for s in scales]
        sr_res[kind] = (specs, ev.mean_rows(
            {"memnet": memnets[f"sr-{kind}"].method, "rk-unet": unets[f"sr-{kind}"].method},
            specs, imgs(plan.tasks[f"sr-{kind}"].test_set, n), seed=seed,
            crop=plan.tasks[f"sr-{kind}"].crop, progress=progress))
    for i, s in enumerate(scales):
        row: dict[str, Any] = {"scale": s}
        for kind in ("nearest", "bicubic"):
            specs, res = sr_res[kind]
            for k in ("input", "memnet", "rk-unet"):
                row[f"{k} ({kind})"] = res[(k, specs[i])]["psnr"]
        sr_rows.append(row)
    sr_png = ev.plot_sweep_png(ctx.figures / "stress_sr_scale.png",
                               [r for r in sr_rows if not isinstance(r["scale"], str)], "scale",
                               [k for k in sr_rows[0] if k != "scale"],
                               "SR models (trained at x3) across scales, PSNR (dB)")

    # cross-task matrix: every single-task test through every model (the combined one too)
    matrix_specs = [plan.tasks[t].tests[0] for t in TASK_ORDER]
    from restorekit.evaluate.sweep import cross_task_matrix

    label_of = {memnets[t].method: t for t in TASK_ORDER}
    raw = cross_task_matrix([memnets[t].method for t in TASK_ORDER], matrix_specs,
                            imgs(st["matrix_set"], n), seed=seed, progress=progress)
    matrix = [{"restorer": label_of.get(r["restorer"], "input"),
               **{_short(s): r[s] for s in matrix_specs}} for r in raw]
    matrix_png = ev.plot_matrix(ctx.figures / "cross_task.png", matrix,
                                [_short(s) for s in matrix_specs],
                                [_short(s).replace(" + ", "\n+ ") for s in matrix_specs],
                                f"MemNet {mr} cross-task matrix ({st['matrix_set']})")

    # ---- ablation over depth
    ctx.log("ablation")
    abl_task = plan.tasks[plan.ablation["task"]]
    abl_spec = plan.ablation["test"]
    res = ev.mean_rows({f"M{m}R{r}": run.method for (m, r), run in ablation.items()},
                       [abl_spec], imgs(abl_task.test_set), seed=seed, crop=abl_task.crop,
                       progress=progress)
    abl_rows = sorted(({"model": f"M{m}R{r}", "convs": depth(m, r), "params": run.params,
                        "train s": run.seconds, "psnr": res[(f"M{m}R{r}", abl_spec)]["psnr"],
                        "ssim": res[(f"M{m}R{r}", abl_spec)]["ssim"]}
                       for (m, r), run in ablation.items()), key=lambda r: r["convs"])
    abl_png = ev.plot_depth(ctx.figures / "ablation_depth.png", abl_rows,
                            f"MemNet depth ablation: {_short(abl_spec)} on {abl_task.test_set}")

    # ---- RGB extension
    rgb_rows: list[dict[str, Any]] = []
    if rgb is not None:
        ctx.log("RGB extension")
        rgb_spec = plan.rgb["test"]
        methods = {"MemNet Y model, per channel": memnets[plan.rgb["task"]].method,
                   "MemNet RGB model": rgb.method}
        color = imgs(plan.rgb["test_set"])
        for y_channel in (False, True):
            res = ev.mean_rows(methods, [rgb_spec], color, seed=seed, crop=0,
                               y_channel=y_channel, progress=progress)
            for label in ("input", *methods):
                rows_by = next((r for r in rgb_rows if r["model"] == label), None)
                if rows_by is None:
                    rows_by = {"model": label}
                    rgb_rows.append(rows_by)
                key = "Y" if y_channel else "RGB"
                rows_by[f"{key} PSNR"] = res[(label, rgb_spec)]["psnr"]
                rows_by[f"{key} SSIM"] = res[(label, rgb_spec)]["ssim"]

    # ---- training curves
    loss_png = ev.plot_losses(ctx.figures / "loss_memnet.png",
                              {t: memnets[t].out_dir / "log.csv" for t in TASK_ORDER},
                              f"MemNet {mr} training loss (multi-supervised MSE)")
    abl_loss_png = ev.plot_losses(ctx.figures / "loss_ablation.png",
                                  {f"M{m}R{r}": run.out_dir / "log.csv"
                                   for (m, r), run in sorted(ablation.items())},
                                  f"ablation training loss ({abl_task.name})")

    return _write(ctx, plan, locals())


def _init_note(model_config: dict[str, Any]) -> str:
    """A setup line when MemNet's reconstruction conv does not start as the paper's."""
    if model_config.get("recon_init", "msra") != "zero":
        return ""
    return ("* One change from the paper for short CPU runs: MemNet's shared reconstruction conv "
            "starts at zero (`recon_init = \"zero\"`), so the untrained net is the identity; from "
            "the paper's He init it adds a residual of std ~0.5 and a 300-step pilot stayed "
            "below its input (see `restorekit/experiments/memnet_restoration/experiment.toml`).\n")


def _unet_note(config: dict[str, Any], params: int) -> str:
    """rk-unet's size as configured in ``rk_unet.toml`` (registry defaults where it is silent)."""
    config = {**get_entry("rk-unet").defaults, **config}
    chans = "/".join(str(c) for c in config["channels"])
    bias = ("with biases (the bias-free default cannot key on absolute intensities such as "
            "salt & pepper's 0 and 1)" if config.get("bias") else "bias-free")
    tail = (", its tail conv starting at zero (the untrained net is the identity, as MemNet's "
            "zero-initialised reconstruction)" if config.get("tail_init") == "zero" else "")
    return (f"rk-unet (restorekit's U-Net, {chans} features, {config['num_blocks']} "
            f"residual blocks per level, {bias}{tail}; {params:,} parameters)")


def _write(ctx: ReproContext, plan: Plan, v: dict[str, Any]) -> Report:
    """The markdown report from the measured values of :func:`run_with`."""
    b, mr, rep = plan.budget, v["mr"], Report()
    memnets, unets = v["memnets"], v["unets"]
    rel = {"relative_to": ctx.out}
    unet_params = next(iter(unets.values())).params
    memnet_params = next(iter(memnets.values())).params
    convs = depth(b.memnet["num_memblocks"], b.memnet["num_resblocks"])
    rep.heading("What the study claims")
    rep.text(
        "The study trains MemNet (M6R6, 64 features, 80 convolutions; 100K iterations on 5K "
        "PASCAL VOC2007 images, about two GPU-days per model) once per task on the Y channel: "
        "salt & pepper denoising, x3 nearest-neighbour super-resolution, JPEG deblocking and "
        "the combined chain scale -> noise -> JPEG. Its results are pictures (Figs. 2-37) and "
        "loss curves (Figs. 38-41); it reports **no PSNR/SSIM**, and its stress tests, depth "
        "ablation and RGB extension are plans (Sec. 6.3-6.4, 8). So the claim we can test is "
        "qualitative: *each task-specific MemNet restores its damage* (we read this as: beats "
        "the damaged input in PSNR on held-out images), and we run the planned measurements.")
    rep.heading("Setup")
    rep.text(
        f"* Budget **{ctx.budget}**: every model trains {b.steps} Adam steps (cosine decay; "
        f"learning rate {b.memnet_lr or 'of memnet.toml'} for MemNet, 1e-3 for rk-unet) of "
        f"{b.batch_size} patches of {b.patch_size}x{b.patch_size} (random crops, flips, 90 deg "
        f"rotations, fresh damage each time) from the Y channel of BSD200+T91 (291 natural "
        f"images; the study: PASCAL VOC2007), seed {ctx.seed}. That is "
        f"{b.steps * b.batch_size:,} patches per model, against the study's 100K iterations: "
        f"these models are far from converged and the numbers are lower bounds.\n"
        f"* MemNet (`restorekit.nets.memnet`, memory blocks of shared-weight recursive units + "
        f"gate units, shared reconstruction, learned fusion) at **{mr} with "
        f"{b.memnet['channels']} features** ({convs} convolutions, {memnet_params:,} "
        f"parameters), trained with MemNet's multi-supervised "
        f"loss (alpha 0.5). M6R6 at 64 features is too slow for this CPU: see *Cost of depth*.\n"
        f"{_init_note(next(iter(memnets.values())).config)}"
        f"* Our best model: {_unet_note(next(iter(unets.values())).config, unet_params)}, "
        f"L1 loss, same data, steps, batch and seed.\n"
        f"* Tests: salt & pepper and the combined chain on Set12, x3 SR on Set5 (Y channel; "
        f"PSNR/SSIM ignore a 3-pixel border), JPEG on Classic5; the first "
        f"{', '.join(f'{k}: {n}' for k, n in b.limits.items())} images; stress tests on the "
        f"first {b.stress_limit}. Damage is seeded per image and degradation "
        f"(`restorekit.evaluate.benchmark`), identical for every model. Metrics are on the Y "
        f"channel (gray images; Set5 converted to Y) except the RGB table.\n"
        f"* Degradations (spec strings): " + "; ".join(
            f"{plan.tasks[t].name} trains on `{plan.tasks[t].train}`" for t in TASK_ORDER) +
        ". The study gives no amounts or qualities for its denoising and combined models; "
        "these are ours.")

    rep.heading("Headline: every task, PSNR (dB) / SSIM")
    rep.table(v["main_rows"])
    verdicts = v["verdicts"]
    met = [t for t in TASK_ORDER if verdicts[t]]
    unmet = [t for t in TASK_ORDER if not verdicts[t]]
    rep.text(
        f"Claim (each task-specific MemNet beats its damaged input on every test): "
        f"**met** for {', '.join(met) or 'none'}"
        + (f"; **not met** for {', '.join(unmet)}" if unmet else "") +
        f" (budget {ctx.budget}, {b.steps} steps). Compare MemNet with rk-unet (same "
        f"training) column by column for our best model.")
    rep.text(_headline_notes(plan, v["head"]))
    rep.figure(v["grid_png"], "Centre crops (2x) of the first test image of every task: clean, "
               "degraded, MemNet, rk-unet, with PSNR", **rel)

    rep.heading("Stress tests (study Sec. 6.3.1)")
    rep.text("**(i) The JPEG model across qualities** (trained on quality 10 and 20), Classic5, "
             "PSNR (dB):")
    rep.table(v["jpeg_rows"], digits=3)
    rep.figure(v["jpeg_png"], "JPEG deblocking across qualities", **rel)
    rep.text("**(ii) The denoiser across noise types and levels** (trained on salt & pepper, "
             "amount 0.05-0.3), Set12, PSNR (dB):")
    rep.table(v["noise_rows"], digits=3)
    rep.figure(v["sp_png"], "Salt & pepper denoising across amounts", **rel)
    rep.text(f"**(iii) The SR models across scale factors** (trained at x3 only), Set5 Y; "
             f"`{plan.stress['sr_random']}` draws a random scale per image (seeded). PSNR (dB):")
    rep.table(v["sr_rows"], digits=3)
    rep.figure(v["sr_png"], "SR across scale factors", **rel)
    rep.text(f"**(iv) The cross-task matrix**: every MemNet {mr} (rows: the task it was trained "
             f"for) on every single-task test and the combined chain (columns), "
             f"{plan.stress['matrix_set']}, mean PSNR (dB); `input` is the damaged image.")
    rep.table(v["matrix"], digits=3)
    rep.text(_stress_notes(v))
    rep.figure(v["matrix_png"], "Cross-task matrix: PSNR gain over the input", **rel)

    rep.heading("Ablation over depth (study Sec. 6.4.2)")
    abl_task = plan.tasks[plan.ablation["task"]]
    rep.text(f"MemNet with M memory blocks of R recursions, {b.memnet['channels']} features, "
             f"trained identically on {abl_task.label}; tested on `{plan.ablation['test']}`, "
             f"{abl_task.test_set}. `train s` is wall time on this shared CPU.")
    rep.table(v["abl_rows"], digits=4)
    rep.text(_ablation_note(v["abl_rows"]))
    rep.figure(v["abl_png"], "PSNR against depth", **rel)
    rep.figure(v["abl_loss_png"], "Training loss of the ablation models", **rel)

    rep.heading("Cost of depth: why not M6R6")
    rep.text(f"One training step (multi-supervised loss, Adam) on a batch of {b.batch_size} "
             f"patches of {b.patch_size}x{b.patch_size}, timed after a warm-up step; the last "
             f"column scales it to the study's 100K iterations at that batch.")
    rep.table(v["cost_rows"], digits=3)

    if v["rgb_rows"]:
        rep.heading("RGB extension (study Sec. 6.3.3)")
        rep.text(f"A 3-channel MemNet {mr} trained like the Y model on colour patches "
                 f"(salt & pepper hits whole pixels), against the Y model run on each colour "
                 f"channel; `{plan.rgb['test']}` on {plan.rgb['test_set']} in colour.")
        rep.table(v["rgb_rows"], digits=4)
        by = {r["model"]: r for r in v["rgb_rows"]}
        y_run, c_run = by["MemNet Y model, per channel"], by["MemNet RGB model"]
        better = "RGB model" if c_run["RGB PSNR"] > y_run["RGB PSNR"] else "Y model per channel"
        rep.text(f"Better in RGB PSNR: the **{better}** ({c_run['RGB PSNR']:.2f} dB RGB model, "
                 f"{y_run['RGB PSNR']:.2f} dB Y model per channel, input "
                 f"{by['input']['RGB PSNR']:.2f} dB), at equal training steps and features "
                 f"(the RGB model spreads its {b.memnet['channels']} features over three "
                 f"channels).")

    rep.heading("Training")
    runs = [*memnets.values(), *unets.values(),
            *[r for k, r in v["ablation"].items() if r not in memnets.values()]]
    if v["rgb"] is not None:
        runs.append(v["rgb"])
    rep.text(f"Runs in `{ctx.work}`; each holds `config.toml` (retrain alone with "
             f"`restorekit train RUN/config.toml`), `log.csv`, checkpoints and the exported "
             f"weights with their model card.")
    rep.table([{"run": r.key, "arch": r.arch, "params": r.params, "steps": r.steps,
                "seconds": r.seconds} for r in runs], digits=1)
    rep.figure(v["loss_png"], f"MemNet {mr} training loss per task", **rel)

    rep.heading("Not reproduced exactly")
    rep.text(
        f"* Size and length: MemNet {mr} with {b.memnet['channels']} features for {b.steps} "
        f"steps instead of M6R6 with 64 features for 100K iterations (CPU; see *Cost of "
        f"depth*). Absolute numbers are far below a converged MemNet's.\n"
        "* Data: BSD200+T91 instead of 5K PASCAL VOC2007 images (not available offline); "
        "test sets Set12, Set5 and Classic5, as MemNet's own paper uses (the study tests on "
        "three unnamed images).\n"
        "* Optimiser: Adam with cosine decay instead of MemNet's SGD (lr 0.1, clipping).\n"
        "* Not run: DeRain/DeSnow generalisation and the Detectron2 downstream test (need data "
        "and models we do not have offline).")
    return rep


def _names(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


def _headline_notes(plan: Plan, head: dict[str, Any]) -> str:
    """Measured comparisons under the headline table, computed from its numbers."""
    wins, losses, classical = [], [], []
    for name in TASK_ORDER:
        for spec in plan.tasks[name].tests:
            res = head[name]
            tag = f"{name} ({_short(spec)})"
            (wins if res[("memnet", spec)]["psnr"] > res[("rk-unet", spec)]["psnr"]
             else losses).append(tag)
            for bl in plan.tasks[name].baselines:
                best = max(res[("memnet", spec)]["psnr"], res[("rk-unet", spec)]["psnr"])
                if res[(bl, spec)]["psnr"] > best:
                    classical.append(f"{bl} on {tag}")
    return (f"* MemNet beats rk-unet (our best model, same training) in PSNR on: "
            f"{_names(wins)}; rk-unet wins on: {_names(losses)}.\n"
            f"* A classical filter beats both networks on: {_names(classical)}.")


def _stress_notes(v: dict[str, Any]) -> str:
    """What the stress tables show, computed from them."""
    jpeg = [str(r["quality"]) for r in v["jpeg_rows"] if r["memnet"] > r["input"]]
    noise_up = [r["noise"] for r in v["noise_rows"] if r["memnet"] > r["input"]]
    noise_down = [r["noise"] for r in v["noise_rows"] if r["memnet"] <= r["input"]]
    sr = {kind: [str(r["scale"]) for r in v["sr_rows"]
                 if r[f"memnet ({kind})"] > r[f"input ({kind})"]]
          for kind in ("nearest", "bicubic")}
    matrix = v["matrix"]
    cols = [c for c in matrix[0] if c != "restorer"]
    models = [r for r in matrix if r["restorer"] != "input"]
    diagonal = []
    for task, col in zip(TASK_ORDER, cols, strict=True):
        best = max(models, key=lambda r: r[col])["restorer"]
        diagonal.append(f"{col}: {best}" + (" (its own model)" if best == task else ""))
    return (f"* (i) The JPEG model beats its input at qualities: {_names(jpeg)}.\n"
            f"* (ii) The salt & pepper denoiser improves on the input for: {_names(noise_up)}"
            f"; not for: {_names(noise_down)}.\n"
            f"* (iii) The x3 SR models beat their input at scales: nearest "
            f"{_names(sr['nearest'])}; bicubic {_names(sr['bicubic'])}.\n"
            f"* (iv) Best MemNet per test column: {'; '.join(diagonal)}.")


def _ablation_note(rows: list[dict[str, Any]]) -> str:
    """Best configuration and whether PSNR rises with depth (rank correlation)."""
    import numpy as np

    best = max(rows, key=lambda r: r["psnr"])
    if len(rows) < 3:
        return f"Best: {best['model']} ({best['psnr']:.2f} dB)."
    depth_rank = np.argsort(np.argsort([r["convs"] for r in rows]))
    psnr_rank = np.argsort(np.argsort([r["psnr"] for r in rows]))
    rho = float(np.corrcoef(depth_rank, psnr_rank)[0, 1])
    return (f"Best: {best['model']} ({best['psnr']:.2f} dB). Rank correlation of depth with "
            f"PSNR: {rho:+.2f} (+1: deeper is always better at this training length).")


def run(ctx: ReproContext) -> Report:
    """Run under ``ctx.budget`` (quick: a few minutes; full: under two hours)."""
    return run_with(ctx, load_plan(ctx.budget))


def tiny(ctx: ReproContext, **changes: Any) -> Report:
    """Seconds-long smoke run (tests only; not a public budget)."""
    small = dict(steps=2, batch_size=2, patch_size=24, log_interval=1,
                 memnet={"channels": 4, "num_memblocks": 1, "num_resblocks": 1},
                 ablation=((1, 2),), limits={"set12": 1, "set5-y": 1, "classic5": 1, "set5": 1},
                 stress_limit=1, cost_configs=((1, 1, 4),), grid_crop=32, test_crop=48)
    small.update(changes)
    plan = load_plan("quick")
    return run_with(ctx, replace(plan, budget=replace(plan.budget, **small)))


EXPERIMENT = Experiment(
    name="memnet-restoration",
    title="MemNet for denoising, super-resolution, JPEG deblocking and their combination "
          "(Gupta et al.'s study)",
    paper="P. Gupta, A. Bhattacharjee, B. Joseph, Image Restoration using Deep Neural Networks "
          "(a study of MemNet: Tai, Yang, Liu, Xu, MemNet: A Persistent Memory Network for "
          "Image Restoration, ICCV 2017), University of Wisconsin-Madison project report, 2020",
    claim="MemNet trained once per task on the Y channel restores salt & pepper noise, x3 "
          "nearest-neighbour low resolution, JPEG blocking and the combined chain scale -> "
          "noise -> JPEG (shown as pictures only; the study reports no PSNR/SSIM and leaves "
          "its stress tests, depth ablation and RGB extension as plans, all measured here).",
    run=run,
)
