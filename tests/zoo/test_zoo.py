"""The shipped zoo: cards, checksums, default choice, and publishing a run into a zoo folder."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import restorekit.zoo as zoo
from restorekit.errors import RestorekitError, UnknownNameError, WeightsError
from restorekit.metrics import psnr
from restorekit.restorers.base import build_net
from restorekit.zoo.publish import publish, render_zoo_docs, training_stages

SHIPPED = "rk-unet-gray-blind"


@pytest.fixture
def temp_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty zoo folder in place of the package's (cache cleared before and after)."""
    folder = tmp_path / "zoo"
    folder.mkdir()
    monkeypatch.setattr(zoo, "ZOO_DIR", folder)
    zoo.zoo_models.cache_clear()
    yield folder
    zoo.zoo_models.cache_clear()


def test_shipped_models_have_complete_cards_and_fit_the_size_budget() -> None:
    models = zoo.zoo_models()
    assert SHIPPED in models
    total = sum(m.weights.stat().st_size for m in models.values())
    assert total < 30 * 2**20
    readme = (Path(zoo.__file__).parents[2] / "README.md").read_text()
    said = re.search(r"weights \((\d+) MiB in all\)", readme)
    assert said and int(said.group(1)) == round(total / 2**20), "README's zoo size is stale"
    for model in models.values():
        card = model.card
        for key in ("data", "licence", "task", "channels", "status"):
            assert card["zoo"][key] not in ("", None), (model.name, key)
        for stage in training_stages(card["training"]):
            assert stage["config_file"].endswith(".toml")
            assert (Path(zoo.__file__).parents[1].parent / stage["config_file"]).is_file()
        assert card["metrics"], model.name


def test_default_model_by_task_and_channels() -> None:
    assert zoo.default_model("denoise", 1) == SHIPPED
    assert zoo.default_model("denoise", 3) is not None  # a gray model runs per channel
    assert zoo.default_model("no-such-task", 1) is None
    assert SHIPPED in zoo.shipped_models()["rk-unet"]


def test_shipped_denoiser_removes_noise(gray_image: np.ndarray) -> None:
    noisy = gray_image + np.random.default_rng(0).normal(0, 25 / 255, gray_image.shape)
    restorer = zoo.load_zoo_restorer(SHIPPED, device="cpu")
    assert restorer.name == SHIPPED and restorer.uses_sigma
    out = restorer.restore(noisy.astype(np.float32))
    assert psnr(out, gray_image) > psnr(np.clip(noisy, 0, 1), gray_image) + 6


def test_unknown_name_and_corrupt_weights_are_refused(temp_zoo: Path) -> None:
    src = Path(zoo.__file__).parent
    for suffix in (".json", ".safetensors"):
        shutil.copy(src / f"{SHIPPED}{suffix}", temp_zoo / f"{SHIPPED}{suffix}")
    zoo.zoo_models.cache_clear()
    with pytest.raises(UnknownNameError, match="no shipped model"):
        zoo.get_zoo_model("nope")
    weights = temp_zoo / f"{SHIPPED}.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        zoo.load_zoo_restorer(SHIPPED, device="cpu")


def _fake_run(run_dir: Path, step: int, steps: int, **train: object) -> None:
    """A checkpoint as the trainer writes it, for a tiny DnCNN."""
    config = {"name": "tiny", "description": "tiny dncnn",
              "model": {"name": "dncnn", "config": {"depth": 3, "channels": 8}},
              "train": {"steps": steps, "seed": 3, **train}}
    torch.manual_seed(0)
    net = build_net("dncnn", depth=3, channels=8)
    ema = {k: v + 0.0 for k, v in net.state_dict().items()}
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save({"step": step, "elapsed": 12.5, "model": net.state_dict(), "ema": ema,
                "config": config}, run_dir / "checkpoints" / "last.pt")


