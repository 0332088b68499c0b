"""The Python API: task dispatch, method names (shipped, registered, ARCH@WEIGHTS), errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import restorekit
from restorekit.api import check_method, make_restorer, restore_task, task_models
from restorekit.errors import RestorekitError, UnknownNameError
from restorekit.metrics import psnr


def noisy(image: np.ndarray, sigma: float = 25.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (image + rng.normal(0, sigma / 255, image.shape)).astype(np.float32)


def test_default_restore_uses_the_shipped_denoiser(gray_image: np.ndarray) -> None:
    out, info = restore_task(noisy(gray_image))
    assert info.method == "rk-unet-gray-blind" and info.sigma_estimated
    assert 15 < info.sigma < 35
    assert psnr(out, gray_image) > 30
    assert np.array_equal(restorekit.restore(noisy(gray_image)), out)


def test_colour_image_gets_a_denoiser_too(rgb_image: np.ndarray) -> None:
    import restorekit.zoo as zoo

    out, info = restore_task(noisy(rgb_image))
    assert out.shape == rgb_image.shape and info.method == zoo.default_model("denoise", 3)
    assert psnr(out, rgb_image) > psnr(np.clip(noisy(rgb_image), 0, 1), rgb_image) + 6


def test_sr_upscales_with_the_shipped_model_and_beats_bicubic(gray_image: np.ndarray) -> None:
    from restorekit.degrade.resample import downscale, upscale

    y, x = np.mgrid[0:72, 0:72]
    # the nets made for one scale only come before the multi-scale rk-unet-sr-y
    for scale in (2, 3, 4):
        model = f"edsr-sr{scale}-y"
        # sharp edges, where SR beats interpolation, 2-3 low-resolution pixels apart at least
        cells = (x // (3 * scale) + y // (4 * scale)) % 2
        edges = (0.2 + 0.5 * cells + 0.2 * ((x - 32) ** 2 + (y - 30) ** 2 < 200))
        edges = edges.astype(np.float32)
        colour = np.stack([edges, edges[::-1], 0.9 - 0.5 * edges], -1).astype(np.float32)
        for image in (edges, colour):  # colour: Y through the net, bicubic chroma
            small = downscale(image, scale, "bicubic")
            out, info = restore_task(small, "sr", scale=scale)
            assert out.shape == image.shape and info.method == model
            assert info.extra["scale"] == scale and info.extra["task"] == "sr"
            bicubic = np.clip(upscale(small, scale, "bicubic"), 0, 1)
            kw = {"crop_border": scale, "y_channel": image.ndim == 3}
            assert psnr(out, image, **kw) > psnr(bicubic, image, **kw) + 0.5
    with pytest.raises(RestorekitError, match="x3 upscaling only, not x4"):
        restore_task(small, "sr", scale=4, model="edsr-sr3-y")
    out, info = restore_task(gray_image, "sr", scale=2, model="bicubic")
    assert info.method == "bicubic" and out.shape == (128, 96)
    with pytest.raises(RestorekitError, match="scale of 2, 3 or 4"):
        restore_task(gray_image, "sr", scale=5)


def test_inpaint_fills_the_masked_region(gray_image: np.ndarray) -> None:
    mask = np.zeros(gray_image.shape, bool)
    mask[24:34, 20:28] = True
    holed = gray_image.copy()
    holed[mask] = 0.0
    out, info = restore_task(holed, "inpaint", mask=mask)
    assert info.method == "biharmonic" and info.extra["missing"] == mask.sum()
    assert np.array_equal(out[~mask], holed[~mask])
    assert np.abs(out[mask] - gray_image[mask]).mean() < 0.1 * np.abs(gray_image[mask]).mean()
    with pytest.raises(RestorekitError, match="needs a mask"):
        restore_task(holed, "inpaint")
    with pytest.raises(RestorekitError, match="marks no missing"):
        restore_task(holed, "inpaint", mask=np.zeros_like(mask))
    with pytest.raises(RestorekitError, match="but the image is"):
        restore_task(holed, "inpaint", mask=mask[:-1])
    with pytest.raises(RestorekitError, match="self-ensemble applies to networks"):
        restore_task(holed, "inpaint", mask=mask, self_ensemble=True)


@pytest.mark.parametrize("task,kwargs,text", [
    ("jpeg", {"sigma": 10.0}, "sigma.*applies to denoising, not to task 'jpeg'"),
    ("sr", {"sigma": 10.0, "scale": 2}, "applies to denoising, not to task 'sr'"),
    ("jpeg", {"quality": 200}, "JPEG quality is 1-100, not 200"),
    ("jpeg", {"quality": 0}, "JPEG quality is 1-100, not 0"),
])
def test_options_of_another_task_are_refused(gray_image: np.ndarray, task: str,
                                             kwargs: dict, text: str) -> None:
    with pytest.raises(RestorekitError, match=text):
        restore_task(gray_image, task, model="bicubic" if task == "sr" else "auto", **kwargs)


def test_inpaint_with_a_network_keeps_known_pixels(gray_image: np.ndarray) -> None:
    mask = np.zeros(gray_image.shape, bool)
    mask[:8] = True
    fill = make_restorer("gaussian-filter")  # a Restorer object: the caller's own choice
    out, info = restore_task(gray_image, "inpaint", model=fill, mask=mask)
    assert np.array_equal(out[~mask], gray_image[~mask])
    assert info.method == "gaussian-filter"
    with pytest.raises(RestorekitError, match="every pixel missing"):
        restore_task(gray_image, "inpaint", mask=np.ones(gray_image.shape, bool))


def test_a_method_that_cannot_do_the_task_is_refused(gray_image: np.ndarray) -> None:
    """Named methods must fit the task: no silent no-op, black hole or untrained network."""
    mask = np.zeros(gray_image.shape, bool)
    mask[:8] = True
    with pytest.raises(RestorekitError, match="bm3d cannot do inpaint"):
        restore_task(gray_image, "inpaint", model="bm3d", mask=mask)
    with pytest.raises(RestorekitError, match="nlm cannot do jpeg"):
        restore_task(gray_image, "jpeg", model="nlm")
    with pytest.raises(RestorekitError, match="would run untrained"):
        restore_task(gray_image, "denoise", model="dncnn")
    import restorekit.zoo as zoo

    sr = zoo.default_model("sr", 1, 2)
    if sr is not None:
        with pytest.raises(RestorekitError, match=f"{sr} is a sr model, not a denoise one"):
            restore_task(gray_image, "denoise", model=sr)


def test_unknown_task_and_methods_fail_clearly(gray_image: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(RestorekitError, match="unknown task"):
        restore_task(gray_image, "colorize")
    with pytest.raises(UnknownNameError, match="did you mean"):
        check_method("bm3dd")
    with pytest.raises(RestorekitError, match="not found"):
        check_method(f"dncnn@{tmp_path / 'missing.safetensors'}")
    assert "dncnn" in task_models("jpeg") and "bm3d" not in task_models("jpeg")
    import restorekit.zoo as zoo

    if zoo.default_model("jpeg", 1) is None:
        with pytest.raises(RestorekitError, match="no jpeg model is shipped"):
            restore_task(gray_image, "jpeg")


def test_a_restorer_object_is_accepted_as_the_method(gray_image: np.ndarray) -> None:
    x = noisy(gray_image)
    built = restorekit.load_restorer("gaussian-filter")
    by_name = restorekit.restore(x, "gaussian-filter", sigma=25)
    np.testing.assert_array_equal(restorekit.restore(x, built, sigma=25), by_name)
    up = restorekit.restore(gray_image[:16, :16], built, task="sr", scale=2)
    assert up.shape == (32, 32)
    with pytest.raises(RestorekitError, match="not to a Restorer"):
        restorekit.restore(x, built, weights="w.safetensors")
    with pytest.raises(RestorekitError, match="method must be a name"):
        restorekit.restore(x, 3)


def test_self_ensemble_keeps_the_jpeg_grid_only_for_deblocking() -> None:
    from restorekit.restorers.self_ensemble import JPEG_GRID

    jpeg = make_restorer("auto", task="jpeg", self_ensemble=True)
    denoise = make_restorer("auto", task="denoise", self_ensemble=True)
    assert jpeg.content_grid == JPEG_GRID and jpeg.grid % JPEG_GRID == 0
    assert denoise.content_grid == 1 and denoise.grid == denoise.multiple
    with pytest.warns(UserWarning, match="random weights"):
        untrained = make_restorer("dncnn", task="jpeg", self_ensemble=True, depth=3)
    assert untrained.content_grid == JPEG_GRID


def test_arch_at_weights_loads_a_trained_file(tmp_path: Path, gray_image: np.ndarray) -> None:
    from restorekit.restorers.base import build_net
    from restorekit.weights import save_weights

    net = build_net("dncnn", depth=3, channels=8)
    path = save_weights(net, tmp_path / "tiny.safetensors", arch="dncnn",
                        config={"depth": 3, "channels": 8})
    restorer = make_restorer(f"dncnn@{path}", device="cpu")
    assert restorer.restore(gray_image).shape == gray_image.shape


def test_a_net_for_one_scale_refuses_the_others(tmp_path: Path, gray_image: np.ndarray) -> None:
    from restorekit.restorers.base import build_net
    from restorekit.weights import save_weights

    config = {"scale": 3, "channels": 4, "num_blocks": 1}
    path = save_weights(build_net("edsr", **config), tmp_path / "x3.safetensors", arch="edsr",
                        config=config)
    small = gray_image[:20, :22]
    out, info = restore_task(small, "sr", scale=3, weights=str(path), device="cpu")
    assert out.shape == (60, 66) and info.method == "edsr"
    with pytest.raises(RestorekitError, match="x3 upscaling only, not x2"):
        restore_task(small, "sr", scale=2, weights=str(path), device="cpu")


def test_cache_reuses_restorers(gray_image: np.ndarray) -> None:
    cache: dict = {}
    restore_task(gray_image, model="median", cache=cache)
    first = next(iter(cache.values()))
    restore_task(gray_image, model="median", cache=cache)
    assert len(cache) == 1 and next(iter(cache.values())) is first


def test_weights_alone_name_their_architecture(tmp_path: Path, gray_image: np.ndarray) -> None:
    """--weights without --model uses the card's arch; with a shipped model's name, the card
    must name that model's arch (new weights for it), else the conflict is refused."""
    from restorekit.restorers.base import build_net
    from restorekit.weights import save_weights

    path = save_weights(build_net("dncnn", depth=3, channels=8), tmp_path / "w.safetensors",
                        arch="dncnn", config={"depth": 3, "channels": 8})
    out, info = restore_task(gray_image, model="auto", weights=str(path), device="cpu")
    assert info.method == "dncnn" and out.shape == gray_image.shape
    with pytest.raises(RestorekitError, match="holds dncnn weights but rk-unet-gray-blind is a "
                                              "rk-unet: give rk-unet weights, or --model dncnn"):
        restore_task(gray_image, model="rk-unet-gray-blind", weights=str(path), device="cpu")
    unet = {"in_channels": 1, "out_channels": 1, "channels": [8, 16], "num_blocks": 1}
    mine = save_weights(build_net("rk-unet", **unet), tmp_path / "unet.safetensors",
                        arch="rk-unet", config=unet)
    out, info = restore_task(gray_image, model="rk-unet-gray-blind", weights=str(mine),
                             device="cpu", sigma=10.0)
    assert info.method == "rk-unet" and out.shape == gray_image.shape
    (tmp_path / "w.json").unlink()
    with pytest.raises(RestorekitError, match="no model card"):
        restore_task(gray_image, weights=str(path))


