"""Property tests: random valid specs work on any image; random text parses or raises SpecError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from restorekit.degrade import list_degradations, parse_spec
from restorekit.errors import SpecError

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _num(lo: float, hi: float, integer: bool = False) -> st.SearchStrategy[str]:
    """A fixed value, a lo-hi range or a|b|c choice, as spec text."""
    one = st.integers(int(lo), int(hi)) if integer else st.floats(lo, hi).map(lambda v: round(v, 3))
    fixed = one.map(str)
    rng = st.tuples(one, one).map(lambda t: f"{min(t)}-{max(t)}")
    choice = st.lists(one, min_size=1, max_size=3).map(lambda vs: "|".join(map(str, vs)))
    return st.one_of(fixed, rng, choice)


def _clipped(name: str, default: bool) -> st.SearchStrategy[tuple[str, bool]]:
    """(",clip=..." or "", whether the step's output is in [0, 1])."""
    return st.sampled_from([("", default), (",clip=true", True), (",clip=false", False)])


BOX = st.one_of(
    st.tuples(*[st.integers(0, 30)] * 4).map(lambda b: ",".join(map(str, b))),
    st.tuples(*[st.floats(0, 1).map(lambda v: round(v, 2))] * 4).map(
        lambda b: ",".join(f"{v:.2f}" for v in b)
    ),
)
KERNEL = st.sampled_from(["nearest", "bilinear", "bicubic", "nearest|bicubic"])


#: Every registered step name (inputs for the generators, so new steps get fuzzed too).
STEP_NAMES = sorted(info.name for info in list_degradations())


@st.composite
def step(draw: st.DrawFn) -> tuple[str, str]:
    """One valid step and its effect on the range: "clips", "keeps" or "breaks"."""
    kind = draw(
        st.sampled_from(STEP_NAMES)
    )
    if kind in ("gaussian", "poisson", "speckle", "nlf"):
        args = {
            "gaussian": f"sigma={draw(_num(0, 100))}",
            "poisson": f"peak={draw(_num(0.5, 200))}",
            "speckle": f"sigma={draw(_num(0, 1))}",
            "nlf": f"b1={draw(_num(0, 0.05))},b2={draw(_num(0, 0.01))}",
        }[kind]
        clip, ok = draw(_clipped(kind, kind == "nlf"))
        return f"{kind}:{args}{clip}", "clips" if ok else "breaks"
    if kind == "salt-pepper":
        pc = draw(st.sampled_from(["", ",per-channel=true"]))
        return f"salt-pepper:amount={draw(_num(0, 1))},ratio={draw(_num(0, 1))}{pc}", "keeps"
    if kind == "mask":
        region = draw(
            st.one_of(
                st.sampled_from(
                    ["lower-half", "upper-half", "left-half", "right-half", "file=MASK"]
                ),
                BOX.map(lambda b: f"box={b}"),
                st.tuples(
                    _num(1, 5, integer=True), st.sampled_from(["", ",size=3", ",size=0.5"])
                ).map(lambda t: f"random-boxes={t[0]}{t[1]}"),
            )
        )
        fill = draw(st.sampled_from(["", ",fill=1", ",fill=0-1"]))
        return f"mask:{region}{fill}", "keeps"
    if kind == "box-noise":
        noise = draw(
            st.sampled_from(
                [f",sigma={draw(_num(0, 100))}", f",noise=salt-pepper,amount={draw(_num(0, 1))}"]
            )
        )
        rnd = draw(st.sampled_from(["", ",random=true"]))
        return f"box-noise:box={draw(BOX)}{noise}{rnd}", "keeps"  # clips inside the box only
    if kind == "jpeg":
        sub = draw(st.sampled_from(["", ",subsampling=4:4:4", ",subsampling=4:2:2"]))
        return f"jpeg:quality={draw(_num(1, 100, integer=True))}{sub}", "clips"
    if kind == "resample":
        clip = draw(st.sampled_from(["", ",clip=false"]))
        spec = f"resample:scale={draw(_num(1, 5))},down={draw(KERNEL)},up={draw(KERNEL)}{clip}"
        return spec, "breaks" if clip else "clips"
    return "identity", "keeps"


@st.composite
def valid_spec(draw: st.DrawFn) -> tuple[str, bool]:
    steps = draw(st.lists(step(), min_size=1, max_size=3))
    in_range = True
    for _, effect in steps:
        in_range = {"clips": True, "breaks": False, "keeps": in_range}[effect]
    return "+".join(s for s, _ in steps), in_range


@pytest.fixture(scope="module")
def mask_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("masks") / "holes.png"
    m = np.zeros((21, 17), np.uint8)
    m[3:9, 4:12] = 255
    Image.fromarray(m).save(path)
    return path


@SETTINGS
@given(spec=valid_spec(), channels=st.sampled_from([0, 1, 3]), seed=st.integers(0, 2**32))
def test_valid_specs_keep_shape_dtype_and_range(
    spec: tuple[str, bool], channels: int, seed: int, mask_file: Path
) -> None:
    text, in_range = spec
    text = text.replace("MASK", str(mask_file))
    d = parse_spec(text)
    assert parse_spec(d.spec) == d
    rng = np.random.default_rng(seed)
    shape = (21, 17) + ((channels,) if channels else ())
    x = rng.uniform(0, 1, shape).astype(np.float32)
    before = x.copy()
    y, params = d(x, rng=seed)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.all(np.isfinite(y))
    if in_range:
        assert y.min() >= 0 and y.max() <= 1
    np.testing.assert_array_equal(x, before)
    y2, _ = d(x, rng=seed)
    np.testing.assert_array_equal(y, y2)
    assert isinstance(params, dict) and "name" in params


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=valid_spec(), seed=st.integers(0, 2**32))
def test_valid_specs_on_torch_batches(spec: tuple[str, bool], seed: int, mask_file: Path) -> None:
    text, in_range = spec
    d = parse_spec(text.replace("MASK", str(mask_file)))
    x = torch.rand((2, 3, 21, 17), generator=torch.Generator().manual_seed(seed % 2**31))
    y, _ = d(x, rng=seed)
    assert y.shape == x.shape and y.dtype == x.dtype and bool(torch.isfinite(y).all())
    if in_range:
        assert float(y.min()) >= 0 and float(y.max()) <= 1