def test_publish_writes_card_with_metrics_and_status(temp_zoo: Path, tmp_path: Path,
                                                     gray_image: np.ndarray) -> None:
    from restorekit.io import write_image

    data = tmp_path / "data" / "tiny_set"
    data.mkdir(parents=True)
    for i in range(2):
        write_image(data / f"{i}.png", np.roll(gray_image, 5 * i, axis=1))
    _fake_run(tmp_path / "run", step=40, steps=100)
    card_file = publish(tmp_path / "run", name="tiny-dn", task="denoise", default=True,
                        data="synthetic", licence="CC0", config_file="x.toml",
                        evals=[("tiny_set", "gaussian:sigma=25")], zoo_dir=temp_zoo,
                        data_root=tmp_path / "data")
    card = json.loads(card_file.read_text())
    assert card["zoo"]["status"] == "interim snapshot at step 40 of 100"
    assert card["training"]["ema"] is True and card["training"]["seed"] == 3
    (metrics,) = card["metrics"]
    assert metrics["images"] == 2 and metrics["input_psnr"] == pytest.approx(20.2, abs=0.5)
    assert "sigma_psnr" not in metrics  # dncnn takes no noise level
    assert zoo.default_model("denoise", 1) == "tiny-dn"
    assert zoo.load_zoo_restorer("tiny-dn", device="cpu").name == "tiny-dn"


def _publish_fakes(tmp_path: Path, zoo_dir: Path, task: str,
                   **models: dict[str, object]) -> None:
    """Publish one finished fake run into ``zoo_dir`` under each name, with its card options."""
    if not (tmp_path / "run").exists():
        _fake_run(tmp_path / "run", step=100, steps=100)
    for name, options in models.items():
        publish(tmp_path / "run", name=name.replace("_", "-"), task=task, data="synthetic",
                licence="CC0", config_file="x.toml", zoo_dir=zoo_dir, **options)


def test_colour_falls_back_to_the_default_gray_model_not_a_specialist(
        temp_zoo: Path, tmp_path: Path) -> None:
    _publish_fakes(tmp_path, temp_zoo, "denoise", b_default={"default": True},
                   a_specialist={})  # listed first, not default
    assert zoo.default_model("denoise", 1) == "b-default"
    assert zoo.default_model("denoise", 3) == "b-default"  # gray, run per channel


def test_a_default_made_for_the_scale_beats_a_multi_scale_default(
        temp_zoo: Path, tmp_path: Path) -> None:
    _publish_fakes(tmp_path, temp_zoo, "sr", b_all_scales={"default": True, "scales": [2, 3, 4]},
                   c_x3={"default": True, "scales": [3]})
    assert zoo.default_model("sr", 1, 3) == "c-x3"
    assert zoo.default_model("sr", 1, 2) == zoo.default_model("sr", 1, 4) == "b-all-scales"
    assert zoo.default_model("sr", 3, 3) == "c-x3"  # gray, run on Y


def test_a_jpeg_model_made_for_low_qualities_is_picked_only_within_them(
        temp_zoo: Path, tmp_path: Path) -> None:
    _publish_fakes(tmp_path, temp_zoo, "jpeg", b_all={"default": True},
                   a_low={"qualities": [5, 30]})
    assert zoo.default_model("jpeg", 1) == "b-all"  # quality unknown (not a JPEG file)
    assert [zoo.default_model("jpeg", 1, quality=q) for q in (4, 5, 30, 31)] == [
        "b-all", "a-low", "a-low", "b-all"]
    assert zoo.default_model("jpeg", 3, quality=20) == "a-low"  # gray, run in YCbCr
    assert zoo.picked_for(zoo.get_zoo_model("a-low")) == "gray q5-30,rgb q5-30"
    assert zoo.picked_for(zoo.get_zoo_model("b-all")) == "gray,rgb"
    assert "JPEG qualities: 5-30; **default** for gray q5-30" in render_zoo_docs()
    for bad in ([30, 5], [0, 30], [40]):
        with pytest.raises(RestorekitError, match="qualities"):
            _publish_fakes(tmp_path, temp_zoo, "jpeg", bad={"qualities": bad})


