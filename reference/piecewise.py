"""Piecewise-linear activations. At every boundary the gradient is torch's one-sided value:
leaky_relu'(0) = negative_slope, hardsigmoid'(±3) = 0."""

from __future__ import annotations

import numpy as np

from reference._core import Array, check_dout, down, floating, up

__all__ = ["hardsigmoid_backward", "hardsigmoid_forward", "leaky_relu_backward", "leaky_relu_forward"]


def _where(cond: Array, a: object, b: object, dtype: np.dtype) -> Array:
    return down(np.where(cond, a, b), dtype)


def leaky_relu_forward(x: Array, negative_slope: float = 0.01) -> tuple[Array, tuple[Array, float]]:
    x = floating("leaky_relu", "x", x)
    w = up(x)
    return _where(w > 0, w, w * negative_slope, x.dtype), (x, negative_slope)


def leaky_relu_backward(cache: tuple[Array, float], dout: Array) -> dict[str, Array]:
    x, slope = cache
    g = up(check_dout("leaky_relu", dout, x.shape, x.dtype))
    return {"dx": _where(up(x) > 0, g, g * slope, x.dtype)}  # x <= 0 (and NaN) take the slope


def hardsigmoid_forward(x: Array) -> tuple[Array, Array]:
    x = floating("hardsigmoid", "x", x)
    return down(np.clip(up(x) + 3, 0, 6) / 6, x.dtype), x


def hardsigmoid_backward(cache: Array, dout: Array) -> dict[str, Array]:
    x = cache
    g = up(check_dout("hardsigmoid", dout, x.shape, x.dtype))
    w = up(x)
    return {"dx": _where((w > -3) & (w < 3), g / 6, 0, x.dtype)}
