"""The seed's formulas, kept as they are written there, to prove the harness catches them.

This is an implementation module like any other (``pytest --impl tests/selftest/seed_variants.py``):
everything comes from ``reference`` except the three layers written the seed's way. These variants
never go into ``reference/``."""

from __future__ import annotations

import numpy as np

from reference import *  # noqa: F403
from reference import relu_forward as _torch_relu_forward
from reference import softmax_forward


def relu_forward(x):
    """The seed: ``mask <- x < 0``; the mask is what backward keeps."""
    out, _ = _torch_relu_forward(x)
    return out, x < 0


def relu_backward(mask, dout):
    """The seed: ``dout[mask] <- 0``, so the gradient passes at x == 0 (torch: relu'(0) = 0)."""
    dx = dout.copy()
    dx[mask] = 0
    return {"dx": dx}


def sigmoid_forward(x):
    """The seed: ``1 / (1 + exp(-x))``, which overflows in exp(-x) for large negative x."""
    out = 1 / (1 + np.exp(-x))
    return out, out


def cross_entropy_forward(x, t):
    """The seed: ``-sum(t * log(y + 1e-7)) / N``, which caps the loss at -log(1e-7) ≈ 16.1."""
    y, _ = softmax_forward(x, axis=1)
    onehot = np.eye(x.shape[1], dtype=x.dtype)[t] if np.asarray(t).dtype.kind in "iu" else t
    loss = -np.sum(onehot * np.log(y + x.dtype.type(1e-7))) / x.shape[0]
    return np.asarray(loss, dtype=x.dtype), (y, onehot)


def cross_entropy_backward(cache, dout):
    y, onehot = cache
    return {"dx": (dout * (y - onehot) / y.shape[0]).astype(y.dtype)}
