"""Normalisation layers: batch_norm, layer_norm and group_norm with torch's CPU semantics.

All three normalise ``x`` over a group of elements, ``xhat = (x - mean) / sqrt(var + eps)`` with the
biased variance, then scale and shift it per feature: ``out = xhat * weight + bias``. They differ only
in the group: one channel across the batch and spatial axes (batch_norm), the trailing
``normalized_shape`` of each sample (layer_norm), or a block of channels of each sample (group_norm).
The statistics, the affine map and the backward are shared. A NaN or ±inf anywhere in a group makes
its mean or variance NaN and so the whole group's output NaN, as in torch.

float16/bfloat16 are computed in float32 and rounded once. (torch's batch_norm rounds the batch mean
and ``1/sqrt(var + eps)`` to the input dtype first when the weight and buffers share it; the
reference keeps them in float32, which is at least as close to the exact result.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, same_dtype, up

__all__ = [
    "batch_norm_backward",
    "batch_norm_forward",
    "group_norm_backward",
    "group_norm_forward",
    "layer_norm_backward",
    "layer_norm_forward",
]


# -- shared math ---------------------------------------------------------------------------------

class NormCache(NamedTuple):
    op: str
    xhat: Array  # normalised input in working precision, in the grouped shape
    invstd: Array  # 1 / sqrt(var + eps), kept dims so that it broadcasts against xhat
    weight: Array | None  # per-feature scale in working precision, broadcastable to xhat
    has_bias: bool
    axes: tuple[int, ...] | None  # axes the statistics were taken over; None: given constants (eval)
    param_axes: tuple[int, ...]  # axes summed for dweight and dbias
    shape: tuple[int, ...]  # the input's shape
    param_shape: tuple[int, ...]
    dtype: np.dtype


def _moments(w: Array, axes: tuple[int, ...]) -> tuple[Array, Array]:
    """Mean and biased variance over ``axes`` (kept), two-pass. inf - inf and NaN give NaN, as in torch."""
    with np.errstate(invalid="ignore", over="ignore"):
        mean = w.mean(axis=axes, keepdims=True)
        d = w - mean
        return mean, (d * d).mean(axis=axes, keepdims=True)


def _normalize(w: Array, mean: Array, var: Array, eps: float) -> tuple[Array, Array]:
    """``xhat`` and ``invstd = 1/sqrt(var + eps)``; a zero variance gives ``invstd = 1/sqrt(eps)``."""
    with np.errstate(invalid="ignore", over="ignore"):
        invstd = 1 / np.sqrt(var + eps)
        return (w - mean) * invstd, invstd


def _affine(xhat: Array, weight: Array | None, bias: Array | None) -> Array:
    with np.errstate(invalid="ignore", over="ignore"):
        out = xhat if weight is None else xhat * weight
        return out if bias is None else out + bias


def _dx(dxhat: Array, xhat: Array, invstd: Array, axes: tuple[int, ...] | None) -> Array:
    """Gradient through ``xhat = (x - mean) * invstd``. With batch statistics (``axes``), mean and var
    depend on x: ``dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`` over the group;
    with given constants (eval mode) it is ``dxhat * invstd``."""
    with np.errstate(invalid="ignore", over="ignore"):
        if axes is None:
            return dxhat * invstd
        centred = dxhat - dxhat.mean(axis=axes, keepdims=True)
        return invstd * (centred - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))


def _norm_backward(cache: NormCache, dout: Array) -> dict[str, Array]:
    g = up(check_dout(cache.op, dout, cache.shape, cache.dtype)).reshape(cache.xhat.shape)
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0, inf - inf and overflow, as in torch
        dxhat = g if cache.weight is None else g * cache.weight
        dweight = None if cache.weight is None else (g * cache.xhat).sum(axis=cache.param_axes)
        dbias = g.sum(axis=cache.param_axes) if cache.has_bias else None
    grads = {"dx": down(_dx(dxhat, cache.xhat, cache.invstd, cache.axes).reshape(cache.shape), cache.dtype)}
    if dweight is not None:
        grads["dweight"] = down(dweight.reshape(cache.param_shape), cache.dtype)
    if dbias is not None:
        grads["dbias"] = down(dbias.reshape(cache.param_shape), cache.dtype)
    return grads


def _scale_and_shift(
    op: str,
    x: Array,
    w: Array,
    stats: tuple[Array, Array],
    eps: float,
    params: dict[str, Array | None],
    param_shape: tuple[int, ...],
    param_view: tuple[int, ...],
    axes: tuple[int, ...] | None,
    param_axes: tuple[int, ...],
) -> tuple[Array, NormCache]:
    """The part every op shares: normalise ``w`` (x in working precision, regrouped as the op needs)
    with ``stats = (mean, var)``, scale and shift by the weight and bias (viewed as ``param_view``) and
    round once; the cache for ``_norm_backward``."""
    xhat, invstd = _normalize(w, *stats, eps)
    weight = _up_or_none(params["weight"], param_view)
    out = down(_affine(xhat, weight, _up_or_none(params["bias"], param_view)).reshape(x.shape), x.dtype)
    cache = NormCache(
        op=op, xhat=xhat, invstd=invstd, weight=weight, has_bias=params["bias"] is not None, axes=axes,
        param_axes=param_axes, shape=x.shape, param_shape=param_shape, dtype=x.dtype,
    )
    return out, cache


def _params(op: str, x: Array, shape: tuple[int, ...], **arrays: Array | None) -> dict[str, Array | None]:
    """Validate optional per-feature arrays (weight, bias, running buffers): floating, of ``shape``
    and of x's dtype; return them as given (None stays None)."""
    out = {}
    for name, a in arrays.items():
        if a is not None:
            a = floating(op, name, a)
            if a.shape != shape:
                raise ValueError(f"{op}: {name} must have shape {shape} for x {x.shape}, got {a.shape}")
            same_dtype(op, x=x, **{name: a})
        out[name] = a
    return out