class _Brighten:
    """A stand-in gray (1-channel) net: adds 0.05 to whatever it is given."""

    name = "brighten"
    uses_sigma = False
    in_channels = 1

    def restore(self, image: np.ndarray, sigma: float | None = None) -> np.ndarray:
        return image + np.float32(0.05)


def test_gray_deblocker_and_sr_nets_run_on_colour_in_ycbcr(rgb_image: np.ndarray) -> None:
    from restorekit.api import restore_in_ycbcr
    from restorekit.io import rgb_to_ycbcr

    image = np.clip(rgb_image, 0.2, 0.8).astype(np.float32)  # no clipping after the shift
    ycc = rgb_to_ycbcr(image)
    out, info = restore_in_ycbcr(image, _Brighten(), luma_only=True)  # SR: Y only
    delta = rgb_to_ycbcr(out) - ycc
    assert np.allclose(delta[..., 0], 0.05, atol=1e-4)
    assert np.allclose(delta[..., 1:], 0.0, atol=1e-4) and "Y restored" in info.extra["colour"]
    out, _ = restore_in_ycbcr(image, _Brighten(), luma_only=False)  # JPEG: Y, Cb and Cr
    assert np.allclose(rgb_to_ycbcr(out) - ycc, 0.05, atol=1e-4)
    gray = image[..., 0]
    out, info = restore_in_ycbcr(gray, _Brighten(), luma_only=True)  # gray passes straight
    assert np.allclose(out, gray + 0.05) and "colour" not in info.extra


