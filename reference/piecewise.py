"""Piecewise-linear activations. At every boundary the gradient is torch's one-sided value:
leaky_relu'(0) = prelu'(0) = the slope, hardsigmoid'(±3) = 0, hardtanh' and relu6' are 0 at both
boundaries, hardswish'(-3) = 0 and hardswish'(3) = 1."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, same_dtype, unbroadcast, up

__all__ = [
    "hardsigmoid_backward",
    "hardsigmoid_forward",
    "hardswish_backward",
    "hardswish_forward",
    "hardtanh_backward",
    "hardtanh_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "prelu_backward",
    "prelu_forward",
    "relu6_backward",
    "relu6_forward",
]


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


# -- hardtanh and relu6: a clamp, with zero gradient at both boundaries ---------------------------

def _check_bounds(op: str, min_val: float, max_val: float) -> None:
    if min_val > max_val:
        raise ValueError(f"{op}: min_val ({min_val}) cannot be greater than max_val ({max_val})")


def _clamp(op: str, x: Array, min_val: float, max_val: float) -> tuple[Array, tuple[Array, float, float]]:
    x = floating(op, "x", x)
    _check_bounds(op, min_val, max_val)
    w = up(x)
    # Compare-and-select rather than np.clip: NaN and -0.0 pass through unchanged, as in torch.clamp.
    return _where(w < min_val, min_val, np.where(w > max_val, max_val, w), x.dtype), (x, min_val, max_val)


def _clamp_backward(op: str, cache: tuple[Array, float, float], dout: Array) -> dict[str, Array]:
    x, min_val, max_val = cache
    g, w = up(check_dout(op, dout, x.shape, x.dtype)), up(x)
    # Zero at and beyond both boundaries. At NaN the comparisons are false and dout passes (torch's
    # per-element rule; its vectorised body gives 0 there instead, see the registry entry).
    return {"dx": _where((w <= min_val) | (w >= max_val), 0, g, x.dtype)}


def hardtanh_forward(x: Array, min_val: float = -1.0, max_val: float = 1.0) -> tuple[Array, tuple]:
    return _clamp("hardtanh", x, min_val, max_val)


def hardtanh_backward(cache: tuple, dout: Array) -> dict[str, Array]:
    return _clamp_backward("hardtanh", cache, dout)


def relu6_forward(x: Array) -> tuple[Array, tuple]:
    return _clamp("relu6", x, 0.0, 6.0)


def relu6_backward(cache: tuple, dout: Array) -> dict[str, Array]:
    return _clamp_backward("relu6", cache, dout)


# -- hardswish ---------------------------------------------------------------------------------------

def hardswish_forward(x: Array) -> tuple[Array, Array]:
    x = floating("hardswish", "x", x)
    w = up(x)
    # hardswish(-inf) = -inf * 0 = NaN, and x * 6 overflows to inf near the dtype's max: both as in torch
    with np.errstate(invalid="ignore", over="ignore"):
        return down(w * np.clip(w + 3, 0, 6) / 6, x.dtype), x


def hardswish_backward(cache: Array, dout: Array) -> dict[str, Array]:
    x = cache
    g, w = up(check_dout("hardswish", dout, x.shape, x.dtype)), up(x)
    # x <= -3: 0; -3 < x < 3: x/3 + 1/2; x >= 3 (and NaN, whose comparisons are false): 1.
    with np.errstate(invalid="ignore", over="ignore"):  # a huge dout scaled up, inf * 0, as in torch
        return {"dx": _where(w <= -3, 0, np.where(w < 3, g * (w / 3 + 0.5), g), x.dtype)}


# -- prelu: leaky_relu with a learnable slope, shared or one per channel (axis 1) --------------------

def _slope_shape(x: Array, weight: Array) -> tuple[int, ...]:
    """The shape that broadcasts ``weight`` against ``x``: all ones, with the channels on axis 1."""
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be a scalar or 1-D, got shape {weight.shape}")
    if weight.size == 1:
        return (1,) * x.ndim
    if x.ndim == 0:
        raise ValueError(f"prelu: a weight of shape {weight.shape} needs x with a channel axis, got 0-d x")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.size != channels:
        raise ValueError(
            f"prelu: weight of shape {weight.shape} does not match the {channels} channel(s) of x {x.shape} "
            f"(axis 1; 1-D x has one channel)"
        )
    return (1, channels) + (1,) * (x.ndim - 2)


class PReLUCache(NamedTuple):
    x: Array
    weight: Array
    slope_shape: tuple[int, ...]


def prelu_forward(x: Array, weight: Array) -> tuple[Array, PReLUCache]:
    x, weight = floating("prelu", "x", x), floating("prelu", "weight", weight)
    same_dtype("prelu", x=x, weight=weight)
    shape = _slope_shape(x, weight)
    w, slope = up(x), up(weight).reshape(shape)
    with np.errstate(invalid="ignore", over="ignore"):  # slope * x for x = +inf and slope = 0, or a huge x, as torch
        return _where(w > 0, w, slope * w, x.dtype), PReLUCache(x, weight, shape)


def prelu_backward(cache: PReLUCache, dout: Array) -> dict[str, Array]:
    x, weight, shape = cache
    g, w, slope = up(check_dout("prelu", dout, x.shape, x.dtype)), up(x), up(weight).reshape(shape)
    positive = w > 0
    with np.errstate(invalid="ignore", over="ignore"):  # -inf * 0 is NaN, as in torch
        # Each element at or below zero (or NaN) adds x * dout to its slope. Only the broadcast axes
        # are summed (a single element keeps its -0.0, as in torch), in float64 over a C-order copy:
        # accurate, and the same bits for every memory layout of the input.
        terms = np.where(positive, 0, w * g).astype(np.float64, order="C")
        dweight = down(unbroadcast(terms, shape).reshape(weight.shape), weight.dtype)
        return {"dx": _where(positive, g, slope * g, x.dtype), "dweight": dweight}
