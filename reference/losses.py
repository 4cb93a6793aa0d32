"""Regression and probability losses with torch's reductions: mse_loss, l1_loss, smooth_l1_loss,
huber_loss, binary_cross_entropy, binary_cross_entropy_with_logits and kl_div.

Every loss is an elementwise term rounded to the input dtype, then reduced by ``reduction``: 'none'
returns the terms, 'sum' their total, 'mean' the total over their count (NaN when there are none),
and kl_div's 'batchmean' the total over the batch size ``x.shape[0]``. As in torch, the total of
float16/bfloat16 terms is accumulated in float32 and rounded once, so a term that overflowed to inf
makes the mean inf.

The target is differentiated like the input (torch does too): backward returns ``dx`` (``dp``) and
``dt``. Input and target share one shape and dtype (torch broadcasts a smaller target with a warning
and promotes mixed dtypes). The optional ``weight`` and ``pos_weight`` broadcast to the input's shape
and are constants (no gradient).

float16/bfloat16: mse, l1, smooth_l1, huber and binary_cross_entropy_with_logits compute each term
(and gradient) in float32 and round once, at least as accurate as torch's kernels. Where torch's own
roundings decide the result, the reference rounds at the same points (``_stored``): the
binary_cross_entropy kernels run in the dtype's arithmetic (its 1e-12 floor is 0 in float16), and
kl_div is built from tensor ops whose rounded intermediates cancel or overflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, same_dtype, up

__all__ = [
    "binary_cross_entropy_backward",
    "binary_cross_entropy_forward",
    "binary_cross_entropy_with_logits_backward",
    "binary_cross_entropy_with_logits_forward",
    "huber_loss_backward",
    "huber_loss_forward",
    "kl_div_backward",
    "kl_div_forward",
    "l1_loss_backward",
    "l1_loss_forward",
    "mse_loss_backward",
    "mse_loss_forward",
    "smooth_l1_loss_backward",
    "smooth_l1_loss_forward",
]

REDUCTIONS = ("none", "mean", "sum")
# NaN and ±inf follow IEEE arithmetic (inf - inf, 0 * inf, log 0), exactly where torch produces them.
_IEEE = {"divide": "ignore", "over": "ignore", "invalid": "ignore"}


class LossCache(NamedTuple):
    x: Array  # the input (the probabilities p for binary_cross_entropy), in working precision
    t: Array  # the target, in working precision
    reduction: str
    dtype: np.dtype
    threshold: float = 0.0  # smooth_l1's beta, huber's delta
    weight: Array | None = None
    pos_weight: Array | None = None
    log_target: bool = False


# -- validation ------------------------------------------------------------------------------------

def _reduction(op: str, reduction: object, allowed: tuple[str, ...] = REDUCTIONS) -> str:
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(
            f"{op}: {reduction!r} is not a valid value for reduction, expected one of {', '.join(map(repr, allowed))}"
        )
    return reduction


def _pair(op: str, x: object, t: object, names: tuple[str, str] = ("x", "t")) -> tuple[Array, Array]:
    """Input and target: floating arrays of one dtype and one shape."""
    x, t = floating(op, names[0], x), floating(op, names[1], t)
    same_dtype(op, **{names[0]: x, names[1]: t})
    if t.shape != x.shape:
        raise ValueError(
            f"{op}: {names[1]} has shape {t.shape}, but {names[0]} has shape {x.shape} (they must be equal)"
        )
    return x, t


def _constant(op: str, name: str, a: object, x: Array) -> Array | None:
    """An optional weight: None, or a floating array of the input's dtype that broadcasts to its shape."""
    if a is None:
        return None
    a = floating(op, name, a)
    same_dtype(op, input=x, **{name: a})
    try:
        fits = np.broadcast_shapes(a.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: {name} of shape {a.shape} does not broadcast to the input's shape {x.shape}")
    return up(a)


def _unit_interval(op: str, name: str, a: Array) -> None:
    """torch requires probabilities (and binary_cross_entropy's targets) in [0, 1]; NaN is rejected too."""
    bad = ~((a >= 0) & (a <= 1))
    if bad.any():
        at = tuple(int(i) for i in np.unravel_index(np.argmax(bad), a.shape))
        raise ValueError(f"{op}: {name} must lie in [0, 1], got {a[at]} at index {at}")


# -- reductions ------------------------------------------------------------------------------------

def _stored(w: Array, dtype: np.dtype) -> Array:
    """``w`` as torch stores an intermediate tensor: rounded to the dtype (a no-op in float32/float64)."""
    return up(down(w, dtype))


def _rounding(dtype: np.dtype) -> Callable[[Array], Array]:
    return lambda w: _stored(w, dtype)


def _count(reduction: str, shape: tuple[int, ...]) -> int:
    """What the total is divided by: every element for 'mean', the batch for 'batchmean' (none when 0-d)."""
    if reduction == "mean":
        return math.prod(shape)
    if reduction == "batchmean":
        return shape[0] if shape else 1
    return 1


def _reduce(term: Array, reduction: str, dtype: np.dtype) -> Array:
    """The terms rounded to the dtype, then 'none', or their total accumulated in working precision
    (divided by the count for the means) and rounded once."""
    terms = down(term, dtype)
    if reduction == "none":
        return terms
    with np.errstate(**_IEEE):  # inf - inf in the total, 0 / 0 = NaN for an empty mean, as in torch
        total = up(terms).sum()
        if reduction == "batchmean":
            total = _stored(total, dtype)  # F.kl_div rounds the sum to the dtype before dividing by the batch
        return down(total / _count(reduction, terms.shape), dtype)


def _upstream(op: str, dout: Array, c: LossCache, divide: bool = True) -> Array:
    """The gradient reaching every term: ``dout`` itself for 'none'; else the 0-d ``dout`` on every
    element, divided by the count of a mean unless ``divide`` is False (the caller divides later)."""
    shape = c.x.shape
    g = up(check_dout(op, dout, shape if c.reduction == "none" else (), c.dtype))
    if divide:
        g = g / max(_count(c.reduction, shape), 1)  # an empty input has no element to divide among
    return np.broadcast_to(g, shape)


# -- regression losses of d = x - t ----------------------------------------------------------------

Term = Callable[[Array, float], Array]


def _regression_forward(
    op: str, x: Array, t: Array, reduction: str, term: Term, threshold: float = 0.0
) -> tuple[Array, LossCache]:
    reduction = _reduction(op, reduction)
    x, t = _pair(op, x, t)
    wx, wt = up(x), up(t)
    with np.errstate(**_IEEE):  # inf - inf = NaN; a float16 term overflows to inf, as in torch
        out = _reduce(term(wx - wt, threshold), reduction, x.dtype)
    return out, LossCache(wx, wt, reduction, x.dtype, threshold)


def _regression_backward(op: str, c: LossCache, dout: Array, slope: Term) -> dict[str, Array]:
    g = _upstream(op, dout, c)
    with np.errstate(**_IEEE):
        dx = g * slope(c.x - c.t, c.threshold)
        if slope is _sign:  # torch's l1_loss is |x - t| in tensor ops: the target gets the negated gradient
            dt = -dx
        else:  # the fused kernels differentiate the target with the roles swapped: slope(t - x)
            dt = g * slope(c.t - c.x, c.threshold)
        return {"dx": down(dx, c.dtype), "dt": down(dt, c.dtype)}


def _sign(d: Array, _: float = 0.0) -> Array:
    """abs' with torch's one-sided values: 0 at d = 0 and at NaN (torch's sgn(NaN) is 0)."""
    return np.where(np.isnan(d), 0, np.sign(d))


def _abs(d: Array, _: float = 0.0) -> Array:
    return np.abs(d)


def mse_loss_forward(x: Array, t: Array, reduction: str = "mean") -> tuple[Array, LossCache]:
    return _regression_forward("mse_loss", x, t, reduction, lambda d, _: d * d)


def mse_loss_backward(cache: LossCache, dout: Array) -> dict[str, Array]:
    # torch: norm * (x - t) * dout, each product rounded to the dtype, norm = 2 / N converted to it first:
    # x - t may overflow (float16 max - (-max)) where 2 (x - t) / N would not.
    g = _upstream("mse_loss", dout, cache, divide=False)
    norm = _stored(np.asarray(2 / max(_count(cache.reduction, cache.x.shape), 1)), cache.dtype)
    with np.errstate(**_IEEE):
        dx = _stored(norm * _stored(cache.x - cache.t, cache.dtype), cache.dtype) * g
        dt = _stored(norm * _stored(cache.t - cache.x, cache.dtype), cache.dtype) * g
    return {"dx": down(dx, cache.dtype), "dt": down(dt, cache.dtype)}


def l1_loss_forward(x: Array, t: Array, reduction: str = "mean") -> tuple[Array, LossCache]:
    return _regression_forward("l1_loss", x, t, reduction, _abs)


def l1_loss_backward(cache: LossCache, dout: Array) -> dict[str, Array]:
    return _regression_backward("l1_loss", cache, dout, _sign)


def _smooth_l1(d: Array, beta: float) -> Array:
    z = np.abs(d)
    return np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)


