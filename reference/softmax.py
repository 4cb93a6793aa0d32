"""Softmax, log-softmax and the losses built on them, all through the max-subtracted log-sum-exp."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, normalize_axis, up, work_dtype

__all__ = [
    "cross_entropy_backward",
    "cross_entropy_forward",
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


def _log_softmax(x: Array, axis: int) -> Array:
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
    return {"dx": down(wy * (g - (g * wy).sum(axis=axis, keepdims=True)), y.dtype)}


def log_softmax_forward(x: Array, axis: int = -1) -> tuple[Array, SoftmaxCache]:
    x = floating("log_softmax", "x", x)
    axis = normalize_axis("log_softmax", x.ndim, axis)
    out = down(_log_softmax(x, axis), x.dtype)
    return out, SoftmaxCache(out, axis)


def log_softmax_backward(cache: SoftmaxCache, dout: Array) -> dict[str, Array]:
    out, axis = cache
    g = up(check_dout("log_softmax", dout, out.shape, out.dtype))
    # d log_softmax: dout - softmax * sum(dout) along the axis.
    return {"dx": down(g - np.exp(up(out)) * g.sum(axis=axis, keepdims=True), out.dtype)}


def _target(op: str, x: Array, t: object) -> tuple[Array, Array | None]:
    """The target as a per-row distribution over classes in ``x``'s working precision, and the class
    indices when it was given as indices (else None).

    Class indices of shape (N,) become one-hot rows; floating targets of shape (N, C) are taken as
    given (torch does not require them to sum to 1)."""
    t = np.asarray(t)
    n, c = x.shape
    if t.dtype.kind in "iu":
        if t.shape != (n,):
            raise ValueError(f"{op}: class-index target must have shape ({n},) for input {x.shape}, got {t.shape}")
        bad = np.flatnonzero((t < 0) | (t >= c))
        if bad.size:
            raise ValueError(
                f"{op}: target labels must be in [0, {c}) for {c} classes, got {t[bad[0]]} at position {bad[0]}"
            )
        return np.eye(c, dtype=work_dtype(x.dtype))[t], t
    t = floating(op, "target", t)
    if t.shape != x.shape:
        raise ValueError(f"{op}: probability target must have the input's shape {x.shape}, got {t.shape}")
    if t.dtype != x.dtype:
        raise TypeError(f"{op}: probability target has dtype {t.dtype}, but the input has dtype {x.dtype}")
    return up(t), None


def _logits(op: str, x: object) -> Array:
    x = floating(op, "x", x)
    if x.ndim != 2:
        raise ValueError(f"{op}: expected logits of shape (N, C), got {x.shape}")
    return x


class CrossEntropyCache(NamedTuple):
    logp: Array  # log-softmax of the logits, in working precision
    t: Array  # target distribution per row, in working precision
    dtype: np.dtype


def _mean_nll(logp: Array, t: Array, index: Array | None, dtype: np.dtype) -> Array:
    """Mean over the batch of ``-logp[target]`` (indices) or ``-sum(t * logp)`` (distributions); NaN
    for an empty batch, as in torch. Indices are picked, not multiplied by one-hot rows, so that a
    -inf logit of another class does not turn the loss into 0 * -inf = NaN."""
    n = logp.shape[0]
    # 0 * -inf and 0 / 0 are NaN, and a float16 total can overflow to inf, as in torch.
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        picked = logp[np.arange(n), index] if index is not None else (t * logp).sum(axis=1)
        # torch rounds the batch total to the input dtype before dividing (float16 overflows at
        # 65504 even when the mean would not).
        return -up(down(picked.sum(), dtype)) / n


def cross_entropy_forward(x: Array, t: Array) -> tuple[Array, CrossEntropyCache]:
    """``F.cross_entropy(x, t)`` with mean reduction; ``t`` holds class indices or probabilities."""
    x = _logits("cross_entropy", x)
    t, index = _target("cross_entropy", x, t)
    logp = _log_softmax(x, axis=1)
    return down(_mean_nll(logp, t, index, x.dtype), x.dtype), CrossEntropyCache(logp, t, x.dtype)


def cross_entropy_backward(cache: CrossEntropyCache, dout: Array) -> dict[str, Array]:
    logp, t, dtype = cache
    g = up(check_dout("cross_entropy", dout, (), dtype))
    with np.errstate(invalid="ignore", divide="ignore"):
        glogp = -t * (g / logp.shape[0])  # gradient reaching log-softmax from the mean NLL
        dx = glogp - np.exp(logp) * glogp.sum(axis=1, keepdims=True)
    return {"dx": down(dx, dtype)}


class SoftmaxWithLossCache(NamedTuple):
    y: Array  # softmax of the logits, in working precision
    t: Array  # one-hot or probability target, in working precision
    dtype: np.dtype


def softmax_with_loss_forward(x: Array, t: Array) -> tuple[Array, SoftmaxWithLossCache]:
    """The seed's combined layer: softmax then cross-entropy, with the loss through log-softmax
    (so ``[1000, 0, -1000]`` with target 2 costs 2000, not the ``-log(y + 1e-7)`` cap of 16.1)."""
    x = _logits("softmax_with_loss", x)
    t, index = _target("softmax_with_loss", x, t)
    sums = t.sum(axis=1)
    tol = 4 * x.shape[1] * float(np.spacing(x.dtype.type(1)))  # rounding of C entries in x's dtype
    off = np.flatnonzero(~(np.abs(sums - 1) <= tol))
    if off.size:
        raise ValueError(
            f"softmax_with_loss: target rows must sum to 1 (the backward y - t assumes it), "
            f"row {off[0]} sums to {sums[off[0]]}"
        )
    logp = _log_softmax(x, axis=1)
    return down(_mean_nll(logp, t, index, x.dtype), x.dtype), SoftmaxWithLossCache(np.exp(logp), t, x.dtype)


def softmax_with_loss_backward(cache: SoftmaxWithLossCache, dout: Array) -> dict[str, Array]:
    y, t, dtype = cache
    g = up(check_dout("softmax_with_loss", dout, (), dtype))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"dx": down(g * (y - t) / y.shape[0], dtype)}