TOKENS = [
    *STEP_NAMES,
    "sigma",
    "peak",
    "b1",
    "quality",
    "scale",
    "amount",
    "box",
    "file",
    "random-boxes",
    "lower-half",
    "fill",
    "clip",
    "down",
    "nearest",
    "size",
    "true",
    ":",
    "=",
    ",",
    "+",
    "|",
    "-",
    ".",
    "e",
    "0",
    "1",
    "5",
    "25",
    "0.5",
    "1e400",
    "nan",
    " ",
    "subsampling",
    "4:2:0",
    "region",
    "noise",
    "/",
    "\x00",
    "random",
]
NAMES = st.sampled_from(TOKENS[:10] + ["gausian", "", "Mask", "sp"])
KEYS = st.sampled_from(
    [
        "sigma",
        "peak",
        "b1",
        "b2",
        "clip",
        "amount",
        "ratio",
        "per-channel",
        "box",
        "random-boxes",
        "size",
        "file",
        "fill",
        "region",
        "noise",
        "random",
        "quality",
        "subsampling",
        "scale",
        "down",
        "up",
        "x",
        "",
    ]
)
VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "2",
            "3",
            "0.5",
            "-1",
            "1e400",
            "nan",
            "true",
            "no",
            "maybe",
            "0-50",
            "50-0",
            "2|3|4",
            "|",
            "1,2,3,4",
            "0.1,0.1,0.5,0.5",
            "1,2",
            "bicubic",
            "nearest|bilinear",
            "4:4:4",
            "salt-pepper",
            "lower-half",
            "box",
            "file",
            ".",
            "",
            "1e-3-1e-2",
            "100",
            "101",
            "64",
            "65",
        ]
    ),
    st.text(max_size=6),
)
STRUCTURED = st.lists(
    st.tuples(NAMES, st.lists(st.tuples(KEYS, VALUES), max_size=3)),
    min_size=1,
    max_size=3,
).map(
    lambda steps: "+".join(
        name + (":" + ",".join(f"{k}={v}" if k else v for k, v in args) if args else "")
        for name, args in steps
    )
)


@SETTINGS
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.lists(st.sampled_from(TOKENS), max_size=12).map("".join),
        STRUCTURED,
    )
)
def test_garbage_parses_or_raises_spec_error(text: str) -> None:
    try:
        d = parse_spec(text)
    except SpecError as exc:
        assert "\n" not in str(exc)
        return
    assert parse_spec(d.spec) == d
    try:
        y, _ = d(np.full((9, 8, 3), 0.5, np.float32), rng=0)
    except SpecError:
        return  # e.g. a mask file of another size
    assert y.shape == (9, 8, 3)