def test_shipped_deblocker_removes_jpeg_blocking(gray_image: np.ndarray,
                                                 rgb_image: np.ndarray) -> None:
    from restorekit.degrade import degrade

    for image in (gray_image, rgb_image):  # colour goes through the gray net in YCbCr
        jpeg, _ = degrade(image, "jpeg:quality=10", seed=0)
        out, info = restore_task(jpeg, "jpeg")
        assert info.method == "rk-unet-jpeg-gray" and out.shape == image.shape
        # on colour the luma gains most: 4:2:0 chroma lost resolution no deblocker restores
        y = {"y_channel": image.ndim == 3}
        assert psnr(out, image, **y) > psnr(jpeg, image, **y) + 0.5
        assert psnr(out, image) > psnr(jpeg, image)


def test_package_functions_survive_the_import_of_same_named_subpackages() -> None:
    """``restorekit.degrade`` stays the function after the subpackage of that name is imported
    (by the API itself or by the user), in a fresh interpreter where nothing was imported yet."""
    import subprocess
    import sys

    code = (
        "import numpy as np, restorekit as rk\n"
        "import restorekit.degrade.noise\n"
        "from restorekit.degrade import parse_spec\n"
        "img = np.full((16, 16), 0.5, np.float32)\n"
        "a, _ = rk.degrade(img, 'gaussian:sigma=25', seed=0)\n"
        "b, _ = rk.degrade(img, 'gaussian:sigma=25', seed=0)\n"
        "assert callable(rk.degrade) and np.array_equal(a, b)\n"
        "assert callable(parse_spec)\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_unclipped_noise_reaches_the_denoiser_as_it_is(gray_image: np.ndarray) -> None:
    """AWGN-convention input (values below 0 and above 1) is not clipped before the denoiser:
    the default path gives what the restorer gives on the same array."""
    x = noisy(gray_image, sigma=50)
    assert x.min() < 0 and x.max() > 1
    out, info = restore_task(x, sigma=50)
    direct = make_restorer(info.method, image_channels=1).restore(x, sigma=50)
    assert np.allclose(out, np.clip(direct, 0, 1), atol=1e-6)
    clipped, _ = restore_task(np.clip(x, 0, 1), sigma=50)
    assert not np.allclose(out, clipped, atol=1e-3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
def test_non_finite_images_are_refused(gray_image: np.ndarray, bad: float) -> None:
    x = gray_image.astype(np.float64)
    x[3, 4] = bad
    with pytest.raises(RestorekitError, match="NaN or infinite"):
        restore_task(x, model="gaussian-filter", sigma=10)


@pytest.mark.parametrize("shape", [(3, 24, 24), (24, 24, 4), (24, 24, 2), (2, 24, 24, 3)])
def test_arrays_that_are_not_images_are_refused(shape: tuple[int, ...]) -> None:
    """A channel-first or RGBA array would be restored as a wrong image: one clear error."""
    with pytest.raises(RestorekitError, match="C = 1 or 3"):
        restorekit.restore(np.full(shape, 0.5, np.float32), "median")

