"""ReLU and sigmoid, forward and backward, with torch's semantics at the kink and at the extremes."""

from __future__ import annotations

import numpy as np

from reference._core import Array, check_dout, down, floating, up

__all__ = ["relu_backward", "relu_forward", "sigmoid_backward", "sigmoid_forward"]


def relu_forward(x: Array) -> tuple[Array, Array]:
    """``out = x`` unless ``x < 0``: NaN stays NaN and -0.0 stays -0.0, as in ``torch.relu``."""
    x = floating("relu", "x", x)
    out = np.where(up(x) < 0, x.dtype.type(0), x)  # compared in working precision (bfloat16 NaN)
    return out, out


def relu_backward(cache: Array, dout: Array) -> dict[str, Array]:
    out = cache
    dout = check_dout("relu", dout, out.shape, out.dtype)
    # torch's threshold_backward masks on the output: relu'(0) = relu'(-0.0) = 0, relu'(nan) = 1.
    return {"dx": np.where(up(out) <= 0, out.dtype.type(0), dout)}


def sigmoid_forward(x: Array) -> tuple[Array, Array]:
    """Stable logistic: ``exp`` only ever sees ``-|x|``, so nothing overflows at either end."""
    x = floating("sigmoid", "x", x)
    w = up(x)
    e = np.exp(-np.abs(w))
    out = down(np.where(w >= 0, 1 / (1 + e), e / (1 + e)), x.dtype)
    return out, out


def sigmoid_backward(cache: Array, dout: Array) -> dict[str, Array]:
    y = cache
    dout = check_dout("sigmoid", dout, y.shape, y.dtype)
    wy = up(y)
    # d sigma / dx = y (1 - y), multiplied in torch's order: (dout * (1 - y)) * y.
    with np.errstate(invalid="ignore"):  # an infinite dout where y is 0 or 1: NaN, as in torch
        return {"dx": down(up(dout) * (1 - wy) * wy, y.dtype)}
