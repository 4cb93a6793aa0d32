"""Inverted dropout, elementwise and by whole channels, with torch's rounding.

In training a kept value is scaled by ``1 / (1 - p)``; torch rounds that scale to the input dtype
first (its noise tensor is ``mask / (1 - p)`` in the input dtype), then multiplies. The mask is given
(``mask``, True = keep) or drawn from a NumPy ``Generator`` (``rng``); the functions hold no RNG of
their own. ``p = 1`` multiplies by zero, so NaN and ±inf inputs give NaN, as in torch; ``p = 0`` and
eval mode are the identity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, up

__all__ = ["dropout2d_backward", "dropout2d_forward", "dropout_backward", "dropout_forward"]


class DropoutCache(NamedTuple):
    noise: Array | None  # mask / (1 - p) in x's dtype, broadcastable to x; None for the identity
    shape: tuple[int, ...]
    dtype: np.dtype


def keep_mask(op: str, name: str, p: float, mask: object, rng: np.random.Generator | None, shape: tuple) -> Array:
    """The boolean keep-mask (True = keep) of ``shape``: ``mask`` checked, or drawn from ``rng`` with
    keep probability ``1 - p``. ``name`` is the keyword the caller takes the mask by."""
    if mask is None:
        if rng is None:
            raise ValueError(f"{op}: dropout with 0 < p < 1 needs a keep-mask ({name}=...) or a Generator (rng=...)")
        return rng.random(shape) >= p
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"{op}: {name} must be a boolean keep-mask (True = keep), got dtype {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"{op}: {name} has shape {mask.shape}, expected {shape}")
    return mask


def _noise(op: str, x: Array, p: float, mask: object, rng: np.random.Generator | None, shape: tuple) -> Array:
    """The scaled keep-mask ``mask / (1 - p)`` rounded to x's dtype, of the given (broadcastable) shape."""
    return down(keep_mask(op, "mask", p, mask, rng, shape) / (1 - p), x.dtype)


def _forward(
    op: str, x: object, p: float, training: bool, mask: object, rng: np.random.Generator | None,
    noise_shape: Callable[[Array], tuple[int, ...]],
) -> tuple[Array, DropoutCache]:
    x = floating(op, "x", x)
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout probability p must be between 0 and 1, got {p}")
    shape = noise_shape(x)
    if not training or p == 0:
        return x.copy(), DropoutCache(None, x.shape, x.dtype)
    noise = np.zeros(shape, x.dtype) if p == 1 else _noise(op, x, p, mask, rng, shape)
    with np.errstate(invalid="ignore", over="ignore"):  # ±inf * 0 = NaN, max * 1/(1-p) = inf, as in torch
        return down(up(x) * up(noise), x.dtype), DropoutCache(noise, x.shape, x.dtype)


def _backward(op: str, cache: DropoutCache, dout: Array) -> dict[str, Array]:
    noise, shape, dtype = cache
    g = check_dout(op, dout, shape, dtype)
    if noise is None:
        return {"dx": g.copy()}
    with np.errstate(invalid="ignore", over="ignore"):  # as in the forward
        return {"dx": down(up(g) * up(noise), dtype)}  # d(x * noise) = noise


def dropout_forward(
    x: Array, p: float = 0.5, training: bool = True, mask: Array | None = None, rng: np.random.Generator | None = None
) -> tuple[Array, DropoutCache]:
    """``F.dropout``: each element kept with probability ``1 - p``; ``mask`` has x's shape."""
    return _forward("dropout", x, p, training, mask, rng, lambda x: x.shape)


def dropout_backward(cache: DropoutCache, dout: Array) -> dict[str, Array]:
    return _backward("dropout", cache, dout)


def _channels(x: Array) -> tuple[int, ...]:
    if x.ndim != 4:
        raise ValueError(f"dropout2d: expected input of shape (N, C, H, W), got {x.shape}")
    return x.shape[:2] + (1, 1)


def dropout2d_forward(
    x: Array, p: float = 0.5, training: bool = True, mask: Array | None = None, rng: np.random.Generator | None = None
) -> tuple[Array, DropoutCache]:
    """``F.dropout2d`` on (N, C, H, W): whole channels kept or zeroed; ``mask`` has shape (N, C, 1, 1)."""
    return _forward("dropout2d", x, p, training, mask, rng, _channels)


def dropout2d_backward(cache: DropoutCache, dout: Array) -> dict[str, Array]:
    return _backward("dropout2d", cache, dout)