def test_restore_picks_the_shipped_low_quality_deblocker_by_the_quality(
        textured_image: np.ndarray) -> None:
    from restorekit.api import restore_task
    from restorekit.degrade.jpeg import jpeg_roundtrip

    low = next(m for m in zoo.zoo_models().values() if m.task == "jpeg" and m.qualities)
    generalist = zoo.default_model("jpeg", 1)
    image = jpeg_roundtrip(textured_image[..., 0], low.qualities[-1])
    cache: dict = {}
    infos = [restore_task(image, "jpeg", quality=q, cache=cache)[1]
             for q in (low.qualities[-1], low.qualities[-1] + 1)]
    assert [i.method for i in infos] == [low.name, generalist] and low.name != generalist
    # no quality given: it is estimated from the pixels (a PNG that was a JPEG once)
    middle = sum(low.qualities) // 2
    _, info = restore_task(jpeg_roundtrip(textured_image[..., 0], middle), "jpeg", cache=cache)
    assert info.method == low.name
    assert info.extra["jpeg_quality_estimated"] == pytest.approx(middle, abs=1)
    _, info = restore_task(textured_image[..., 0], "jpeg", cache=cache)  # never a JPEG
    assert info.method == generalist and "jpeg_quality_estimated" not in info.extra
    assert len(cache) == 2  # one restorer per model, reused


def test_publish_after_keeps_the_earlier_stage_and_stores_int8(
        temp_zoo: Path, tmp_path: Path, gray_image: np.ndarray) -> None:
    from restorekit.io import write_image

    data = tmp_path / "data" / "tiny_set"
    data.mkdir(parents=True)
    write_image(data / "0.png", gray_image)
    common = dict(task="denoise", data="synthetic", licence="CC0",
                  evals=[("tiny_set", "gaussian:sigma=25")], zoo_dir=temp_zoo,
                  data_root=tmp_path / "data")
    _fake_run(tmp_path / "stage1", step=100, steps=100)
    first = publish(tmp_path / "stage1", name="tiny-dn", config_file="one.toml", **common)
    _fake_run(tmp_path / "stage2", step=60, steps=60, init_grow=True)
    card_file = publish(tmp_path / "stage2", name="tiny-dn", config_file="two.toml",
                        after=first, storage="int8", **common)  # replaces its first card
    card = json.loads(card_file.read_text())
    assert card["storage"] == "int8" and card["metrics"][0]["images"] == 1
    stages = training_stages(card["training"])
    assert [(s["config_file"], s["step"]) for s in stages] == [("one.toml", 100),
                                                                 ("two.toml", 60)]
    recipe = next(line for line in render_zoo_docs().splitlines() if "Recipe" in line)
    assert recipe.index("one.toml") < recipe.index("two.toml") and "160 steps" in recipe
    assert "then grown and fine-tuned: `two.toml`" in recipe  # stage 2 grew stage 1's net
    _fake_run(tmp_path / "stage3", step=10, steps=10, init_partial=True)
    publish(tmp_path / "stage3", name="tiny-dn", config_file="three.toml", after=card_file,
            **common)
    recipe = next(line for line in render_zoo_docs().splitlines() if "Recipe" in line)
    assert "then its matching layers started a new net, trained: `three.toml`" in recipe
    with pytest.raises(RestorekitError, match="not a model card"):
        publish(tmp_path / "stage2", name="x", config_file="two.toml",
                after=tmp_path / "missing.json", **common)


class _Identity:
    name = "identity"
    uses_sigma = False
    in_channels = 1

    def restore(self, image: np.ndarray, sigma: float | None = None) -> np.ndarray:
        return image


