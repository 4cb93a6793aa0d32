"""Weight initialisers: torch's fan and gain computations exactly, then each initialiser's samples by
exact bounds and by statistical tests, never by equality with torch's random numbers.

Every statistical case draws N >= 10^5 values and checks, against the distribution torch's formula
gives (U(-bound, bound) or N(0, std²)):
- the sample mean and the mean of squares each within 5 standard errors (two-sided false alarm
  5.7e-7 each, normal approximation);
- the Kolmogorov–Smirnov statistic D_N below c / sqrt(N) with Q_KS(c) = 1e-6 (c ≈ 2.69);
- uniform ones: every value within ±bound, and the largest |value| above (1 - 1e-3) bound
  (false alarm (1 - 1e-3)^N < e^-100).
So a case fails by chance with probability below ~2e-6; seeds are fixed, so it does not flake.
torch's own samples pass the same checks (the expected distribution is torch's, not a re-derivation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from harness.distributions import distribution_problems
from harness.optim import expect_error, make_ctx

# --------------------------------------------------------------------------------------------------
# Fans and gains, exactly torch's

FAN_SHAPES = [(7, 5), (5, 7), (1, 1), (4, 3, 5), (6, 2, 3, 3), (2, 3, 1, 4, 2), (0, 5), (8, 0, 3)]
GAINS = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
         ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None),
         ("relu", None), ("selu", None), ("leaky_relu", None), ("leaky_relu", 0), ("leaky_relu", 0.2),
         ("leaky_relu", 3), ("leaky_relu", math.sqrt(5))]
BAD_GAINS = [("softmax", None), ("leaky_relu", True), ("leaky_relu", "0.1")]


def _shape_id(shape: tuple) -> str:
    return "x".join(map(str, shape))


@pytest.mark.parametrize("shape", FAN_SHAPES, ids=_shape_id)
def test_fans(shape, request):
    ctx = make_ctx(request, "calculate_fan_in_and_fan_out")
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    got = ctx.impl.get("calculate_fan_in_and_fan_out")(shape)
    if tuple(got) != tuple(expected):
        ctx.fail(f"shape {shape}", f"gives (fan_in, fan_out) = {tuple(got)}, torch gives {tuple(expected)}")


@pytest.mark.parametrize("shape", [(), (5,)], ids=lambda s: _shape_id(s) or "0d")
def test_fans_invalid(shape, request):
    ctx = make_ctx(request, "calculate_fan_in_and_fan_out")
    with pytest.raises(ValueError) as torch_err:
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    expect_error(ctx, f"calculate_fan_in_and_fan_out({shape})", ValueError,
                 f"calculate_fan_in_and_fan_out: {torch_err.value}",
                 lambda: ctx.impl.get("calculate_fan_in_and_fan_out")(shape))


@pytest.mark.parametrize(("nonlinearity", "param"), GAINS, ids=lambda v: str(v))
def test_gain(nonlinearity, param, request):
    ctx = make_ctx(request, "calculate_gain")
    expected = torch.nn.init.calculate_gain(nonlinearity, param)
    got = ctx.impl.get("calculate_gain")(nonlinearity, param)
    if got != expected:
        ctx.fail(f"calculate_gain({nonlinearity!r}, {param!r})", f"is {got!r}, torch's is {expected!r}")


@pytest.mark.parametrize(("nonlinearity", "param"), BAD_GAINS, ids=lambda v: repr(v))
def test_gain_invalid(nonlinearity, param, request):
    ctx = make_ctx(request, "calculate_gain")
    with pytest.raises(ValueError) as torch_err:
        torch.nn.init.calculate_gain(nonlinearity, param)
    expect_error(ctx, f"calculate_gain({nonlinearity!r}, {param!r})", ValueError, f"calculate_gain: {torch_err.value}",
            lambda: ctx.impl.get("calculate_gain")(nonlinearity, param))


# --------------------------------------------------------------------------------------------------
# Distributions


def _torch_fan(shape: tuple, mode: str) -> int:
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    return fan_in if mode.lower() == "fan_in" else fan_out


def expected_scale(name: str, shape: tuple, kw: dict) -> float:
    """torch.nn.init's bound (uniform) or std (normal), with torch's own fan and gain functions."""
    if name.startswith("xavier"):
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        std = kw.get("gain", 1.0) * math.sqrt(2.0 / float(fan_in + fan_out))
    else:
        gain = torch.nn.init.calculate_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0))
        std = gain / math.sqrt(_torch_fan(shape, kw.get("mode", "fan_in")))
    return math.sqrt(3.0) * std if name.endswith("uniform") else std


INITS = [
    ("xavier_uniform", (500, 200), {}, "float64"),
    ("xavier_uniform", (64, 32, 7, 7), {"gain": math.sqrt(2.0)}, "float32"),
    ("xavier_normal", (200, 500), {}, "float32"),
    ("xavier_normal", (32, 64, 7, 7), {"gain": 5.0 / 3}, "float64"),
    ("kaiming_uniform", (500, 200), {}, "float64"),
    ("kaiming_uniform", (200, 500), {"a": math.sqrt(5)}, "float32"),  # torch's default for Linear/Conv weights
    ("kaiming_uniform", (64, 32, 7, 7), {"mode": "fan_out", "nonlinearity": "relu"}, "float32"),
    ("kaiming_normal", (500, 200), {}, "float32"),
    ("kaiming_normal", (64, 32, 7, 7), {"mode": "fan_out", "nonlinearity": "relu"}, "float64"),
    ("kaiming_normal", (128, 32, 25), {"a": 0.2, "mode": "Fan_In", "nonlinearity": "leaky_relu"}, "float64"),
    ("kaiming_normal", (400, 250), {"nonlinearity": "tanh"}, "float64"),
    ("kaiming_uniform", (256, 512, 1, 1), {"nonlinearity": "relu"}, "float32"),  # a 1x1 convolution
    ("kaiming_normal", (512, 256, 1, 1), {"mode": "fan_out"}, "float64"),
]


def _init_id(name: str, shape: tuple, kw: dict, dtype: str) -> str:
    opts = ",".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in kw.items())
    return "-".join(p for p in (name, _shape_id(shape), opts, dtype) if p)


@pytest.mark.parametrize(("name", "shape", "kw", "dtype"), [pytest.param(*c, id=_init_id(*c)) for c in INITS])
def test_distribution(name, shape, kw, dtype, request):
    ctx = make_ctx(request, name, dtype)
    uniform, scale = name.endswith("uniform"), expected_scale(name, shape, kw)
    what = "bound" if uniform else "std"
    story = [f"  expected  {'U(-bound, bound)' if uniform else 'N(0, std²)'} with {what} = {scale!r} "
             f"(torch.nn.init.{name}_ formula for shape {shape}, {kw})"]
    tensor = torch.empty(shape, dtype=getattr(torch, dtype))
    torch.manual_seed(ctx.rng.integers(2**31))
    getattr(torch.nn.init, name + "_")(tensor, **kw)
    torch_problems = distribution_problems(tensor.numpy(), uniform, scale)
    if torch_problems:  # the test's expectation is wrong, not the implementation
        ctx.fail("torch's own samples", "fail the checks: the expected distribution is not torch's",
                 [f"  {p}" for p in torch_problems] + story)
    x = ctx.impl.get(name)(shape, **kw, rng=ctx.rng, dtype=np.dtype(dtype))
    if not isinstance(x, np.ndarray) or x.shape != shape or x.dtype != np.dtype(dtype):
        got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        ctx.fail("result", f"is {got}, expected a {dtype} array of shape {shape}", story)
    problems = distribution_problems(x, uniform, scale)
    if problems:
        ctx.fail("samples", "do not follow torch's distribution", [f"  {p}" for p in problems] + story)


# --------------------------------------------------------------------------------------------------
# Invalid arguments

FEW_DIMS = "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
BAD_INIT = [  # torch's messages; the implementation's are "<function>: <torch's message>"
    ("xavier_uniform", (5,), {}, FEW_DIMS),
    ("xavier_normal", (), {}, FEW_DIMS),
    ("kaiming_uniform", (5,), {}, FEW_DIMS),
    ("kaiming_normal", (7, 5), {"mode": "fan_avg"}, "Mode fan_avg not supported, please use one of "
     "['fan_in', 'fan_out']"),
    ("kaiming_uniform", (7, 5), {"nonlinearity": "softmax"}, "Unsupported nonlinearity softmax"),
    ("kaiming_normal", (7, 5), {"a": "0.1"}, "negative_slope 0.1 not a valid number"),
]


@pytest.mark.parametrize(
    ("name", "shape", "kw", "message"), [pytest.param(*b, id=_init_id(*b[:3], "")) for b in BAD_INIT]
)
def test_init_invalid(name, shape, kw, message, request):
    ctx = make_ctx(request, name)
    with pytest.raises(ValueError) as torch_err:
        getattr(torch.nn.init, name + "_")(torch.empty(shape), **kw)
    if str(torch_err.value) != message:
        ctx.fail("torch's message", f"is now {str(torch_err.value)!r}; update BAD_INIT")
    rng = np.random.default_rng(0)
    expect_error(ctx, f"{name}({shape}, {kw})", ValueError, f"{name}: {message}",
            lambda: ctx.impl.get(name)(shape, **kw, rng=rng))


INITIALISERS = ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"]


@pytest.mark.parametrize("name", INITIALISERS)
def test_init_needs_generator(name, request):
    ctx = make_ctx(request, name)
    expect_error(ctx, f"{name}((7, 5)) without rng", TypeError,
            f"{name}: rng must be a numpy.random.Generator, got NoneType", lambda: ctx.impl.get(name)((7, 5)))
    expect_error(ctx, f"{name}((7, 5)) with a legacy RandomState", TypeError,
            f"{name}: rng must be a numpy.random.Generator, got RandomState",
            lambda: ctx.impl.get(name)((7, 5), rng=np.random.RandomState(0)))


@pytest.mark.parametrize("name", INITIALISERS)
def test_init_empty(name, request):
    """A shape with a zero dimension: an empty array of that shape and dtype (torch leaves a zero-element
    tensor as it is, with a warning)."""
    ctx = make_ctx(request, name, "float32")
    for shape in [(0, 5), (4, 0, 3)]:
        x = ctx.impl.get(name)(shape, rng=np.random.default_rng(0), dtype=np.float32)
        if not isinstance(x, np.ndarray) or x.shape != shape or x.dtype != np.float32:
            got = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
            ctx.fail(f"{name}({shape})", f"is {got}, expected an empty float32 array of shape {shape}")


class EdgeGenerator(np.random.Generator):
    """A Generator whose ``uniform(-bound, bound)`` returns the edge draws: -bound itself (the low end
    is drawn), the largest float64 below bound and its negative, and 0, repeated to the size asked for.
    Other calls go to a seeded PCG64; ``asked`` records the (low, high) of each uniform call."""

    def __init__(self, bound: float) -> None:
        super().__init__(np.random.PCG64(0))
        below = float(np.nextafter(bound, 0.0))
        self.bound, self.draws, self.asked = bound, np.array([-bound, below, -below, 0.0]), []

    def uniform(self, low=0.0, high=1.0, size=None):
        self.asked.append((low, high))
        if (low, high) != (-self.bound, self.bound):
            return super().uniform(low, high, size)
        return np.resize(self.draws, size)


# bound = sqrt(6 / 20) = 0.5477...; sqrt(3) sqrt(1/3) / sqrt(16) = 0.24999999999999997 (nn.Linear(16, .)'s
# default weights): both round up in float16 and float32, so a draw just below the bound rounds past it.
EDGES = [("xavier_uniform", (10, 10), {}), ("kaiming_uniform", (8, 16), {"a": math.sqrt(5)})]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize(("name", "shape", "kw"), [pytest.param(*e, id=_init_id(*e, "")) for e in EDGES])
def test_uniform_edges(name, shape, kw, dtype, request):
    """The draws at the edges of U(-bound, bound), rounded to the dtype and clamped to the largest value
    L of the dtype not above the bound: -bound gives -L (in float64 -bound itself, the bound being exact),
    the largest float64 below the bound gives L even where it rounds past the bound (float16/float32 here),
    so every value is within ±bound and the extremes are ±L."""
    ctx = make_ctx(request, name, dtype)
    bound = expected_scale(name, shape, kw)
    rng = EdgeGenerator(bound)
    x = ctx.impl.get(name)(shape, **kw, rng=rng, dtype=np.dtype(dtype))
    if (-bound, bound) not in rng.asked:
        pytest.skip(f"the implementation does not draw with Generator.uniform(-bound, bound): {rng.asked}")
    top = np.asarray(bound).astype(dtype)
    top = np.nextafter(top, top.dtype.type(0)) if float(top) > bound else top  # L
    expected = np.clip(np.resize(rng.draws, shape).astype(dtype), -top, top)
    bad = np.flatnonzero(x.ravel() != expected.ravel())
    if bad.size:
        i = bad[0]
        ctx.fail("edge draws", f"{bad.size} of {x.size} differ: the draw {rng.draws[i % 4]!r} gave {x.ravel()[i]!r}, "
                 f"expected {expected.ravel()[i]!r} (bound {bound!r}, largest {dtype} value not above it {top!r})")
