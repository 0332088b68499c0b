"""The Degradation contract: seeding, purity, overrides, sampling, chains, specs and errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from restorekit.degrade import (
    JPEG,
    Chain,
    Choice,
    Gaussian,
    Mask,
    Resample,
    SaltPepper,
    Uniform,
    degrade,
    list_degradations,
    parse_spec,
)
from restorekit.errors import SpecError

SPECS = [
    "gaussian:sigma=25",
    "gaussian:sigma=0-50,clip=true",
    "gaussian:sigma=15|25|50",
    "poisson:peak=4",
    "nlf:b1=0.01,b2=0.0004",
    "nlf:b1=0.001-0.02,b2=0.0001,clip=false",
    "salt-pepper:amount=0.1,ratio=0.2,per-channel=true",
    "speckle:sigma=0.3",
    "mask:lower-half",
    "mask:upper-half,fill=0.5",
    "mask:box=8,8,16,16",
    "mask:box=0.25,0,0.5,1.0",
    "mask:random-boxes=1-5,size=6",
    "box-noise:box=4,4,10,10,noise=salt-pepper,amount=0.3",
    "box-noise:box=0.1,0.1,0.5,0.5,random=true,sigma=75",
    "jpeg:quality=10",
    "jpeg:quality=10-90,subsampling=4:4:4",
    "resample:scale=4",
    "resample:scale=2|3|4,down=nearest,up=bilinear,clip=false",
    "resample:scale=1.5-3.5",
    "identity",
    "mask:lower-half+gaussian:sigma=50",
    "gaussian:sigma=25+jpeg:quality=30+resample:scale=2",
]


def _batch(img: np.ndarray, n: int = 2) -> torch.Tensor:
    t = torch.from_numpy(img)
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    return t[None].repeat(n, 1, 1, 1)


@pytest.mark.parametrize("spec", SPECS)
def test_canonical_specs_round_trip(spec: str) -> None:
    d = parse_spec(spec)
    assert d.spec == spec
    assert parse_spec(d.spec) == d
    assert hash(parse_spec(d.spec)) == hash(d)


@pytest.mark.parametrize(
    ("loose", "canonical"),
    [
        ("gaussian", "gaussian:sigma=25"),
        ("Gaussian:25", "gaussian:sigma=25"),
        (" gaussian : sigma = 25.0 ", "gaussian:sigma=25"),
        ("awgn:sigma=25,clip=false", "gaussian:sigma=25"),
        ("jpeg:20", "jpeg:quality=20"),
        ("resample:3", "resample:scale=3"),
        ("salt_pepper:amount=0.1,per_channel=yes", "salt-pepper:amount=0.1,per-channel=true"),
        ("mask:box", "mask:box=0.25,0.25,0.5,0.5"),
        ("mask:random-boxes", "mask:random-boxes=3"),
        ("mask:region=lower-half", "mask:lower-half"),
        ("poisson-gaussian", "nlf:b1=0.01,b2=0.0004"),
        ("none", "identity"),
    ],
)
def test_loose_specs_normalise(loose: str, canonical: str) -> None:
    assert parse_spec(loose).spec == canonical


def test_python_constructors_match_specs() -> None:
    assert Gaussian(25) == parse_spec("gaussian:sigma=25")
    assert Gaussian(sigma=(0, 50)) == parse_spec("gaussian:sigma=0-50")
    assert Gaussian(sigma=Uniform(0, 50)) == parse_spec("gaussian:sigma=0-50")
    assert Resample(scale=[2, 3, 4]) == parse_spec("resample:scale=2|3|4")
    assert Resample(scale=Choice(2, 3, 4)) == parse_spec("resample:scale=2|3|4")
    assert Mask(box=(8, 8, 16, 16)) == parse_spec("mask:box=8,8,16,16")
    assert Gaussian(1e-5).spec == "gaussian:sigma=1e-05"
    assert parse_spec(Gaussian(sigma=Uniform(1e-5, 1e-3)).spec) == Gaussian(sigma=(1e-5, 1e-3))
    assert Gaussian(25) + JPEG(10) == parse_spec("gaussian:sigma=25+jpeg:quality=10")
    assert Chain(["mask:lower-half", Gaussian(50)]).spec == "mask:lower-half+gaussian:sigma=50"
    assert (Gaussian(25) + "jpeg:10").spec == "gaussian:sigma=25+jpeg:quality=10"
    assert Gaussian(25) != Gaussian(26) and Gaussian(25) != JPEG(25)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_seeded_and_pure(spec: str, backend: str, rgb_image: np.ndarray) -> None:
    x = rgb_image if backend == "numpy" else _batch(rgb_image)
    before = x.copy() if backend == "numpy" else x.clone()
    d = parse_spec(spec)
    a, pa = d(x, rng=123)
    b, pb = d(x, rng=123)
    assert a is not x
    assert a.shape == x.shape and a.dtype == x.dtype
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert (x == before).all()  # the input is never modified
    assert pa.keys() == pb.keys()


@pytest.mark.parametrize(
    "spec",
    [
        "gaussian:sigma=25",
        "poisson:peak=10",
        "nlf",
        "speckle",
        "salt-pepper:amount=0.2",
        "mask:random-boxes=4",
        "box-noise:random=true",
        "resample:scale=1-4",
    ],
)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_different_seeds_differ(spec: str, backend: str, rgb_image: np.ndarray) -> None:
    x = rgb_image if backend == "numpy" else _batch(rgb_image)
    d = parse_spec(spec)
    a, _ = d(x, rng=1)
    b, _ = d(x, rng=2)
    assert not np.array_equal(np.asarray(a), np.asarray(b))


def test_rng_forms(gray_image: np.ndarray) -> None:
    d = Gaussian(25)
    a, _ = d(gray_image, rng=np.random.default_rng(5))
    b, _ = d(gray_image, rng=5)
    np.testing.assert_array_equal(a, b)
    c, _ = d(gray_image)  # fresh entropy
    assert not np.array_equal(a, c)
    gen = np.random.default_rng(0)
    first, _ = d(gray_image, rng=gen)
    second, _ = d(gray_image, rng=gen)  # a shared generator advances
    assert not np.array_equal(first, second)
    with pytest.raises(TypeError):
        d(gray_image, rng="seed")


def test_overrides_apply_to_one_call(gray_image: np.ndarray) -> None:
    d = Gaussian(25)
    y, params = d(gray_image, rng=0, sigma=50)
    assert params["sigma"] == 50
    assert d.spec == "gaussian:sigma=25"
    ref, _ = Gaussian(50)(gray_image, rng=0)
    np.testing.assert_array_equal(y, ref)
    _, params = d(gray_image, rng=0, sigma="0-5")
    assert 0 <= params["sigma"] <= 5
    with pytest.raises(SpecError, match="sigam"):
        d(gray_image, rng=0, sigam=5)
    with pytest.raises(SpecError, match="-1"):
        d(gray_image, rng=0, sigma=-1)
    assert d.with_params(clip=True).spec == "gaussian:sigma=25,clip=true"


def test_chain_overrides_go_to_every_step_with_the_key(gray_image: np.ndarray) -> None:
    chain = parse_spec("gaussian:sigma=5+jpeg:quality=90+speckle:sigma=0.1")
    _, params = chain(gray_image, rng=0, quality=20)
    assert [s.get("quality") for s in params["steps"]] == [None, 20, None]
    with pytest.raises(SpecError, match="peak"):
        chain(gray_image, rng=0, peak=3)


def test_sampled_parameters_are_recorded_and_used(gray_image: np.ndarray) -> None:
    d = parse_spec("gaussian:sigma=0-50")
    big = np.full((500, 500), 0.5, np.float32)
    sigmas = []
    for seed in range(4):
        y, params = d(big, rng=seed)
        s = params["sigma"]
        sigmas.append(s)
        assert 0 <= s <= 50
        assert abs((y - 0.5).std() - s / 255) < 0.03 * s / 255 + 1e-4
    assert len(set(sigmas)) == 4
    _, params = parse_spec("jpeg:quality=10-90")(gray_image, rng=0)
    assert isinstance(params["quality"], int) and 10 <= params["quality"] <= 90


def test_sampled_parameters_per_image_on_batches() -> None:
    x = torch.full((8, 1, 100, 100), 0.5)
    y, params = parse_spec("gaussian:sigma=0-50")(x, rng=0)
    sig = params["sigma"]
    assert isinstance(sig, list) and len(sig) == 8 and len(set(sig)) == 8
    stds = (y - 0.5).flatten(1).std(dim=1).numpy() * 255
    np.testing.assert_allclose(stds, sig, rtol=0.05, atol=0.1)
    _, fixed = Gaussian(10)(x, rng=0)
    assert fixed["sigma"] == 10.0  # fixed parameters stay scalars


def test_chain_applies_in_order(gray_image: np.ndarray) -> None:
    mask_then_sp, params = parse_spec("mask:lower-half+salt-pepper:amount=0.3")(gray_image, rng=0)
    lower = mask_then_sp[32:]
    assert np.any(lower == 1)  # salt lands inside the blacked-out area
    assert [s["name"] for s in params["steps"]] == ["mask", "salt-pepper"]
    assert params["name"] == "chain"
    noise_then_mask, params = parse_spec("gaussian:sigma=50+mask:lower-half")(gray_image, rng=0)
    assert np.all(noise_then_mask[32:] == 0)
    np.testing.assert_array_equal(params["steps"][1]["mask"][32:], True)


def test_chain_equals_steps_applied_with_one_generator(gray_image: np.ndarray) -> None:
    a, b = Gaussian(20), SaltPepper(0.1)
    y, _ = (a + b)(gray_image, rng=9)
    gen = np.random.default_rng(9)
    ref, _ = b(a(gray_image, gen)[0], gen)
    np.testing.assert_array_equal(y, ref)
    nested = Chain([a + b, JPEG(50)])
    assert len(nested.steps) == 3


def test_degrade_convenience(gray_image: np.ndarray) -> None:
    y, params = degrade(gray_image, "gaussian:sigma=10", seed=3)
    ref, _ = Gaussian(10)(gray_image, rng=3)
    np.testing.assert_array_equal(y, ref)
    y2, _ = degrade(gray_image, Gaussian(10), seed=3)
    np.testing.assert_array_equal(y2, ref)


def test_bad_images_are_rejected(gray_image: np.ndarray) -> None:
    d = Gaussian(10)
    with pytest.raises(TypeError):
        d((gray_image * 255).astype(np.uint8))
    with pytest.raises(ValueError):
        d(np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError):
        d(torch.zeros(3, 8, 8))
    with pytest.raises(TypeError):
        d([[0.5]])


@pytest.mark.parametrize(
    ("spec", "token"),
    [
        ("gausian:sigma=5", "gausian"),
        ("gaussian:sigam=5", "sigam"),
        ("gaussian:sigma=abc", "abc"),
        ("gaussian:sigma=-5", "-5"),
        ("gaussian:sigma=nan", "nan"),
        ("gaussian:sigma=1e400", "1e400"),
        ("gaussian:sigma=50-10", "50-10"),
        ("gaussian:clip=maybe", "maybe"),
        ("gaussian:25,clip", "clip"),
        ("gaussian:sigma=5,sigma=6", "sigma"),
        ("gaussian:", "gaussian:"),
        ("gaussian:=5", "=5"),
        ("gaussian+", "empty step"),
        ("+jpeg", "empty step"),
        ("poisson:peak=0", "0"),
        ("jpeg:quality=0", "0"),
        ("jpeg:quality=101", "101"),
        ("jpeg:quality=50.5", "50.5"),
        ("jpeg:subsampling=4:1:1", "4:1:1"),
        ("salt-pepper:amount=1.5", "1.5"),
        ("salt-pepper:ratio=-0.1", "-0.1"),
        ("speckle:sigma=-1", "-1"),
        ("nlf:b1=-0.01", "-0.01"),
        ("resample:scale=0.5", "0.5"),
        ("resample:scale=2,up=lanczos", "lanczos"),
        ("identity:x=1", "x"),
        ("mask:lower-half+gaussian:sigma=5+jpg:quality=q", "q"),
    ],
)
def test_spec_errors_name_the_bad_token(spec: str, token: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    msg = str(info.value)
    assert token in msg and "\n" not in msg
    assert msg.startswith(f"bad degradation spec {spec!r}: ")


#: The built-in steps a user can rely on (identity last).
BUILTIN_STEPS = ("gaussian", "poisson", "nlf", "salt-pepper", "speckle", "mask", "box-noise",
                 "jpeg", "resample", "identity")


def test_unknown_step_lists_known_names() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("gausian:sigma=5")
    msg = str(info.value)
    for name in BUILTIN_STEPS[:-1]:  # identity is a no-op, not listed as damage
        assert name in msg
    assert "did you mean 'gaussian'" in msg
    with pytest.raises(SpecError, match="sigma, clip"):
        parse_spec("gaussian:sigam=5")


@pytest.mark.parametrize("bad", ["", "   ", None, 5])
def test_non_specs(bad: object) -> None:
    with pytest.raises(SpecError):
        parse_spec(bad)  # type: ignore[arg-type]


def test_list_degradations() -> None:
    infos = list_degradations()
    names = [i.name for i in infos]
    for name in BUILTIN_STEPS:
        assert name in names
    for info in infos:
        assert info.summary and "\n" not in str(info)
        assert parse_spec(info.example).name == info.name
        for p in info.params:
            assert p.help and p.expected
    gaussian = infos[names.index("gaussian")]
    assert [p.key for p in gaussian.params] == ["sigma", "clip"]
    assert "nlf" in str(infos[names.index("nlf")])


def test_config_shows_samplers() -> None:
    cfg = parse_spec("gaussian:sigma=0-50").config
    assert cfg == {"sigma": Uniform(0.0, 50.0), "clip": False}
    assert parse_spec("mask:lower-half").config == {"region": "lower-half", "fill": 0.0}


def test_import_does_not_import_torch() -> None:
    code = "import sys, restorekit.degrade; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