def smooth_l1_loss_forward(x: Array, t: Array, reduction: str = "mean", beta: float = 1.0) -> tuple[Array, LossCache]:
    """Quadratic below ``beta``, linear above; ``beta = 0`` is l1_loss (torch calls it, gradient included)."""
    if not beta >= 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    return _regression_forward("smooth_l1_loss", x, t, reduction, _smooth_l1 if beta > 0 else _abs, beta)


def smooth_l1_loss_backward(cache: LossCache, dout: Array) -> dict[str, Array]:
    # clip(d / beta, -1, 1): ±1 from |d| = beta on, NaN stays NaN (unlike l1's 0).
    slope = (lambda d, beta: np.clip(d / beta, -1, 1)) if cache.threshold > 0 else _sign
    return _regression_backward("smooth_l1_loss", cache, dout, slope)


def _huber(d: Array, delta: float) -> Array:
    z = np.abs(d)
    return np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))


def huber_loss_forward(x: Array, t: Array, reduction: str = "mean", delta: float = 1.0) -> tuple[Array, LossCache]:
    """Quadratic below ``delta``, linear with slope ``delta`` above."""
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return _regression_forward("huber_loss", x, t, reduction, _huber, delta)


def huber_loss_backward(cache: LossCache, dout: Array) -> dict[str, Array]:
    return _regression_backward("huber_loss", cache, dout, lambda d, delta: np.clip(d, -delta, delta))


