"""Smooth activations, each through its numerically stable form."""

from __future__ import annotations

import numpy as np

from reference._core import Array, check_dout, down, floating, up

__all__ = ["silu_backward", "silu_forward", "softplus_backward", "softplus_forward", "tanh_backward", "tanh_forward"]


def tanh_forward(x: Array) -> tuple[Array, Array]:
    x = floating("tanh", "x", x)
    out = down(np.tanh(up(x)), x.dtype)
    return out, out


def tanh_backward(cache: Array, dout: Array) -> dict[str, Array]:
    y = cache
    g, wy = up(check_dout("tanh", dout, y.shape, y.dtype)), up(y)
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
    g, w = up(check_dout("silu", dout, x.shape, x.dtype)), up(x)
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
    bx = w * beta
    return down(np.where(bx > threshold, w, _softplus(bx) / beta), x.dtype), (x, beta, threshold)


def softplus_backward(cache: tuple, dout: Array) -> dict[str, Array]:
    x, beta, threshold = cache
    g, w = up(check_dout("softplus", dout, x.shape, x.dtype)), up(x)
    bx = w * beta
    # Linear above the threshold in beta * x (torch's rule), else sigmoid(beta x).
    return {"dx": down(np.where(bx > threshold, g, g * _sigmoid(bx)), x.dtype)}
