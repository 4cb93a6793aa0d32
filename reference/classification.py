"""Classification losses over class scores: ``nll_loss``, ``cross_entropy`` and ``multi_margin_loss``
with torch's options (class ``weight``, ``ignore_index``, ``reduction``, ``label_smoothing``,
probability targets, spatial ``(N, C, d1, ...)`` inputs).

Every op works on the input laid out as rows over classes: the class axis (1, or 0 for one sample of
shape ``(C,)``) is moved last and the other axes flattened, so there is one row of C scores per
target. Mean reduction divides by the total weight of the targets that are not ``ignore_index``
(their count without a weight), as torch does: an empty or all-ignored batch gives 0 / 0 = NaN and a
zero gradient. float16/bfloat16 are computed in float32, but batch totals are rounded to the input
dtype before the mean, as torch stores them, so a float16 total overflows to inf where torch's does
(even when the mean would not).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, up, work_dtype
from reference.softmax import labels, log_probs, log_softmax_grad, probabilities, total

__all__ = [
    "cross_entropy_backward",
    "cross_entropy_forward",
    "multi_margin_loss_backward",
    "multi_margin_loss_forward",
    "nll_loss_backward",
    "nll_loss_forward",
    "sequence_cross_entropy_backward",
    "sequence_cross_entropy_forward",
]

REDUCTIONS = ("none", "mean", "sum")


def _rounded(w: Array, dtype: np.dtype) -> Array:
    """A working-precision value rounded to ``dtype``, where torch stores an intermediate tensor (beyond
    the dtype's range: inf, as ``down`` rounds)."""
    return up(down(w, dtype))


# -- inputs as rows over classes --------------------------------------------------------------------

class ClassLayout(NamedTuple):
    """An input of shape (C,), (N, C) or (N, C, d1, ...) as an (M, C) matrix, one row per target."""

    shape: tuple[int, ...]  # the input's shape
    axis: int  # its class axis
    batch: tuple[int, ...]  # the target's shape: the input's without the class axis

    @classmethod
    def of(cls, op: str, x: Array, max_ndim: int | None = None) -> ClassLayout:
        if x.ndim == 0 or (max_ndim is not None and x.ndim > max_ndim):
            expected = "(C,) or (N, C)" if max_ndim == 2 else "(C,), (N, C) or (N, C, d1, ...)"
            raise ValueError(f"{op}: expected an input of shape {expected}, got {x.shape}")
        axis = 1 if x.ndim > 1 else 0
        return cls(x.shape, axis, x.shape[:axis] + x.shape[axis + 1 :])

    @property
    def classes(self) -> int:
        return self.shape[self.axis]

    @property
    def count(self) -> int:
        return math.prod(self.batch)

    def rows(self, a: Array) -> Array:
        """``a`` (of the input's shape) in working precision, class axis last, as (M, C)."""
        return np.moveaxis(up(a), self.axis, -1).reshape(self.count, self.classes)

    def back(self, rows: Array, dtype: np.dtype) -> Array:
        """(M, C) rows back in the input's layout, rounded to ``dtype``."""
        return down(np.moveaxis(rows.reshape(self.batch + (self.classes,)), -1, self.axis), dtype)


def _options(op: str, lay: ClassLayout, x: Array, weight: object, reduction: str) -> Array:
    """Validate ``reduction`` and the optional class ``weight``; return the weight in working precision
    (ones without one)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    c = lay.classes
    if weight is None:
        return np.ones(c, work_dtype(x.dtype))
    weight = floating(op, "weight", weight)
    if weight.shape != (c,):
        raise ValueError(f"{op}: weight must have shape ({c},) for {c} classes, got {weight.shape}")
    if weight.dtype != x.dtype:
        raise TypeError(f"{op}: weight has dtype {weight.dtype}, but the input has dtype {x.dtype}")
    return up(weight)


class Targets(NamedTuple):
    """Class-index targets, one per row."""

    index: Array  # (M,) class of each target, 0 where ignored
    weight: Array  # (M,) the weight of its class (1 without a weight), 0 where ignored
    valid: Array  # (M,) False where the target equals ignore_index

    @classmethod
    def of(cls, op: str, lay: ClassLayout, t: object, weight: Array, ignore_index: int | None = None) -> Targets:
        t = labels(op, t, lay.shape, lay.batch, ignore_index).reshape(lay.count)
        valid = t != ignore_index if ignore_index is not None else np.ones(t.shape, bool)
        index = np.where(valid, t, 0)
        return cls(index, np.where(valid, weight[index], weight.dtype.type(0)), valid)

    def picked(self, rows: Array) -> Array:
        """Each row's entry at its target class."""
        return rows[np.arange(len(self.index)), self.index]

    def nll(self, logp: Array) -> Array:
        """``-logp[target] * weight`` per row, 0 where ignored (a NaN or -inf there does not count)."""
        with np.errstate(invalid="ignore", over="ignore"):  # a huge -logp times a weight above 1: inf, as in torch
            return np.where(self.valid, -self.picked(logp) * self.weight, 0)

    def onehot(self, classes: int) -> Array:
        """(M, C) rows holding each target's weight at its class (zero rows where ignored)."""
        out = np.zeros((len(self.index), classes), self.weight.dtype)
        out[np.arange(len(self.index)), self.index] = self.weight
        return out

    def support(self, classes: int) -> Array:
        """(M, C) True at each valid target's class: where torch's nll backward writes a gradient."""
        out = np.zeros((len(self.index), classes), bool)
        out[np.arange(len(self.index)), self.index] = self.valid
        return out


def _upstream(s: Array, target: Array, support: Array | None) -> Array:
    """``-s * target`` on the support, exact zeros elsewhere: torch writes the gradient of each loss term
    into zeros, so an infinite dout gives no ``inf * 0`` NaN off the target (None: dense, every entry)."""
    with np.errstate(invalid="ignore", over="ignore"):  # an infinite dout times a zero weight: NaN, as in torch
        g = -s * target
    return g if support is None else np.where(support, g, 0)


class Reduction(NamedTuple):
    """How per-target losses become the output, and the gradient of the output with respect to them."""

    how: str  # 'none', 'mean' or 'sum'
    count: Array  # the mean's divisor, as torch stores it
    batch: tuple[int, ...]  # shape of the per-target losses
    valid: Array  # (M,) targets that count

    @property
    def shape(self) -> tuple[int, ...]:
        return self.batch if self.how == "none" else ()

    def forward(self, per: Array, dtype: np.dtype) -> Array:
        """Reduce the (M,) per-target losses; the result is rounded to ``dtype`` but kept in working precision."""
        if self.how == "none":
            return _rounded(per.reshape(self.batch), dtype)
        summed = total(per, dtype)
        if self.how == "sum":
            return summed
        with np.errstate(invalid="ignore", divide="ignore"):
            return _rounded(summed / self.count, dtype)

    def scale(self, op: str, dout: Array, dtype: np.dtype) -> Array:
        """d out / d per-target loss for each row, given ``dout``; 0 for ignored targets."""
        g = up(check_dout(op, dout, self.shape, dtype)).reshape(-1 if self.how == "none" else ())
        if self.how == "mean":
            with np.errstate(divide="ignore", invalid="ignore"):
                g = g / self.count  # inf for an all-ignored batch, which has no target to receive it
        return np.where(self.valid, g, g.dtype.type(0))


def _reduction(how: str, lay: ClassLayout, weights: Array, valid: Array, dtype: np.dtype) -> Reduction:
    """``weights`` (M,): what each target adds to the mean's divisor."""
    return Reduction(how, total(weights, dtype), lay.batch, valid)


# -- nll_loss ---------------------------------------------------------------------------------------

class NllCache(NamedTuple):
    lay: ClassLayout
    target: Array  # (M, C) weight at each target's class
    support: Array  # (M, C) True at each valid target's class
    red: Reduction
    dtype: np.dtype


def nll_loss_forward(
    x: Array, t: Array, weight: Array | None = None, ignore_index: int = -100, reduction: str = "mean"
) -> tuple[Array, NllCache]:
    """``F.nll_loss``: ``x`` holds log-probabilities, class axis 1 (or 0 for one sample of shape (C,))."""
    x = floating("nll_loss", "x", x)
    lay = ClassLayout.of("nll_loss", x)
    tg = Targets.of("nll_loss", lay, t, _options("nll_loss", lay, x, weight, reduction), ignore_index)
    red = _reduction(reduction, lay, tg.weight, tg.valid, x.dtype)
    out = red.forward(tg.nll(lay.rows(x)), x.dtype)
    return down(out, x.dtype), NllCache(lay, tg.onehot(lay.classes), tg.support(lay.classes), red, x.dtype)


def nll_loss_backward(cache: NllCache, dout: Array) -> dict[str, Array]:
    lay, target, support, red, dtype = cache
    s = red.scale("nll_loss", dout, dtype)
    return {"dx": lay.back(_upstream(s[:, None], target, support), dtype)}


# -- cross_entropy ----------------------------------------------------------------------------------

class CrossEntropyCache(NamedTuple):
    lay: ClassLayout
    logp: Array  # (M, C) log-softmax rows, working precision
    target: Array  # (M, C) weighted (smoothed) target each row's loss is taken against; 0 where ignored
    support: Array | None  # (M, C) where the loss depends on logp: the target classes, or valid rows
    t_factor: Array | None  # (C,) what a probability target is multiplied by in the loss; None for indices
    red: Reduction
    dtype: np.dtype


def _smoothing(label_smoothing: float) -> float:
    if not 0.0 <= label_smoothing <= 1.0:
        # torch raises above 1 but silently ignores a negative value; both are errors here.
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


def _index_loss(lay: ClassLayout, logp: Array, tg: Targets, w: Array, how: str, eps: float, dtype: np.dtype):
    """Class-index targets: torch's ``(1 - eps) * nll + eps / C * smooth`` with ``smooth = -sum(logp *
    weight)`` over the classes, masked and reduced like nll, each part reduced (and rounded) on its own.
    Without smoothing the smooth part is not computed at all (a -inf logit would make it inf)."""
    red = _reduction(how, lay, tg.weight, tg.valid, dtype)
    out, target = red.forward(tg.nll(logp), dtype), tg.onehot(lay.classes)
    support = tg.support(lay.classes)
    if eps > 0:
        with np.errstate(invalid="ignore", over="ignore"):  # a huge log-probability times a weight: inf, as in torch
            smooth = np.where(tg.valid, -(logp * w).sum(axis=1), 0)
        with np.errstate(invalid="ignore", over="ignore"):  # label_smoothing=1 on an infinite nll: 0 * inf = NaN
            out = (1 - eps) * out + red.forward(smooth, dtype) * (eps / lay.classes)
        target = (1 - eps) * target + (eps / lay.classes) * w * tg.valid[:, None]
        support = np.broadcast_to(tg.valid[:, None], target.shape)
    return out, target, support, red


def _prob_loss(lay: ClassLayout, logp: Array, p: Array, w: Array, how: str, eps: float, dtype: np.dtype):
    """Probability targets: ``-sum(logp * p * weight)`` per row with ``p`` blended towards uniform by
    ``eps``; the mean divides by the number of rows (not by weight)."""
    if eps > 0:
        p = p * (1 - eps) + eps / lay.classes
    red = _reduction(how, lay, np.ones(lay.count, logp.dtype), np.ones(lay.count, bool), dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # 0 * -inf = NaN, a huge product inf, as in torch
        out = red.forward(-(logp * p * w).sum(axis=1), dtype)
    return out, p * w, red


def cross_entropy_forward(
    x: Array,
    t: Array,
    weight: Array | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> tuple[Array, CrossEntropyCache]:
    """``F.cross_entropy`` through the max-subtracted log-softmax over the class axis. ``t`` holds class
    indices (shape of ``x`` without the class axis; ``ignore_index`` entries do not count) or class
    probabilities (the shape of ``x``; no ``ignore_index``)."""
    op = "cross_entropy"
    x = floating(op, "x", x)
    lay = ClassLayout.of(op, x)
    w = _options(op, lay, x, weight, reduction)
    eps = _smoothing(label_smoothing)
    logp = log_probs(lay.rows(x), axis=1)
    if np.asarray(t).dtype.kind in "iu":
        tg = Targets.of(op, lay, t, w, ignore_index)
        out, target, support, red = _index_loss(lay, logp, tg, w, reduction, eps, x.dtype)
        return down(out, x.dtype), CrossEntropyCache(lay, logp, target, support, None, red, x.dtype)
    if ignore_index >= 0:
        raise ValueError(f"{op}: ignore_index {ignore_index} is not supported for probability targets")
    p = lay.rows(probabilities(op, x, t))
    out, target, red = _prob_loss(lay, logp, p, w, reduction, eps, x.dtype)
    factor = w * (1 - eps) if eps > 0 else w
    return down(out, x.dtype), CrossEntropyCache(lay, logp, target, None, factor, red, x.dtype)


def cross_entropy_backward(cache: CrossEntropyCache, dout: Array) -> dict[str, Array]:
    lay, logp, target, support, t_factor, red, dtype = cache
    s = red.scale("cross_entropy", dout, dtype)[:, None]
    with np.errstate(invalid="ignore", over="ignore"):
        grads = {"dx": lay.back(log_softmax_grad(_upstream(s, target, support), logp, axis=1), dtype)}
        if t_factor is not None:  # a probability target is differentiable, as in torch
            grads["dt"] = lay.back(-s * logp * t_factor, dtype)
    return grads


# -- multi_margin_loss ------------------------------------------------------------------------------

class MultiMarginCache(NamedTuple):
    lay: ClassLayout
    coef: Array  # (M, C) d per-target loss / d x[j] for j != target: p * z^(p-1) * weight[target] / C
    tg: Targets
    red: Reduction
    dtype: np.dtype


def multi_margin_loss_forward(
    x: Array, t: Array, p: int = 1, margin: float = 1.0, weight: Array | None = None, reduction: str = "mean"
) -> tuple[Array, MultiMarginCache]:
    """``F.multi_margin_loss``: per target, ``sum_{j != y} max(0, margin - x[y] + x[j])^p * weight[y] / C``.
    At the hinge (z == 0) and for a NaN z the term and its gradient are 0, as in torch's kernel."""
    op = "multi_margin_loss"
    x = floating(op, "x", x)
    if x.dtype.itemsize < 4:
        raise TypeError(f"{op}: torch's CPU kernel has no {x.dtype}; use float32 or float64")
    if p not in (1, 2):
        raise ValueError(f"{op}: p must be 1 or 2, got {p!r}")
    lay = ClassLayout.of(op, x, max_ndim=2)
    tg = Targets.of(op, lay, t, _options(op, lay, x, weight, reduction))
    rows = lay.rows(x)
    with np.errstate(invalid="ignore", over="ignore"):
        z = (rows.dtype.type(margin) - tg.picked(rows)[:, None]) + rows  # torch's order, in x's dtype
        active = z > 0
        active[np.arange(lay.count), tg.index] = False
        h = np.where(active, z if p == 1 else z * z, 0) * tg.weight[:, None]
        # torch's kernel: 2 g z with g = 1 / C first (2 z may overflow where the gradient does not), then the weight
        slope = np.full_like(z, 1 / lay.classes) if p == 1 else (2 / lay.classes) * z
        coef = np.where(active, slope, 0) * tg.weight[:, None]
    red = _reduction(reduction, lay, np.ones(lay.count, rows.dtype), tg.valid, x.dtype)
    with np.errstate(over="ignore"):  # a total beyond the dtype's range is inf, as in torch
        out = red.forward(h.sum(axis=1) / lay.classes, x.dtype)
    return down(out, x.dtype), MultiMarginCache(lay, coef, tg, red, x.dtype)


def multi_margin_loss_backward(cache: MultiMarginCache, dout: Array) -> dict[str, Array]:
    lay, coef, tg, red, dtype = cache
    s = red.scale("multi_margin_loss", dout, dtype)[:, None]
    with np.errstate(invalid="ignore", over="ignore"):
        dx = coef * s
        # x[y] enters every term with the opposite sign.
        dx[np.arange(lay.count), tg.index] = -coef.sum(axis=1) * s[:, 0]
    return {"dx": lay.back(dx, dtype)}


# -- sequence_cross_entropy -------------------------------------------------------------------------

class SequenceCrossEntropyCache(NamedTuple):
    inner: CrossEntropyCache  # cross_entropy's cache on the (N * T, V) rows
    shape: tuple[int, ...]  # x's shape (N, T, V)
    out_shape: tuple[int, ...]  # (N, T) for reduction="none", else ()


def sequence_cross_entropy_forward(
    x: Array, t: Array, ignore_index: int = -100, reduction: str = "mean"
) -> tuple[Array, SequenceCrossEntropyCache]:
    """A language model's loss: logits x (N, T, V) for tokens t (N, T), i.e. ``F.cross_entropy(x.reshape(-1, V),
    t.reshape(-1), ignore_index=..., reduction=...)``; "mean" averages over the tokens that are not
    ``ignore_index`` (padding), "none" gives the (N, T) per-token losses."""
    op = "sequence_cross_entropy"
    x = floating(op, "x", x)
    t = np.asarray(t)
    if x.ndim != 3 or t.shape != x.shape[:2]:
        raise ValueError(f"{op}: expected logits x (N, T, V) and tokens t (N, T), got x {x.shape} and t {t.shape}")
    try:
        out, inner = cross_entropy_forward(
            x.reshape(-1, x.shape[2]), t.reshape(-1), ignore_index=ignore_index, reduction=reduction
        )
    except (TypeError, ValueError) as err:
        raise type(err)(f"{op}: {err}") from None
    out_shape = t.shape if reduction == "none" else ()
    return out.reshape(out_shape), SequenceCrossEntropyCache(inner, x.shape, out_shape)


def sequence_cross_entropy_backward(cache: SequenceCrossEntropyCache, dout: Array) -> dict[str, Array]:
    inner, shape, out_shape = cache
    dout = check_dout("sequence_cross_entropy", dout, out_shape, inner.dtype)
    return {"dx": cross_entropy_backward(inner, dout.reshape(-1 if out_shape else ()))["dx"].reshape(shape)}
