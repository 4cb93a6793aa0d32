"""The seed's computational-graph nodes. ``mul`` and ``add`` broadcast like NumPy and torch, so
their backward sums the gradient over every axis broadcasting added or stretched."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reference._core import Array, broadcast_shape, check_dout, down, floating, same_dtype, unbroadcast, up

__all__ = [
    "add_backward",
    "add_forward",
    "exp_backward",
    "exp_forward",
    "log_backward",
    "log_forward",
    "mul_backward",
    "mul_forward",
    "reciprocal_backward",
    "reciprocal_forward",
]


class BinaryCache(NamedTuple):
    x: Array
    y: Array
    out_shape: tuple[int, ...]


def _binary(op: str, x: Array, y: Array) -> tuple[Array, Array, np.dtype, tuple[int, ...]]:
    x, y = floating(op, "x", x), floating(op, "y", y)
    dtype = same_dtype(op, x=x, y=y)
    return x, y, dtype, broadcast_shape(op, x, y)


def mul_forward(x: Array, y: Array) -> tuple[Array, BinaryCache]:
    x, y, dtype, shape = _binary("mul", x, y)
    with np.errstate(over="ignore", invalid="ignore"):  # inf * 0 = nan and overflow are IEEE results
        out = down(up(x) * up(y), dtype)
    return out, BinaryCache(x, y, shape)


def mul_backward(cache: BinaryCache, dout: Array) -> dict[str, Array]:
    x, y, shape = cache
    g = up(check_dout("mul", dout, shape, x.dtype))
    with np.errstate(over="ignore", invalid="ignore"):
        # Each factor's gradient is dout times the other factor, formed in the dtype as torch does (a
        # float16 product can overflow), then summed over the broadcast axes.
        return {
            "dx": down(unbroadcast(up(down(g * up(y), x.dtype)), x.shape), x.dtype),
            "dy": down(unbroadcast(up(down(g * up(x), x.dtype)), y.shape), x.dtype),
        }


def add_forward(x: Array, y: Array) -> tuple[Array, BinaryCache]:
    x, y, dtype, shape = _binary("add", x, y)
    with np.errstate(over="ignore", invalid="ignore"):  # inf + -inf = nan is the IEEE result
        out = down(up(x) + up(y), dtype)
    return out, BinaryCache(x, y, shape)


def add_backward(cache: BinaryCache, dout: Array) -> dict[str, Array]:
    x, y, shape = cache
    g = up(check_dout("add", dout, shape, x.dtype))
    with np.errstate(over="ignore", invalid="ignore"):
        return {
            "dx": down(unbroadcast(g, x.shape), x.dtype),
            "dy": down(unbroadcast(g, y.shape), x.dtype),
        }


def exp_forward(x: Array) -> tuple[Array, Array]:
    x = floating("exp", "x", x)
    with np.errstate(over="ignore"):  # exp past the overflow threshold is +inf, as in torch
        out = down(np.exp(up(x)), x.dtype)
    return out, out


def exp_backward(cache: Array, dout: Array) -> dict[str, Array]:
    out = cache
    g = up(check_dout("exp", dout, out.shape, out.dtype))
    with np.errstate(over="ignore", invalid="ignore"):
        return {"dx": down(g * up(out), out.dtype)}  # (e^x)' = e^x, the saved output


def log_forward(x: Array) -> tuple[Array, Array]:
    x = floating("log", "x", x)
    # In float64, rounded once: NumPy's float32 log is up to 2 ULP off where torch's is within 1.
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf, log(x < 0) = nan
        out = down(np.log(x.astype(np.float64)), x.dtype)
    return out, x


def log_backward(cache: Array, dout: Array) -> dict[str, Array]:
    x = cache
    g = up(check_dout("log", dout, x.shape, x.dtype))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return {"dx": down(g / up(x), x.dtype)}


def reciprocal_forward(x: Array) -> tuple[Array, Array]:
    x = floating("reciprocal", "x", x)
    with np.errstate(divide="ignore", over="ignore"):  # 1/0 = inf; 1/subnormal may overflow
        out = down(1 / up(x), x.dtype)
    return out, out


def reciprocal_backward(cache: Array, dout: Array) -> dict[str, Array]:
    out = cache
    g = up(check_dout("reciprocal", dout, out.shape, out.dtype))
    with np.errstate(over="ignore", invalid="ignore"):
        # (1/x)' = -1/x^2 = -out^2. torch's autograd formula -dout * (out * out) materialises out * out
        # in the input dtype, so in float16 it overflows to inf past |out| = 256, and so do we.
        out2 = up(down(up(out) * up(out), out.dtype))
        return {"dx": down(-g * out2, out.dtype)}
