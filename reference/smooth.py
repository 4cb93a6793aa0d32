"""Smooth activations, each through its numerically stable form, except where torch's own formula
decides the result: softsign is torch's composite x / (|x| + 1), rounded to the dtype step by step,
and mish's gradient takes sigmoid as torch forms it."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, up

__all__ = [
    "celu_backward",
    "celu_forward",
    "elu_backward",
    "elu_forward",
    "gelu_backward",
    "gelu_forward",
    "logsigmoid_backward",
    "logsigmoid_forward",
    "mish_backward",
    "mish_forward",
    "selu_backward",
    "selu_forward",
    "silu_backward",
    "silu_forward",
    "softplus_backward",
    "softplus_forward",
    "softsign_backward",
    "softsign_forward",
    "tanh_backward",
    "tanh_forward",
]


def _wide(x: Array) -> Array:
    """``x`` in float64: the working precision where a float32 evaluation loses digits that torch keeps
    (measured against a float64 oracle by tests/harness/accuracy.py). The result is rounded once."""
    return x.astype(np.float64)


def tanh_forward(x: Array) -> tuple[Array, Array]:
    x = floating("tanh", "x", x)
    out = down(np.tanh(_wide(x)), x.dtype)  # correctly rounded as torch's; NumPy's float32 tanh is ~1 ULP off
    return out, out


def tanh_backward(cache: Array, dout: Array) -> dict[str, Array]:
    y = cache
    # From a correctly rounded y (see tanh_forward), in float64: torch's kernel forms 1 - y^2 with a fused
    # multiply-add. A y one ULP off, or y^2 rounded first, cost up to 8 ULP where torch's gradient is within 1.
    g, wy = _wide(check_dout("tanh", dout, y.shape, y.dtype)), _wide(y)
    with np.errstate(invalid="ignore"):  # an infinite dout where y = ±1: NaN, as in torch
        return {"dx": down(g * (1 - wy * wy), y.dtype)}  # tanh' = 1 - y^2


def _sigmoid(w: Array) -> Array:
    e = np.exp(-np.abs(w))
    return np.where(w >= 0, 1 / (1 + e), e / (1 + e))


def silu_forward(x: Array) -> tuple[Array, Array]:
    x = floating("silu", "x", x)
    w = up(x)
    with np.errstate(invalid="ignore"):  # silu(-inf) = -inf * 0 = NaN, as in torch
        return down(w * _sigmoid(w), x.dtype), x


def silu_backward(cache: Array, dout: Array) -> dict[str, Array]:
    x = cache
    # In float64: s (1 + x (1 - s)) cancels near silu's minimum (x = -1.278), where a float32 evaluation
    # was ~4x farther from the exact derivative than torch's float32 kernel (379 vs 85 ULP).
    g, w = _wide(check_dout("silu", dout, x.shape, x.dtype)), _wide(x)
    s = _sigmoid(w)
    with np.errstate(invalid="ignore"):  # -inf * 0 at x = -inf is NaN, as in torch
        return {"dx": down(g * s * (1 + w * (1 - s)), x.dtype)}  # (x s)' = s (1 + x (1 - s))


def _softplus(w: Array) -> Array:
    """log(1 + e^w) without overflow: max(w, 0) + log1p(e^-|w|)."""
    return np.maximum(w, 0) + np.log1p(np.exp(-np.abs(w)))


def softplus_forward(x: Array, beta: float = 1.0, threshold: float = 20.0) -> tuple[Array, tuple]:
    x = floating("softplus", "x", x)
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero, got 0")
    w = up(x)
    with np.errstate(over="ignore"):  # beyond the range: inf, above threshold, so the linear branch
        bx = w * beta
    return down(np.where(bx > threshold, w, _softplus(bx) / beta), x.dtype), (x, beta, threshold)


def softplus_backward(cache: tuple, dout: Array) -> dict[str, Array]:
    x, beta, threshold = cache
    g, w = up(check_dout("softplus", dout, x.shape, x.dtype)), up(x)
    with np.errstate(over="ignore"):  # as in softplus_forward
        bx = w * beta
    # Linear above the threshold in beta * x (torch's rule), else sigmoid(beta x).
    with np.errstate(invalid="ignore"):  # an infinite dout where sigmoid is 0: NaN, as in torch
        return {"dx": down(np.where(bx > threshold, g, g * _sigmoid(bx)), x.dtype)}


# -- the ELU family: elu, selu, celu ---------------------------------------------------------------

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class ELUCache(NamedTuple):
    op: str
    x: Array
    coefs: tuple[float, float, float]  # alpha * scale, scale, input_scale


def _elu_forward(op: str, x: Array, alpha: float, scale: float, input_scale: float) -> tuple[Array, ELUCache]:
    """``scale * x`` above 0, ``alpha * scale * (exp(input_scale * x) - 1)`` at or below 0 (torch's elu)."""
    x = floating(op, "x", x)
    w = up(x)
    c = w.dtype.type
    negcoef, poscoef, negiptcoef = c(alpha) * c(scale), c(scale), c(input_scale)
    neg = np.where(w < 0, w, 0)
    with np.errstate(over="ignore"):  # a negative celu alpha makes exp grow; torch overflows to inf too
        # -0.0 takes the linear branch: elu(-0.0) = -0.0 for every alpha, as in torch (expm1(-0.0) * alpha
        # would be +0.0 for a negative alpha).
        out = np.where(w < 0, np.expm1(neg * negiptcoef) * negcoef, w * poscoef)
    return down(out, x.dtype), ELUCache(op, x, (negcoef, poscoef, negiptcoef))


def _elu_backward(cache: ELUCache, dout: Array) -> dict[str, Array]:
    op, x, (negcoef, poscoef, negiptcoef) = cache
    g, w = up(check_dout(op, dout, x.shape, x.dtype)), up(x)
    neg = np.where(w <= 0, w, 0)
    # The exponential branch holds at 0 (elu'(0) = alpha); NaN, failing x <= 0, takes the linear one.
    with np.errstate(over="ignore", invalid="ignore"):  # an infinite dout where exp is 0: NaN, as in torch
        dx = np.where(w <= 0, g * negiptcoef * negcoef * np.exp(neg * negiptcoef), g * poscoef)
    return {"dx": down(dx, x.dtype)}


def elu_forward(x: Array, alpha: float = 1.0) -> tuple[Array, ELUCache]:
    return _elu_forward("elu", x, alpha, 1.0, 1.0)


def elu_backward(cache: ELUCache, dout: Array) -> dict[str, Array]:
    return _elu_backward(cache, dout)


def selu_forward(x: Array) -> tuple[Array, ELUCache]:
    return _elu_forward("selu", x, SELU_ALPHA, SELU_SCALE, 1.0)


def selu_backward(cache: ELUCache, dout: Array) -> dict[str, Array]:
    return _elu_backward(cache, dout)


def celu_forward(x: Array, alpha: float = 1.0) -> tuple[Array, ELUCache]:
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0 (celu divides x by alpha)")
    return _elu_forward("celu", x, alpha, 1.0, 1.0 / alpha)


def celu_backward(cache: ELUCache, dout: Array) -> dict[str, Array]:
    return _elu_backward(cache, dout)


# -- gelu ------------------------------------------------------------------------------------------

_erf_object = np.frompyfunc(math.erf, 1, 1)


def _erf(w: Array) -> Array:
    """erf elementwise (NumPy has none): math.erf in float64, rounded to ``w``'s dtype."""
    return np.asarray(_erf_object(w.astype(np.float64)), dtype=np.float64).astype(w.dtype)


SQRT1_2 = math.sqrt(0.5)
GELU_PDF = 1 / math.sqrt(2 * math.pi)  # the normal density at 0
GELU_TANH_BETA = math.sqrt(2 / math.pi)
GELU_TANH_KAPPA = 0.044715


def _gelu_tanh_inner(w: Array) -> tuple[Array, Array]:
    """x^2 and tanh(sqrt(2/pi) (x + 0.044715 x^3)), in torch's order of operations."""
    c = w.dtype.type
    x_sq = w * w
    return x_sq, np.tanh(c(GELU_TANH_BETA) * (w + c(GELU_TANH_KAPPA) * (x_sq * w)))


def gelu_forward(x: Array, approximate: str = "none") -> tuple[Array, tuple[Array, str]]:
    x = floating("gelu", "x", x)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    w = up(x)
    # gelu(-inf) = -inf * 0 = NaN as in torch; x^3 overflows to inf harmlessly.
    with np.errstate(invalid="ignore", over="ignore"):
        if approximate == "tanh":
            out = w * 0.5 * (1 + _gelu_tanh_inner(w)[1])
        else:
            out = w * 0.5 * (1 + _erf(w * w.dtype.type(SQRT1_2)))  # x * Phi(x)
    return down(out, x.dtype), (x, approximate)


def gelu_backward(cache: tuple[Array, str], dout: Array) -> dict[str, Array]:
    x, approximate = cache
    g, w = up(check_dout("gelu", dout, x.shape, x.dtype)), up(x)
    c = w.dtype.type
    # At ±inf, x times a vanishing density is inf * 0 = NaN, as in torch.
    with np.errstate(invalid="ignore", over="ignore"):
        if approximate == "tanh":
            x_sq, t = _gelu_tanh_inner(w)
            inner_derivative = c(GELU_TANH_BETA) * (1 + c(3) * c(GELU_TANH_KAPPA) * x_sq)
            dx = g * (0.5 * (1 + t) + 0.5 * w * (1 - t * t) * inner_derivative)
        else:
            cdf = 0.5 * (1 + _erf(w * c(SQRT1_2)))
            pdf = c(GELU_PDF) * np.exp(w * w * -0.5)
            dx = g * (cdf + w * pdf)  # Phi(x) + x phi(x)
    return {"dx": down(dx, x.dtype)}


# -- mish, softsign, logsigmoid ------------------------------------------------------------------------

def mish_forward(x: Array) -> tuple[Array, Array]:
    x = floating("mish", "x", x)
    w = up(x)
    with np.errstate(invalid="ignore"):  # mish(-inf) = -inf * 0 = NaN, as in torch
        return down(w * np.tanh(_softplus(w)), x.dtype), x


def mish_backward(cache: Array, dout: Array) -> dict[str, Array]:
    x = cache
    g, w = up(check_dout("mish", dout, x.shape, x.dtype)), up(x)
    t = np.tanh(_softplus(w))
    # softplus' = sigmoid, which torch forms as 1 / (1 + e^-x): exactly 0 once e^-x overflows
    # (x < -88.7 in float32), where the stable form would give a subnormal.
    with np.errstate(over="ignore"):
        s = 1 / (1 + np.exp(-w))
    with np.errstate(invalid="ignore"):  # ±inf * 0 at x = ±inf is NaN, as in torch
        return {"dx": down(g * (t + w * s * (1 - t * t)), x.dtype)}


def _rounded(dtype: np.dtype):
    """Round a working-precision value to ``dtype`` and back: one step of a composite torch op, which
    materialises every intermediate tensor in the input dtype."""
    return lambda v: up(down(v, dtype))


def softsign_forward(x: Array) -> tuple[Array, Array]:
    x = floating("softsign", "x", x)
    w, r = up(x), _rounded(x.dtype)
    # torch's softsign is the composite x / (|x| + 1): |x| + 1 is rounded to the dtype on its own.
    with np.errstate(invalid="ignore"):  # softsign(±inf) = inf / inf = NaN, as in torch
        return down(w / r(np.abs(w) + 1), x.dtype), x


def softsign_backward(cache: Array, dout: Array) -> dict[str, Array]:
    x = cache
    g, w, r = up(check_dout("softsign", dout, x.shape, x.dtype)), up(x), _rounded(x.dtype)
    d = r(np.abs(w) + 1)
    with np.errstate(invalid="ignore"):  # NaN at ±inf, where softsign itself is NaN
        # Autograd through x / d and d = |x| + 1, step by step in the dtype as torch does:
        # dout / d from the numerator, -dout * ((x / d) / d) * sign(x) through the denominator.
        # (They sum to dout / d^2; in float16 the two can cancel to +0.0 where dout / d^2 is a tiny
        # negative, as in torch.)
        through_d = r(-g * r(r(w / d) / d)) * np.sign(w)
        return {"dx": down(r(g / d) + through_d, x.dtype)}


def logsigmoid_forward(x: Array) -> tuple[Array, Array]:
    x = floating("logsigmoid", "x", x)
    w = up(x)
    # min(x, 0) - log(1 + e^-|x|): no overflow, and +0.0 (not -0.0) for large x, as in torch.
    return down(np.minimum(w, 0) - np.log1p(np.exp(-np.abs(w))), x.dtype), x


def logsigmoid_backward(cache: Array, dout: Array) -> dict[str, Array]:
    x = cache
    g, w = up(check_dout("logsigmoid", dout, x.shape, x.dtype)), up(x)
    s = _sigmoid(-np.abs(w))  # sigmoid(-|x|)
    # logsigmoid' = sigmoid(-x): 1 - s below 0, s at or above 0 (exactly +0 once e^-|x| underflows).
    with np.errstate(invalid="ignore"):  # an infinite dout times that +0: NaN, as in torch
        return {"dx": down(g * np.where(w < 0, 1 - s, s), x.dtype)}
