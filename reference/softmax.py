"""Softmax, log-softmax and the seed's softmax_with_loss, all through the max-subtracted log-sum-exp.

The helpers for class targets (``labels``, ``probabilities``) and the dtype-rounded ``total`` are
shared with the classification losses in ``reference.classification``."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, normalize_axis, up, work_dtype

__all__ = [
    "log_softmax_backward",
    "log_softmax_forward",
    "softmax_backward",
    "softmax_forward",
    "softmax_with_loss_backward",
    "softmax_with_loss_forward",
]


def _shifted(x: Array, axis: int) -> Array:
    """``x - max(x)`` along ``axis`` in working precision; a row of all -inf (or with +inf) gives NaN,
    as torch's does. ``initial`` makes an empty axis legal."""
    w = up(x)
    with np.errstate(invalid="ignore"):
        return w - np.max(w, axis=axis, keepdims=True, initial=-np.inf)


def log_probs(x: Array, axis: int) -> Array:
    """log-softmax in working precision (not rounded): what the losses built on it start from."""
    s = _shifted(x, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


class SoftmaxCache(NamedTuple):
    out: Array
    axis: int


def softmax_forward(x: Array, axis: int = -1) -> tuple[Array, SoftmaxCache]:
    x = floating("softmax", "x", x)
    axis = normalize_axis("softmax", x.ndim, axis)
    e = np.exp(_shifted(x, axis))
    with np.errstate(invalid="ignore"):
        out = down(e / e.sum(axis=axis, keepdims=True), x.dtype)
    return out, SoftmaxCache(out, axis)


def softmax_backward(cache: SoftmaxCache, dout: Array) -> dict[str, Array]:
    y, axis = cache
    g, wy = up(check_dout("softmax", dout, y.shape, y.dtype)), up(y)
    # Jacobian-vector product of softmax: y * (dout - <dout, y>) along the axis.
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 and inf - inf, as in torch
        return {"dx": down(wy * (g - (g * wy).sum(axis=axis, keepdims=True)), y.dtype)}


def log_softmax_forward(x: Array, axis: int = -1) -> tuple[Array, SoftmaxCache]:
    x = floating("log_softmax", "x", x)
    axis = normalize_axis("log_softmax", x.ndim, axis)
    out = down(log_probs(x, axis), x.dtype)
    return out, SoftmaxCache(out, axis)


def log_softmax_backward(cache: SoftmaxCache, dout: Array) -> dict[str, Array]:
    out, axis = cache
    g = up(check_dout("log_softmax", dout, out.shape, out.dtype))
    return {"dx": down(log_softmax_grad(g, up(out), axis), out.dtype)}


def log_softmax_grad(g: Array, logp: Array, axis: int) -> Array:
    """Gradient through log-softmax: ``g - softmax * sum(g)`` along the axis (NaN where torch's is)."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, and a sum of dout beyond the range
        return g - np.exp(logp) * g.sum(axis=axis, keepdims=True)


def labels(
    op: str, t: object, x_shape: tuple[int, ...], batch: tuple[int, ...], ignore_index: int | None = None
) -> Array:
    """Class indices ``t`` of shape ``batch`` (the input's shape without its class axis), each in
    ``[0, C)`` or equal to ``ignore_index`` when one is allowed."""
    t = np.asarray(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index target must hold integers, got dtype {t.dtype}")
    if t.shape != batch:
        raise ValueError(f"{op}: class-index target must have shape {batch} for input {x_shape}, got {t.shape}")
    c = x_shape[1 if len(x_shape) > 1 else 0]
    bad = (t < 0) | (t >= c)
    if ignore_index is not None:
        bad &= t != ignore_index
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        allowed = f" or equal ignore_index {ignore_index}" if ignore_index is not None else ""
        raise ValueError(
            f"{op}: target labels must be in [0, {c}) for {c} classes{allowed}, "
            f"got {t[at]} at position {at[0] if len(at) == 1 else at}"
        )
    return t


def probabilities(op: str, x: Array, t: object) -> Array:
    """A floating target of the input's shape and dtype (torch does not require it to sum to 1)."""
    t = floating(op, "target", t)
    if t.shape != x.shape:
        raise ValueError(f"{op}: probability target must have the input's shape {x.shape}, got {t.shape}")
    if t.dtype != x.dtype:
        raise TypeError(f"{op}: probability target has dtype {t.dtype}, but the input has dtype {x.dtype}")
    return t


def total(values: Array, dtype: np.dtype) -> Array:
    """The sum of ``values``, rounded to the input dtype as torch stores it: a float16 batch total
    overflows at 65504 even when the mean would not. 0 * -inf and a float16 overflow give NaN and inf
    as in torch."""
    with np.errstate(invalid="ignore", over="ignore"):
        return up(down(values.sum(), dtype))


def _target(x: Array, t: object) -> tuple[Array, Array | None]:
    """The target as a per-row distribution in working precision, and the class indices when it was
    given as indices (else None)."""
    if np.asarray(t).dtype.kind in "iu":
        index = labels("softmax_with_loss", t, x.shape, x.shape[:1])
        return np.eye(x.shape[1], dtype=work_dtype(x.dtype))[index], index
    return up(probabilities("softmax_with_loss", x, t)), None


class SoftmaxWithLossCache(NamedTuple):
    y: Array  # softmax of the logits, in working precision
    t: Array  # one-hot or probability target, in working precision
    dtype: np.dtype


def softmax_with_loss_forward(x: Array, t: Array) -> tuple[Array, SoftmaxWithLossCache]:
    """The seed's combined layer: softmax then cross-entropy, with the loss through log-softmax
    (so ``[1000, 0, -1000]`` with target 2 costs 2000, not the ``-log(y + 1e-7)`` cap of 16.1)."""
    x = floating("softmax_with_loss", "x", x)
    if x.ndim != 2:
        raise ValueError(f"softmax_with_loss: expected logits of shape (N, C), got {x.shape}")
    t, index = _target(x, t)
    sums = t.sum(axis=1)
    tol = 4 * x.shape[1] * float(np.spacing(x.dtype.type(1)))  # rounding of C entries in x's dtype
    off = np.flatnonzero(~(np.abs(sums - 1) <= tol))
    if off.size:
        raise ValueError(
            f"softmax_with_loss: target rows must sum to 1 (the seed's backward y - t assumes it), "
            f"row {off[0]} sums to {sums[off[0]]}"
        )
    logp = log_probs(x, axis=1)
    n = x.shape[0]
    # Indices are picked, not multiplied by one-hot rows, so that a -inf logit of another class
    # does not turn the loss into 0 * -inf = NaN; an empty batch gives 0 / 0 = NaN, as in torch.
    with np.errstate(invalid="ignore", divide="ignore"):
        picked = logp[np.arange(n), index] if index is not None else (t * logp).sum(axis=1)
        loss = -total(picked, x.dtype) / n
    return down(loss, x.dtype), SoftmaxWithLossCache(np.exp(logp), t, x.dtype)


def softmax_with_loss_backward(cache: SoftmaxWithLossCache, dout: Array) -> dict[str, Array]:
    y, t, dtype = cache
    g = up(check_dout("softmax_with_loss", dout, (), dtype))
    # torch's y * sum(t) - t: the seed's y - t for rows summing to exactly 1, right for those a rounding off.
    wt = up(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"dx": down(g * (y * wt.sum(axis=1, keepdims=True) - wt) / y.shape[0], dtype)}