def test_sr_evaluation_modcrops_and_crops_the_scale_border(tmp_path: Path,
                                                         rgb_image: np.ndarray) -> None:
    """SR cards follow the Set5 convention: each image cropped to a multiple of the scale,
    scored on Y with a border of the scale factor removed."""
    from restorekit.degrade import degrade
    from restorekit.io import read_image, rgb_to_y, write_image
    from restorekit.zoo.publish import evaluate_model

    data = tmp_path / "set"
    data.mkdir()
    image = rgb_image[:31, :29]  # neither side a multiple of 3
    write_image(data / "a.png", image)
    row = evaluate_model(_Identity(), data, "resample:scale=3", color="y",
                         crop_border="scale", task="sr")
    clean = np.asarray(rgb_to_y(read_image(data / "a.png")[0]), dtype=np.float32)[:30, :27]
    low, _ = degrade(clean, "resample:scale=3", seed=0)
    expected = psnr(np.clip(low, 0, 1), clean, crop_border=3)
    assert row["input_psnr"] == pytest.approx(expected, abs=1e-3)
    assert row["blind_psnr"] == row["input_psnr"]  # the identity "model" changes nothing
    assert row["blind_psnr"] != pytest.approx(psnr(np.clip(low, 0, 1), clean), abs=1e-3)


def test_zoo_docs_render_every_card() -> None:
    text = render_zoo_docs()
    for model in zoo.zoo_models().values():
        assert f"## {model.name}" in text and model.card["sha256"] in text
    assert "| set12 | gaussian:sigma=25 |" in text


def test_mnist_inpainter_redraws_the_lower_half(dataset) -> None:
    """On held-out digits the shipped MNIST model beats the damaged input on the missing half,
    and ``restore_task(..., "inpaint")`` picks it for 28x28 images without a mask."""
    from restorekit.api import restore_task
    from restorekit.data.mnist import load_mnist
    from restorekit.degrade import degrade

    images, _ = load_mnist(dataset("mnist"), "all-test")
    clean = images[:40].astype(np.float32) / 255.0
    gains = []
    for i, digit in enumerate(clean):
        damaged, _ = degrade(digit, "mask:lower-half+salt-pepper:amount=0.2", seed=i)
        out, info = restore_task(np.asarray(damaged, np.float32), "inpaint")
        assert info.method == "rk-unet-mnist-inpaint" and out.shape == (28, 28)
        gains.append(psnr(out[14:], digit[14:]) - psnr(np.clip(damaged[14:], 0, 1), digit[14:]))
    assert np.mean(gains) > 3.0


def test_mnist_inpainter_refuses_the_self_ensemble() -> None:
    """Flipped, the lower half it was trained to fill would be the upper half."""
    from restorekit.api import restore_task

    with pytest.raises(RestorekitError, match="self-ensemble does not apply"):
        restore_task(np.zeros((28, 28), np.float32), "inpaint", self_ensemble=True)


def test_real_pairs_are_scored_as_they_are(tmp_path: Path, rgb_image: np.ndarray) -> None:
    from restorekit.io import read_image, write_image
    from restorekit.zoo.publish import evaluate_model

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_image(tmp_path / f"{name}_mean.png", rgb_image)
        write_image(tmp_path / f"{name}_real.png",
                    np.clip(rgb_image + rng.normal(0, 0.05, rgb_image.shape), 0, 1))
    row = evaluate_model(_Identity(), tmp_path, "pairs")
    expected = np.mean([psnr(read_image(tmp_path / f"{n}_real.png")[0],
                             read_image(tmp_path / f"{n}_mean.png")[0]) for n in ("a", "b")])
    assert row["images"] == 2 and row["input_psnr"] == pytest.approx(expected, abs=1e-3)
    assert row["blind_psnr"] == row["input_psnr"] and "sigma_psnr" not in row


def test_card_protocol_names_how_each_kind_of_eval_was_scored() -> None:
    from restorekit.zoo.publish import _protocol

    synthetic = _protocol(["gaussian:sigma=25"], False, 0)
    assert "seed=image index" in synthetic and "pairs" not in synthetic
    assert "not clipped" in synthetic and "clip=true" not in synthetic
    assert "unless SPEC says clip=true" in _protocol(
        ["gaussian:sigma=25", "gaussian:sigma=25,clip=true"], False, 0)
    real = _protocol(["pairs"], False, 0)
    assert "real noisy images" in real and "seed=image index" not in real
    sr = _protocol(["resample:scale=2"], True, "scale")
    assert "Y channel" in sr and "border of the scale factor cropped" in sr
    assert "4-pixel border cropped" in _protocol(["jpeg:quality=10", "pairs"], False, 4)