# -- binary cross-entropy on probabilities ---------------------------------------------------------
# torch's kernels evaluate in the input dtype's own arithmetic: in float16/bfloat16 every operation
# rounds (``r``), the weight and the mean's 1/N follow as separate tensor ops. The reference rounds at
# the same points; single rounding would be up to 3 ULPs away and not always nearer the exact value.

def _weighted(k: Array, weight: Array | None, count: int, dtype: np.dtype) -> Array:
    """torch's binary_cross_entropy: the kernel's result ``k``, then times the weight, then divided
    by the count of a mean, each a tensor of the dtype: a float16 kernel value that overflowed stays
    inf after the division."""
    k = _stored(k, dtype)
    if weight is not None:
        k = _stored(k * weight, dtype)
    return down(k / count, dtype)


def binary_cross_entropy_forward(
    p: Array, t: Array, weight: Array | None = None, reduction: str = "mean"
) -> tuple[Array, LossCache]:
    """``-w (t log p + (1 - t) log(1 - p))`` with each log clamped at -100, as in torch."""
    op = "binary_cross_entropy"
    reduction = _reduction(op, reduction)
    p, t = _pair(op, p, t, ("p", "t"))
    _unit_interval(op, "p", p)
    _unit_interval(op, "t", t)
    w = _constant(op, "weight", weight, p)
    wp, wt = up(p), up(t)
    r = _rounding(p.dtype)
    with np.errstate(divide="ignore"):  # log(0) = -inf before the clamp
        term = r(r(wt - 1) * np.maximum(r(np.log1p(-wp)), -100)) - r(wt * np.maximum(r(np.log(wp)), -100))
    return _reduce(_weighted(term, w, 1, p.dtype), reduction, p.dtype), LossCache(wp, wt, reduction, p.dtype, weight=w)


def binary_cross_entropy_backward(cache: LossCache, dout: Array) -> dict[str, Array]:
    p, t, reduction, dtype = cache.x, cache.t, cache.reduction, cache.dtype
    g = _upstream("binary_cross_entropy", dout, cache, divide=False)
    count = _count(reduction, p.shape) or 1
    r = _rounding(dtype)
    eps = r(np.float32(1e-12))  # torch's EPSILON in the input dtype: 0 in float16
    with np.errstate(**_IEEE):  # float16 at p in {0, 1}: 0 / 0 = NaN, x / 0 = inf; logit(0 or 1) = ∓inf
        dp = r(g * r(p - t)) / np.maximum(r(r(1 - p) * p), eps)
        dt = -r(np.log(r(p / r(1 - p)))) * g  # d/dt = -logit(p), unclamped
        return {"dp": _weighted(dp, cache.weight, count, dtype), "dt": _weighted(dt, cache.weight, count, dtype)}


# -- binary cross-entropy on logits ----------------------------------------------------------------

def _log_sigmoid(w: Array) -> Array:
    """log(sigmoid(w)) = min(w, 0) - log1p(e^-|w|), with no overflow at either end."""
    return np.minimum(w, 0) - np.log1p(np.exp(-np.abs(w)))


