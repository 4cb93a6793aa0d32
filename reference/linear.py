"""The seed's Affine layer: ``out = x @ W + b`` with ``W`` laid out ``(in, out)``."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, flat_features, floating, same_dtype, up

__all__ = ["affine_backward", "affine_forward"]


class AffineCache(NamedTuple):
    x2d: Array  # the input flattened to (N, in)
    W: Array
    x_shape: tuple[int, ...]


def affine_forward(x: Array, W: Array, b: Array) -> tuple[Array, AffineCache]:
    """Any ``(N, ...)`` input is flattened to ``(N, in)``; torch's equivalent is ``F.linear(x, W.T, b)``."""
    x, W, b = (floating("affine", n, a) for n, a in (("x", x), ("W", W), ("b", b)))
    dtype = same_dtype("affine", x=x, W=W, b=b)
    if x.ndim < 2 or W.ndim != 2 or b.ndim != 1:
        raise ValueError(
            f"affine: expected x (N, ...) with at least 2 dimensions, W (in, out) and b (out,), "
            f"got x {x.shape}, W {W.shape}, b {b.shape}"
        )
    x2d = x.reshape(x.shape[0], flat_features(x.shape))
    if x2d.shape[1] != W.shape[0] or b.shape[0] != W.shape[1]:
        raise ValueError(
            f"affine: x {x.shape} flattens to {x2d.shape}, which needs W ({x2d.shape[1]}, out) and "
            f"b (out,), got W {W.shape} and b {b.shape}"
        )
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 in the products is NaN, as in torch
        out = down(up(x2d) @ up(W) + up(b), dtype)
    return out, AffineCache(x2d, W, x.shape)


def affine_backward(cache: AffineCache, dout: Array) -> dict[str, Array]:
    x2d, W, x_shape = cache
    dout = check_dout("affine", dout, (x2d.shape[0], W.shape[1]), W.dtype)
    g = up(dout)
    with np.errstate(invalid="ignore", over="ignore"):
        return {
            "dx": down(g @ up(W).T, W.dtype).reshape(x_shape),
            "dW": down(up(x2d).T @ g, W.dtype),
            "db": down(g.sum(axis=0), W.dtype),
        }