def _up_or_none(a: Array | None, shape: tuple[int, ...]) -> Array | None:
    return None if a is None else up(a).reshape(shape)


# -- batch_norm ----------------------------------------------------------------------------------

def _check_batch_norm(x: Array, running_mean: Array | None, running_var: Array | None, training: bool) -> None:
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected x of shape (N, C, ...), got {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: running_mean and running_var must either both be None or neither be None")
    if not training and running_mean is None:
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and running_var")
    if training and x.size // x.shape[1] == 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got x of shape {x.shape}")


def _running(old: Array, stat: Array, factor: float) -> Array:
    """torch's update ``(1 - factor) * running + factor * stat``, rounded once to the buffer's dtype."""
    with np.errstate(invalid="ignore", over="ignore"):
        return down((1 - factor) * up(old) + factor * stat.ravel(), old.dtype)


def batch_norm_forward(
    x: Array,
    weight: Array | None = None,
    bias: Array | None = None,
    running_mean: Array | None = None,
    running_var: Array | None = None,
    training: bool = True,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    num_batches_tracked: int = 0,
) -> tuple[tuple[Array, Array | None, Array | None], NormCache]:
    """``nn.BatchNorm{1,2,3}d`` on x of shape (N, C, ...): normalise each channel over the batch and
    spatial axes. Returns ``((out, new_running_mean, new_running_var), cache)``; the given buffers are
    never modified.

    Training: the batch mean and biased variance normalise; the running statistics become
    ``(1 - m) * running + m * stat`` with the *unbiased* variance ``var * n / (n - 1)``, where
    ``m = momentum``, or ``1 / (num_batches_tracked + 1)`` when ``momentum`` is None (nn.BatchNorm's
    cumulative average; ``num_batches_tracked`` counts the batches before this one and the caller
    increments it). Without buffers (both None) nothing is tracked and they are returned as None.
    Eval (``training=False``): the running statistics normalise and are returned unchanged (copies).
    An empty batch leaves them unchanged too, as in torch.
    """
    op = "batch_norm"
    x = floating(op, "x", x)
    _check_batch_norm(x, running_mean, running_var, training)
    c = x.shape[1]
    p = _params(op, x, (c,), weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
    running_mean, running_var = p["running_mean"], p["running_var"]
    channel = (1, c) + (1,) * (x.ndim - 2)  # a per-channel vector broadcast against x
    axes = (0, *range(2, x.ndim))
    w = up(x)
    n = x.size // c
    batch = training and n > 0  # normalise with this batch's statistics
    if batch:
        mean, var = _moments(w, axes)
    elif training:  # an empty batch: nothing to normalise, nothing tracked
        mean, var = np.zeros(channel, w.dtype), np.ones(channel, w.dtype)
    else:
        mean, var = up(running_mean).reshape(channel), up(running_var).reshape(channel)
    out, cache = _scale_and_shift(
        op, x, w, (mean, var), eps, p, (c,), channel, axes=axes if batch else None, param_axes=axes
    )

    new_mean, new_var = running_mean, running_var  # None when not tracking
    if running_mean is not None:
        new_mean, new_var = running_mean.copy(), running_var.copy()
        if batch:
            factor = momentum if momentum is not None else 1 / (num_batches_tracked + 1)
            with np.errstate(invalid="ignore", over="ignore"):
                unbiased = var * (n / (n - 1))
            new_mean, new_var = _running(running_mean, mean, factor), _running(running_var, unbiased, factor)
    return (out, new_mean, new_var), cache


def batch_norm_backward(cache: NormCache, dout: Array) -> dict[str, Array]:
    """Gradients for x, weight and bias (those given); ``dout`` is the gradient of ``out`` only."""
    return _norm_backward(cache, dout)


# -- layer_norm ----------------------------------------------------------------------------------

def _normalized_shape(x: Array, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if not shape or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        raise ValueError(f"layer_norm: normalized_shape must be one or more ints, got {normalized_shape!r}")
    shape = tuple(int(n) for n in shape)
    if len(shape) > x.ndim or x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the trailing dimensions of x {x.shape}")
    return shape


def layer_norm_forward(
    x: Array,
    normalized_shape: int | Sequence[int],
    weight: Array | None = None,
    bias: Array | None = None,
    eps: float = 1e-5,
) -> tuple[Array, NormCache]:
    """``F.layer_norm``: normalise each sample over the trailing ``normalized_shape`` dimensions; weight
    and bias (optional) have shape ``normalized_shape``. An int means a 1-tuple, as in nn.LayerNorm."""
    op = "layer_norm"
    x = floating(op, "x", x)
    shape = _normalized_shape(x, normalized_shape)
    p = _params(op, x, shape, weight=weight, bias=bias)
    lead = x.ndim - len(shape)
    axes = tuple(range(lead, x.ndim))
    w = up(x)
    return _scale_and_shift(op, x, w, _moments(w, axes), eps, p, shape, shape, axes, param_axes=tuple(range(lead)))


def layer_norm_backward(cache: NormCache, dout: Array) -> dict[str, Array]:
    return _norm_backward(cache, dout)


# -- group_norm ----------------------------------------------------------------------------------

def group_norm_forward(
    x: Array,
    num_groups: int,
    weight: Array | None = None,
    bias: Array | None = None,
    eps: float = 1e-5,
) -> tuple[Array, NormCache]:
    """``F.group_norm`` on x of shape (N, C, ...): the C channels are split into ``num_groups``
    consecutive blocks and each sample is normalised over each block (with its spatial axes); weight
    and bias (optional) are per channel. ``num_groups = 1`` normalises whole samples,
    ``num_groups = C`` each channel of each sample (instance norm)."""
    op = "group_norm"
    x = floating(op, "x", x)
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected x of shape (N, C, ...), got {x.shape}")
    if not isinstance(num_groups, (int, np.integer)) or isinstance(num_groups, bool) or num_groups < 1:
        raise ValueError(f"group_norm: num_groups must be a positive int, got {num_groups!r}")
    n, c = x.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: {c} channels of x {x.shape} are not divisible into num_groups={num_groups}")
    p = _params(op, x, (c,), weight=weight, bias=bias)
    # (N, G, C/G, spatial...) with the spatial axes flattened: one group per (n, g).
    grouped = (n, num_groups, c // num_groups, math.prod(x.shape[2:]))
    channel = (1, num_groups, c // num_groups, 1)
    w = up(x).reshape(grouped)
    axes = (2, 3)
    return _scale_and_shift(op, x, w, _moments(w, axes), eps, p, (c,), channel, axes, param_axes=(0, 3))


def group_norm_backward(cache: NormCache, dout: Array) -> dict[str, Array]:
    return _norm_backward(cache, dout)