def binary_cross_entropy_with_logits_forward(
    x: Array, t: Array, weight: Array | None = None, pos_weight: Array | None = None, reduction: str = "mean"
) -> tuple[Array, LossCache]:
    """``w ((1 - t) x - (1 + (pos_weight - 1) t) log sigmoid(x))``, torch's stable form; ``pos_weight``
    scales the positive term and broadcasts along the last (class) dimension."""
    op = "binary_cross_entropy_with_logits"
    reduction = _reduction(op, reduction)
    x, t = _pair(op, x, t)
    w, pw = _constant(op, "weight", weight, x), _constant(op, "pos_weight", pos_weight, x)
    wx, wt = up(x), up(t)
    with np.errstate(**_IEEE):  # x = ±inf: 0 * inf or inf - inf is NaN, as in torch
        log_weight = 1 if pw is None else 1 + (pw - 1) * wt
        term = (1 - wt) * wx - log_weight * _log_sigmoid(wx)
        if w is not None:
            term = term * w
        out = _reduce(term, reduction, x.dtype)
    return out, LossCache(wx, wt, reduction, x.dtype, weight=w, pos_weight=pw)


def binary_cross_entropy_with_logits_backward(cache: LossCache, dout: Array) -> dict[str, Array]:
    x, t, pw = cache.x, cache.t, cache.pos_weight
    g = _upstream("binary_cross_entropy_with_logits", dout, cache, divide=False)
    count, r = max(_count(cache.reduction, x.shape), 1), _rounding(cache.dtype)
    with np.errstate(**_IEEE):
        log_s = _log_sigmoid(x)
        if pw is None:
            dx, dt = np.exp(log_s) - t, -x
        else:
            # d/dx = (pw t + 1 - t) sigmoid(x) - pw t;  d/dt = log sigmoid(-x) - pw log sigmoid(x), which
            # stays finite or ±inf at x = ∓inf where -x - (pw - 1) log sigmoid(x) would be inf - inf.
            # (in torch's order, each step rounded to the dtype: the difference cancels)
            pt = r(pw * t)
            dx = r(r(r(pt + 1) - t) * r(np.exp(log_s))) - pt
            dt = r(_log_sigmoid(-x)) - r(r(log_s) * pw)
        # torch's order, each a tensor of the dtype: times dout, times the weight, then divided by the count
        # of a mean (-x * dout can overflow where the gradient divided first would not).
        w = 1 if cache.weight is None else cache.weight
        return {n: down(r(r(r(d) * g) * w) / count, cache.dtype) for n, d in (("dx", dx), ("dt", dt))}


# -- Kullback-Leibler divergence -------------------------------------------------------------------
# torch builds kl_div from tensor ops (xlogy, mul, sub, exp) and differentiates it by autograd, so in
# float16/bfloat16 every intermediate is rounded to the dtype. The reference rounds at the same
# points (``r``), in torch's order: the terms are differences of rounded values (cancellation), and
# an intermediate can overflow to inf (t x, exp(t), g exp(t)) where the exact result would not.


def _xlogy(a: Array, b: Array, r: Callable[[Array], Array]) -> Array:
    """torch.xlogy(a, b) = a log b (log b rounded first), 0 where a == 0 unless b is NaN."""
    return np.where((a == 0) & ~np.isnan(b), 0, a * r(np.log(b)))


def kl_div_forward(
    x: Array, t: Array, reduction: str = "mean", log_target: bool = False
) -> tuple[Array, LossCache]:
    """Pointwise ``t (log t - x)`` with ``x`` the log-probabilities: torch's ``xlogy(t, t) - t x``, or
    ``exp(t) (t - x)`` when the target is given as log-probabilities too."""
    op = "kl_div"
    reduction = _reduction(op, reduction, REDUCTIONS + ("batchmean",))
    x, t = _pair(op, x, t)
    wx, wt = up(x), up(t)
    r = _rounding(x.dtype)
    with np.errstate(**_IEEE):
        if log_target:
            term = r(np.exp(wt)) * r(wt - wx)
        else:
            term = r(_xlogy(wt, wt, r)) - r(wt * wx)
    return _reduce(term, reduction, x.dtype), LossCache(wx, wt, reduction, x.dtype, log_target=bool(log_target))


def kl_div_backward(cache: LossCache, dout: Array) -> dict[str, Array]:
    x, t = cache.x, cache.t
    r = _rounding(cache.dtype)
    g = r(_upstream("kl_div", dout, cache))
    with np.errstate(**_IEEE):
        if cache.log_target:  # d/dt [e^t (t - x)] = (t - x) e^t + e^t
            e = r(np.exp(t))
            dx, dt = -r(g * e), r(r(g * r(t - x)) * e) + r(g * e)
        else:
            # autograd through xlogy(t, t) - t x: g xlogy(t != 0, t) + g t / t - g x, so NaN wherever t = 0.
            dx = -r(g * t)
            dt = r(r(g * _xlogy((t != 0).astype(t.dtype), t, r)) + r(r(g * t) / t)) + r(-g * x)
        return {"dx": down(dx, cache.dtype), "dt": down(dt, cache.dtype)}
