"""The registry entries' higher-precision oracles (``OpSpec.highprec``), built on ``harness.highprec``.

Each oracle takes ``(variant, float64 inputs, douts or None)`` and returns the forward's outputs by name,
or (douts given) the gradients of ``sum_k <out_k, dout_k>`` by input name, rounded to float64 once.
Formulas see the engine ``m`` (extended precision or mpmath) and use ``m``'s functions, integer or
float64 constants only (a Python expression such as ``1 / 6`` would round in float64 first)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np

from harness.highprec import EXTENDED, dot, elementwise, extended, round64, total
from harness.registry import HighPrec, Variant

Arrays = dict[str, np.ndarray]


def _sigmoid(m, x):
    return 1 / (1 + m.exp(-x))


def _logsigmoid(m, x):
    return -m.log1p(m.exp(-x))


def unary(
    forward: Callable, backward: Callable, post: Callable | None = None, exact_where: Callable | None = None
) -> HighPrec:
    """An elementwise op of ``x``: ``forward(m, x, **options)``, ``backward(m, x, dout, **options)``;
    ``post`` adjusts the rounded forward (a sign of zero that torch's kernel decides); ``exact_where(x,
    **options)`` marks the inputs where the formula amplifies rounding errors (computed in mpmath)."""

    def oracle(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays | None:
        opts = dict(variant.options)
        where = (lambda x, *rest: exact_where(x, **opts)) if exact_where else None
        if douts is None:
            out = elementwise(lambda m, x: forward(m, x, **opts), inputs["x"], exact_where=where)
            return {"out": post(out) if post else out}
        d = douts["out"]
        return {"x": elementwise(lambda m, x, d: backward(m, x, d, **opts), inputs["x"], d, exact_where=where)}

    return oracle


# -- activations --------------------------------------------------------------------------------------

relu = unary(lambda m, x: m.where(x < 0, 0, x), lambda m, x, d: m.where(x <= 0, 0, d))
sigmoid = unary(_sigmoid, lambda m, x, d: d / ((1 + m.exp(-x)) * (1 + m.exp(x))))
tanh = unary(lambda m, x: m.tanh(x), lambda m, x, d: d / m.cosh(x) ** 2)
exp = unary(lambda m, x: m.exp(x), lambda m, x, d: d * m.exp(x))
log = unary(lambda m, x: m.log(x), lambda m, x, d: d / x)
reciprocal = unary(lambda m, x: 1 / x, lambda m, x, d: -d / (x * x))
leaky_relu = unary(
    lambda m, x, negative_slope=0.01: m.where(x > 0, x, x * negative_slope),
    lambda m, x, d, negative_slope=0.01: m.where(x > 0, d, d * negative_slope),
)


def _elu(alpha: float = 1.0, scale: float = 1.0, divide_input: bool = False) -> HighPrec:
    """torch's elu kernel: ``x <= 0 ? alpha scale expm1(x / a) : scale x``, where ``a`` is alpha for celu
    (``divide_input``) and 1 otherwise; its gradient ``alpha scale / a exp(x / a)`` at and below 0 (so
    elu'(0) = alpha, celu'(0) = 1)."""

    def forward(m, x, alpha=alpha):
        a = alpha if divide_input else 1.0
        return m.where(x <= 0, m.expm1(x / a) * m.c(alpha) * m.c(scale), x * m.c(scale))

    def backward(m, x, d, alpha=alpha):
        a = alpha if divide_input else 1.0
        return m.where(x <= 0, d * m.c(alpha) * m.c(scale) / a * m.exp(x / a), d * m.c(scale))

    return unary(forward, backward)


elu = _elu()
selu = _elu(1.6732632423543772848170429916717, 1.0507009873554804934193349852946)  # torch's constants
celu = _elu(divide_input=True)


def _gelu_forward(m, x, approximate="none"):
    if approximate == "tanh":  # x (1 + tanh u) / 2 = x sigmoid(2u), without the cancellation at -x
        u = m.sqrt(2 / m.pi) * (x + m.c(0.044715) * x * x * x)
        return x * _sigmoid(m, 2 * u)
    return x * m.ndtr(x)


def _gelu_backward(m, x, d, approximate="none"):
    if approximate == "tanh":
        beta, kappa = m.sqrt(2 / m.pi), m.c(0.044715)
        u = beta * (x + kappa * x * x * x)
        s, s_neg = _sigmoid(m, 2 * u), _sigmoid(m, -2 * u)  # (1 - tanh^2 u) / 4 = s s_neg
        return d * (s + 2 * x * s * s_neg * beta * (1 + 3 * kappa * x * x))
    return d * (m.ndtr(x) + x * m.exp(-x * x / 2) / m.sqrt(2 * m.pi))


def _gelu_amplifies(x, approximate="none"):
    """Where exp's argument (-x^2 / 2, or the tanh form's -2u) is large and computed, not exact, while
    the result neither saturates nor underflows float64: mpmath there."""
    with np.errstate(invalid="ignore"):
        return (x < -3) & (x > -30) if approximate == "tanh" else (abs(x) > 3) & (abs(x) < 40)


gelu = unary(_gelu_forward, _gelu_backward, exact_where=_gelu_amplifies)
silu = unary(lambda m, x: x * _sigmoid(m, x), lambda m, x, d: d * _sigmoid(m, x) * (1 + x * _sigmoid(m, -x)))


def _mish_backward(m, x, d):
    sp = m.log1p(m.exp(x))
    return d * (m.tanh(sp) + x * _sigmoid(m, x) / m.cosh(sp) ** 2)


mish = unary(lambda m, x: x * m.tanh(m.log1p(m.exp(x))), _mish_backward)
softplus = unary(
    lambda m, x, beta=1.0, threshold=20.0: m.where(x * beta > threshold, x, m.log1p(m.exp(x * beta)) / beta),
    lambda m, x, d, beta=1.0, threshold=20.0: m.where(x * beta > threshold, d, d * _sigmoid(m, x * beta)),
)
# torch differentiates x / (1 + |x|) by the quotient rule: NaN at ±inf, where the true gradient is 0.
softsign = unary(
    lambda m, x: x / (1 + abs(x)),
    lambda m, x, d: m.where(abs(x) == m.c(math.inf), m.c(math.nan), d / (1 + abs(x)) ** 2),
)
# torch's min(x, 0) - log1p(exp(-|x|)) gives +0.0 where the true value rounds to -0.0.
logsigmoid = unary(_logsigmoid, lambda m, x, d: d * _sigmoid(m, -x), post=lambda out: np.where(out == 0, 0.0, out))


def _clamp_backward(m, x, d, lo, hi):
    return m.where((x <= lo) | (x >= hi), 0, d)


hardtanh = unary(
    lambda m, x, min_val=-1.0, max_val=1.0: m.where(x < min_val, min_val, m.where(x > max_val, max_val, x)),
    lambda m, x, d, min_val=-1.0, max_val=1.0: _clamp_backward(m, x, d, min_val, max_val),
)
relu6 = unary(lambda m, x: m.where(x < 0, 0, m.where(x > 6, 6, x)), lambda m, x, d: _clamp_backward(m, x, d, 0, 6))
hardsigmoid = unary(
    lambda m, x: m.where(x <= -3, 0, m.where(x >= 3, 1, x / 6 + m.c(0.5))),
    lambda m, x, d: m.where((x > -3) & (x < 3), d / 6, 0),
)
hardswish = unary(
    lambda m, x: x * m.where(x + 3 <= 0, 0, m.where(x + 3 >= 6, 6, x + 3)) / 6,
    lambda m, x, d: m.where(x <= -3, 0, m.where(x < 3, d * (x / 3 + m.c(0.5)), d)),
)


def _channel_weight(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """prelu's weight broadcast against x: one shared slope, or one per channel on axis 1."""
    if weight.size == 1 or x.ndim < 2:
        return weight.reshape(())
    return weight.reshape((1, -1) + (1,) * (x.ndim - 2))


def prelu(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
    x, weight = inputs["x"], inputs["weight"]
    w = _channel_weight(x, weight)
    if douts is None:
        return {"out": elementwise(lambda m, x, w: m.where(x > 0, x, w * x), x, w)}
    d = douts["out"]
    dx = elementwise(lambda m, x, w, d: m.where(x > 0, d, w * d), x, w, d)
    axes = [i for i in range(x.ndim) if weight.size == 1 or i != 1]
    with np.errstate(invalid="ignore"):
        negative = np.where(x > 0, 0.0, x)
    return {"x": dx, "weight": dot(negative, d, axes).reshape(weight.shape)}


# -- broadcasting nodes and products --------------------------------------------------------------------

def _summed_axes(full: tuple[int, ...], shape: tuple[int, ...]) -> list[int]:
    """The axes of a broadcast result that sum back to an operand of ``shape``."""
    lead = len(full) - len(shape)
    return list(range(lead)) + [lead + i for i, n in enumerate(shape) if n == 1 and full[lead + i] != 1]


def _sum_to(x: np.ndarray, y: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    full = np.broadcast_shapes(x.shape, y.shape)
    return dot(x, y, _summed_axes(full, shape)).reshape(shape)


def _binary(op: Callable[[np.ndarray, np.ndarray], np.ndarray], partial: Callable) -> HighPrec:
    """x op y (one IEEE operation: correctly rounded as it is); gradients sum ``dout * partial`` over the
    broadcast axes, exactly."""

    def oracle(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays | None:
        x, y = inputs["x"], inputs["y"]
        if douts is None:
            with np.errstate(all="ignore"):
                return {"out": np.asarray(op(x, y))}
        d = douts["out"]
        return {"x": _sum_to(d, partial(y), x.shape), "y": _sum_to(d, partial(x), y.shape)}

    return oracle


mul = _binary(np.multiply, lambda other: other)
add = _binary(np.add, lambda other: np.ones((), np.float64))


def affine(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
    x, W, b = inputs["x"], inputs["W"], inputs["b"]
    X = x.reshape(x.shape[0], math.prod(x.shape[1:]))
    if douts is None:  # [X, 1] @ [W; b]: the bias is one more product
        Xb = np.concatenate([X, np.ones((X.shape[0], 1))], axis=1)
        Wb = np.concatenate([W, b[None, :]], axis=0)
        return {"out": dot(Xb[:, :, None], Wb[None, :, :], [1])}
    d = douts["out"]
    return {
        "x": dot(d[:, None, :], W[None, :, :], [2]).reshape(x.shape),
        "W": dot(X[:, :, None], d[:, None, :], [0]),
        "b": dot(d, np.ones(()), [0]),
    }


def matmul(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
    """torch.matmul over the full index space (batch..., M, K, N): every result is one exact sum."""
    a, b = inputs["a"], inputs["b"]
    A = a[None, :] if a.ndim == 1 else a  # a vector is one row, b's one column, squeezed afterwards
    B = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    A4, B4 = A[..., :, :, None], B[..., None, :, :]  # (..., M, K, 1) and (..., 1, K, N)
    n = len(batch)
    if douts is None:
        out = dot(A4, B4, [n + 1])
        return {"out": out.reshape(_matmul_shape(a, b, out.shape))}
    D4 = douts["out"].reshape(batch + (A.shape[-2], B.shape[-1]))[..., :, None, :]  # (..., M, 1, N)
    da = dot(D4, B4, [n + 2] + _summed_axes(batch, A.shape[:-2]))
    db = dot(A4, D4, [n] + _summed_axes(batch, B.shape[:-2]))
    return {"a": da.reshape(a.shape), "b": db.reshape(b.shape)}


def _matmul_shape(a: np.ndarray, b: np.ndarray, full: tuple[int, ...]) -> tuple[int, ...]:
    shape = list(full)
    if b.ndim == 1:
        shape.pop(-1)
    if a.ndim == 1:
        shape.pop(-2 if b.ndim > 1 else -1)
    return tuple(shape)


# -- softmax and the classification losses ----------------------------------------------------------------

def _softmax_parts(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """log_softmax and softmax of float64 ``x`` along ``axis`` in extended precision. exp takes x - max as
    its two exact float64 parts (TwoSum: exp amplifies an argument's rounding by |x - max|, up to ~700),
    and log(sum) is log1p(k - 1 + rest) over the k maxima (exactly 1 each) and the rest (a log-sum-exp
    near 0 keeps its digits)."""
    top = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        hi = x - top
        back = hi - x
        lo = np.where(np.isfinite(hi), (x - (hi - back)) + (-top - back), 0.0)
        e = np.exp(hi.astype(np.longdouble)) * np.exp(lo.astype(np.longdouble))
        at_top = hi == 0
        rest = np.sum(np.where(at_top, 0, e), axis=axis, keepdims=True)
        k = np.sum(at_top, axis=axis, keepdims=True)
        ls = (x.astype(np.longdouble) - top) - np.log1p((k - 1) + rest)
        return ls, e / (k + rest)


def _softmax_oracle(log: bool) -> HighPrec:
    """Gradients in the pairwise form sum_j (d_i y_j - y_i d_j) (log_softmax) and y_i sum_j (d_i - d_j) y_j
    (softmax), equal to d_i - y_i sum d and y_i (d_i - sum d y) because sum y = 1, without their
    cancellation where one y is close to 1."""

    def oracle(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays | None:
        x, axis = inputs["x"], variant.options.get("axis", -1)
        if not EXTENDED:
            return None
        if x.size == 0:
            return {"out": x.copy()} if douts is None else {"x": x.copy()}
        ls, y = _softmax_parts(x, axis)
        if douts is None:
            return {"out": round64(ls if log else y)}
        d = np.moveaxis(douts["out"].astype(np.longdouble), axis, -1)
        y = np.moveaxis(y, axis, -1)
        with np.errstate(all="ignore"):
            if log:
                dx = np.sum(d[..., :, None] * y[..., None, :] - y[..., :, None] * d[..., None, :], axis=-1)
            else:
                dx = y * np.sum((d[..., :, None] - d[..., None, :]) * y[..., None, :], axis=-1)
        return {"x": round64(np.moveaxis(dx, -1, axis))}

    return oracle


softmax, log_softmax = _softmax_oracle(False), _softmax_oracle(True)


def class_loss(logits: bool = True, wrt: Sequence[str] = ("x", "t")) -> HighPrec:
    """cross_entropy (``logits``) or nll_loss (x holds log-probabilities) with torch's options: index
    targets (weight, ignore_index, label_smoothing: the smoothing term averaged like the NLL term) or
    probability targets (weight, label_smoothing; 'mean' divides by the number of samples); reductions;
    the class axis is 1 ((C,) for one sample). Gradients for the names in ``wrt`` that the sample holds
    as floats (a probability target is differentiable)."""

    def oracle(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays | None:
        if not EXTENDED:
            return None
        o = variant.options
        x, t, weight = inputs["x"], inputs["t"], inputs.get("weight")
        reduction, eps = o.get("reduction", "mean"), float(o.get("label_smoothing", 0.0))
        axis = 1 if x.ndim > 1 else 0
        xl = np.moveaxis(x, axis, -1)
        w = (np.ones(xl.shape[-1]) if weight is None else weight).astype(np.longdouble)
        with np.errstate(all="ignore"):
            logp, y = _softmax_parts(xl, -1) if logits else (xl.astype(np.longdouble), None)
            if t.dtype.kind in "iu":
                coef, per_sample, rows, denom = _index_terms(t, w, logp, o.get("ignore_index", -100), eps)
            else:
                coef, per_sample, rows, denom = _prob_terms(np.moveaxis(t, axis, -1), w, logp, eps)
            if douts is None:
                s = per_sample if reduction == "none" else total(per_sample)
                return {"out": round64(s / denom if reduction == "mean" else s)}
            d = douts["out"].astype(np.longdouble)
            g = np.where(rows, d / denom if reduction == "mean" else d, 0)[..., None]  # ignored rows: 0
            dlogp = np.where(rows[..., None], -g * coef, 0)
            # dlogp - y sum(dlogp), pairwise as in log_softmax's oracle
            pairs = dlogp[..., :, None] * y[..., None, :] - y[..., :, None] * dlogp[..., None, :] if logits else None
            dx = np.sum(pairs, axis=-1) if logits else dlogp
            grads = {"x": round64(np.moveaxis(dx, -1, axis))}
            if "t" in wrt and t.dtype.kind == "f":
                grads["t"] = round64(np.moveaxis(-g * w * logp * (1 - np.longdouble(eps)), -1, axis))
        return grads

    return oracle


def _index_terms(t, w, logp, ignore_index, eps):
    """Index targets: the coefficients a of the per-sample loss -sum_c a_c logp_c, the per-sample losses
    (torch's gather, so that other classes' -inf do not enter), the rows that count, and the mean's
    denominator sum of w[t] over them."""
    c = logp.shape[-1]
    rows = t != ignore_index
    tc = np.where(rows, t, 0)
    wt = np.where(rows, w[tc], 0)
    picked = np.take_along_axis(logp, tc[..., None], -1)[..., 0]
    keep = 1 - np.longdouble(eps)
    coef = np.where(rows[..., None], keep * wt[..., None] * (np.arange(c) == tc[..., None]), 0)
    per_sample = np.where(rows, -keep * wt * picked, 0)
    if eps:  # torch adds the smoothing term only when label_smoothing > 0 (it is -inf for a -inf logit)
        spread = np.longdouble(eps) / c
        per_sample = per_sample + np.where(rows, -spread * total(w * logp, [-1]), 0)
        coef = coef + np.where(rows[..., None], spread * w, 0)
    return coef, per_sample, rows, total(wt)


def _prob_terms(t, w, logp, eps):
    """Probability targets (class axis last), smoothed as t (1 - eps) + eps / C; 'mean' over samples."""
    tl = t.astype(np.longdouble) * (1 - np.longdouble(eps)) + np.longdouble(eps) / logp.shape[-1]
    coef = w * tl
    rows = np.ones(tl.shape[:-1], bool)
    return coef, -total(coef * logp, [-1]), rows, np.longdouble(math.prod(tl.shape[:-1]))


# -- regression and probability losses ------------------------------------------------------------------

def pointwise_loss(loss: Callable, grads: dict[str, Callable], first: str = "x") -> HighPrec:
    """A loss of elementwise terms ``loss(m, x, t, **options)`` (``pos_weight=`` too when the sample has
    one), times ``weight`` when the sample has one, reduced as the variant's ``reduction`` says (with
    kl_div's 'batchmean'); the gradient of input ``name`` is ``grads[name](m, x, t, d, **options)`` times
    the weight, ``d`` being dout divided by the mean's count. ``x`` stands for the first input."""

    def oracle(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays | None:
        opts = {k: v for k, v in variant.options.items() if k != "reduction"}
        reduction = variant.options.get("reduction", "mean")
        x = inputs[first]
        extra = [n for n in ("weight", "pos_weight") if n in inputs]
        count = x.size if reduction == "mean" else x.shape[0] if reduction == "batchmean" and x.ndim else 1

        def weighted(f: Callable, names: list[str]) -> Callable:
            def term(m, *arrays):
                named = dict(zip(names, arrays, strict=True))
                w = named.pop("weight", None)
                value = f(m, **named, **opts)
                return value if w is None else value * w

            return term

        names = ["x", "t", *extra]
        arrays = np.broadcast_arrays(x, inputs["t"], *(inputs[n] for n in extra))
        if douts is None:
            if reduction == "none":
                return {"out": elementwise(weighted(loss, names), *arrays)}
            if not EXTENDED:
                return None
            return {"out": round64(total(extended(weighted(loss, names), *arrays)) / count)}
        d = np.broadcast_to(douts["out"], x.shape)
        return {
            first if name == "x" else name: elementwise(
                weighted(lambda m, d, grad=grad, **kw: grad(m, d=d / count, **kw), ["d", *names]), d, *arrays
            )
            for name, grad in grads.items()
        }

    return oracle


def _sign(m, z):
    return m.where(z > 0, 1, m.where(z < 0, -1, 0))  # torch's sgn: 0 at 0 and at NaN


def _l1_grads():
    return {"x": lambda m, x, t, d: _sign(m, x - t) * d, "t": lambda m, x, t, d: -_sign(m, x - t) * d}


mse_loss = pointwise_loss(
    lambda m, x, t: (x - t) * (x - t),
    {"x": lambda m, x, t, d: 2 * (x - t) * d, "t": lambda m, x, t, d: -2 * (x - t) * d},
)
l1_loss = pointwise_loss(lambda m, x, t: abs(x - t), _l1_grads())


def _smooth_l1_grad(sign: int) -> Callable:
    def grad(m, x, t, d, beta=1.0):
        z = x - t
        if beta == 0:  # torch runs l1_loss
            return sign * _sign(m, z) * d
        return sign * m.where(z < -beta, -d, m.where(z > beta, d, z / m.c(beta) * d))

    return grad


smooth_l1_loss = pointwise_loss(
    lambda m, x, t, beta=1.0: abs(x - t) if beta == 0 else m.where(
        abs(x - t) < beta, (x - t) * (x - t) / 2 / m.c(beta), abs(x - t) - m.c(beta) / 2
    ),
    {"x": _smooth_l1_grad(1), "t": _smooth_l1_grad(-1)},
)


def _huber_grad(sign: int) -> Callable:
    def grad(m, x, t, d, delta=1.0):
        z = x - t
        return sign * m.where(z < -delta, -m.c(delta) * d, m.where(z > delta, m.c(delta) * d, z * d))

    return grad


huber_loss = pointwise_loss(
    lambda m, x, t, delta=1.0: m.where(
        abs(x - t) < delta, (x - t) * (x - t) / 2, m.c(delta) * (abs(x - t) - m.c(delta) / 2)
    ),
    {"x": _huber_grad(1), "t": _huber_grad(-1)},
)


def _clamp_log(a):
    return np.where(a < -100, -100, a)  # torch clamps the logs at -100


def _bce_dp(m, x, t, d):
    q = (1 - x) * x
    return d * (x - t) / m.where(q < m.c(1e-12), m.c(1e-12), q)  # torch's EPSILON guard, as in its kernel


binary_cross_entropy = pointwise_loss(
    lambda m, x, t: (t - 1) * _clamp_log(m.log1p(-x)) - t * _clamp_log(m.log(x)),
    {"x": _bce_dp, "t": lambda m, x, t, d: d * (m.log1p(-x) - m.log(x))},  # dt = -logit(p), unclamped
    first="p",
)


def _finite(m, *values):
    ok = True
    for v in values:
        ok = ok & (abs(v) < m.c(math.inf))
    return ok


def _bce_logits(m, x, t, pos_weight=None):
    """Where x and t are finite, pw t softplus(-x) + (1 - t) softplus(x) (no cancellation); elsewhere
    torch's (1 - t) x - (1 + (pw - 1) t) logsigmoid(x), which decides its NaN and infinities."""
    pw = 1 if pos_weight is None else pos_weight
    ls, ls_neg = _logsigmoid(m, x), _logsigmoid(m, -x)
    torch_form = (1 - t) * x - (ls if pos_weight is None else (1 + (pw - 1) * t) * ls)
    return m.where(_finite(m, x, t), -pw * t * ls - (1 - t) * ls_neg, torch_form)


def _bce_logits_dx(m, x, t, d, pos_weight=None):
    """(1 - t) sigmoid(x) - pw t sigmoid(-x) where finite (sigmoid(x) - t cancels for t = 1 and large x);
    torch's sigmoid(x) - t, or (pw t + 1 - t) sigmoid(x) - pw t, elsewhere."""
    pw = 1 if pos_weight is None else pos_weight
    s = _sigmoid(m, x)
    torch_form = s - t if pos_weight is None else (pw * t + 1 - t) * s - pw * t
    return d * m.where(_finite(m, x, t), (1 - t) * s - pw * t * _sigmoid(m, -x), torch_form)


def _bce_logits_dt(m, x, t, d, pos_weight=None):
    if pos_weight is None:
        return -x * d
    return d * (_logsigmoid(m, -x) - pos_weight * _logsigmoid(m, x))


binary_cross_entropy_with_logits = pointwise_loss(_bce_logits, {"x": _bce_logits_dx, "t": _bce_logits_dt})


def _xlogy_self(m, t):
    return m.where(t != t, t, m.where(t == 0, 0, t * m.log(t)))


def _kl(m, x, t, log_target=False):
    return m.exp(t) * (t - x) if log_target else _xlogy_self(m, t) - t * x


def _kl_dt(m, x, t, d, log_target=False):
    if log_target:
        return d * m.exp(t) * (t - x + 1)
    # torch differentiates xlogy(t, t): xlogy(t != 0, t) + t / t, NaN at t = 0
    return d * (m.where(t != t, t, m.where(t == 0, 0, m.log(t))) + t / t - x)


kl_div = pointwise_loss(
    _kl,
    {"x": lambda m, x, t, d, log_target=False: -(m.exp(t) if log_target else t) * d, "t": _kl_dt},
)


# -- data movement and masking (exact up to dropout's one scaling) ------------------------------------------

def dropout(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
    """x mask / (1 - p) rounded once (torch rounds the scale 1 / (1 - p) first); x itself in eval and for
    p = 0; x * 0 for p = 1 (NaN at ±inf, as torch). The keep-mask broadcasts (dropout2d's per channel)."""
    p, training = variant.options.get("p", 0.5), variant.options.get("training", True)
    v = inputs["x"] if douts is None else douts["out"]
    if not training or p == 0:
        result = np.array(v, copy=True)
    elif p == 1:
        with np.errstate(invalid="ignore"):
            result = v * 0.0
    else:
        result = elementwise(lambda m, v, keep: m.where(keep != 0, v / (1 - m.c(p)), v * 0), v, inputs["mask"])
    return {"out": result} if douts is None else {"x": result}


dropout2d = dropout


def embedding(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
    """W[idx]; dW sums dout over the positions of each row (exactly), the padding row gets 0."""
    idx, W = inputs["idx"], inputs["W"]
    if douts is None:
        return {"out": W[idx]}
    flat = idx.reshape(-1)
    onehot = (flat[:, None] == np.arange(W.shape[0])[None, :]).astype(np.float64)
    pad = variant.options.get("padding_idx")
    if pad is not None:
        onehot[:, pad % W.shape[0]] = 0.0
    d = douts["out"].reshape(flat.size, W.shape[1])
    return {"W": dot(onehot[:, :, None], d[:, None, :], [0])}


def flatten(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
    """torch.flatten's reshape (a 0-d x becomes (1,)); the gradient is dout reshaped back."""
    x = inputs["x"]
    if douts is not None:
        return {"x": douts["out"].reshape(x.shape)}
    if x.ndim == 0:
        return {"out": x.reshape(1)}
    start, end = (variant.options.get(k, d) % x.ndim for k, d in (("start_dim", 0), ("end_dim", -1)))
    return {"out": x.reshape(x.shape[:start] + (math.prod(x.shape[start : end + 1]),) + x.shape[end + 1 :])}


# -- normalisation over groups of elements -----------------------------------------------------------------

def _normalization(groups: Callable[[np.ndarray, dict], tuple[int, int]], param_shape: Callable) -> HighPrec:
    """layer_norm and group_norm: x viewed as (rows, M) groups (``groups(x, options)``), normalised with
    the biased variance in extended precision (two passes over exact sums), then the optional weight and
    bias, broadcast to x by ``param_shape(x, options)``. Gradients: dx = rstd (g - mean g - xhat
    mean(g xhat)) with g = dout weight; dweight and dbias sum over the other axes."""

    def oracle(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays | None:
        if not EXTENDED:
            return None
        o = variant.options
        x, eps = inputs["x"], np.longdouble(o.get("eps", 1e-5))
        rows = groups(x, o)
        shape = param_shape(x, o)
        w = inputs["weight"].reshape(shape) if "weight" in inputs else None
        with np.errstate(all="ignore"):
            centred = x.reshape(rows).astype(np.longdouble)
            centred = centred - total(centred, [1])[:, None] / rows[1]
            rstd = 1 / np.sqrt(total(centred * centred, [1])[:, None] / rows[1] + eps)
            xhat = (centred * rstd).reshape(x.shape)
            if douts is None:
                out = xhat if w is None else xhat * w
                return {"out": round64(out if "bias" not in inputs else out + inputs["bias"].reshape(shape))}
            d = douts["out"]
            g = (d if w is None else d * w.astype(np.longdouble)).reshape(rows)
            xh = xhat.reshape(rows)
            mean_g, mean_gx = total(g, [1])[:, None] / rows[1], total(g * xh, [1])[:, None] / rows[1]
            grads = {"x": round64((rstd * (g - mean_g - xh * mean_gx)).reshape(x.shape))}
            axes = [i for i in range(x.ndim) if shape[i] == 1]
            if "weight" in inputs:
                grads["weight"] = round64(total(d * xhat, axes)).reshape(inputs["weight"].shape)
            if "bias" in inputs:
                grads["bias"] = dot(d, np.ones(()), axes).reshape(inputs["bias"].shape)
        return grads

    return oracle


def _normalized_shape(options: dict) -> tuple[int, ...]:
    ns = options["normalized_shape"]
    return (ns,) if isinstance(ns, int) else tuple(ns)


layer_norm = _normalization(
    lambda x, o: (math.prod(x.shape[: x.ndim - len(_normalized_shape(o))]), math.prod(_normalized_shape(o))),
    lambda x, o: (1,) * (x.ndim - len(_normalized_shape(o))) + _normalized_shape(o),
)
group_norm = _normalization(
    lambda x, o: (x.shape[0] * o["num_groups"], math.prod(x.shape[1:]) // o["num_groups"]),
    lambda x, o: (1, x.shape[1]) + (1,) * (x.ndim - 2),
)


# -- convolution, unfold and fold: exact sums over gathered windows -----------------------------------------

def _tuple(v: object, n: int) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, tuple | list) else (v,) * n


def _windows(spatial: tuple[int, ...], kernel: tuple[int, ...], o: dict):
    """torch's window geometry: per-dimension (before, after) zero padding ('same': the odd one after),
    the padded and output sizes, and for every kernel offset k and output position p the flat index of
    the padded input it reads, shape (prod(kernel), prod(out))."""
    nd = len(kernel)
    stride, dil = _tuple(o.get("stride", 1), nd), _tuple(o.get("dilation", 1), nd)
    pad = o.get("padding", 0)
    if pad == "same":
        pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dil, strict=True)]
    else:
        pads = [(p, p) for p in _tuple(0 if pad == "valid" else pad, nd)]
    padded = tuple(n + a + b for n, (a, b) in zip(spatial, pads, strict=True))
    out = tuple((n - d * (k - 1) - 1) // s + 1 for n, k, d, s in zip(padded, kernel, dil, stride, strict=True))
    offsets = np.array(list(np.ndindex(*kernel))).reshape(-1, nd) * dil
    starts = np.array(list(np.ndindex(*out))).reshape(-1, nd) * stride
    coords = offsets[:, None, :] + starts[None, :, :]
    return pads, padded, out, np.ravel_multi_index(tuple(np.moveaxis(coords, -1, 0)), padded)


def _gather(x: np.ndarray, pads, index: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) -> (N, C, K, P): the zero-padded input under every window."""
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    return xp.reshape(x.shape[0], x.shape[1], math.prod(xp.shape[2:]))[:, :, index]


def _scatter_table(index: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every padded position q, the (kernel offset, output position) pairs that read it, padded to a
    rectangle: (k, p, valid), each of shape (size, J)."""
    flat = index.reshape(-1)
    order = np.argsort(flat, kind="stable")
    counts = np.bincount(flat, minlength=size)
    width = max(int(counts.max()) if counts.size else 0, 1)
    rank = np.arange(flat.size) - np.repeat(np.cumsum(counts) - counts, counts)
    table = np.full((size, width), -1)
    table[flat[order], rank] = order
    valid = table >= 0
    entry = np.where(valid, table, 0)
    return entry // index.shape[1], entry % index.shape[1], valid


def _crop(xp: np.ndarray, pads) -> np.ndarray:
    return xp[(slice(None), slice(None)) + tuple(slice(a, n - b) for (a, b), n in zip(pads, xp.shape[2:], strict=True))]


def conv(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
    """F.conv1d / F.conv2d: out[n, o, p] = b[o] + sum over the group's channels c and kernel offsets k of
    x_padded[n, c, window(p, k)] W[o, c, k], every sum exact."""
    x, W, b = inputs["x"], inputs["W"], inputs.get("b")
    groups = variant.options.get("groups", 1)
    n, c_out, c_in = x.shape[0], W.shape[0], x.shape[1]
    kernel = W.shape[2:]
    pads, padded, out, index = _windows(x.shape[2:], kernel, variant.options)
    xw = _gather(x, pads, index).reshape(n, groups, 1, c_in // groups, *index.shape)  # (N, G, 1, Cg, K, P)
    wr = W.reshape(groups, c_out // groups, c_in // groups, index.shape[0])[None, ..., None]  # (1, G, Og, Cg, K, 1)
    if douts is None:
        full = np.broadcast_shapes(xw.shape, wr.shape)
        merged = full[:3] + (full[3] * full[4], full[5])
        xs, ws = np.broadcast_to(xw, full).reshape(merged), np.broadcast_to(wr, full).reshape(merged)
        if b is not None:  # the bias is one more product, b * 1
            xs = np.concatenate([xs, np.ones(full[:3] + (1, full[-1]))], axis=3)
            ws = np.concatenate([ws, np.broadcast_to(b.reshape(1, groups, -1, 1, 1), full[:3] + (1, full[-1]))], axis=3)
        return {"out": dot(xs, ws, [3]).reshape((n, c_out) + out)}
    d = douts["out"].reshape(n, groups, c_out // groups, 1, 1, index.shape[1])  # (N, G, Og, 1, 1, P)
    grads = {"W": dot(d, xw, [0, 5]).reshape(W.shape)}
    if b is not None:
        grads["b"] = dot(douts["out"], np.ones(()), [0] + list(range(2, x.ndim))).reshape(b.shape)
    k_of, p_of, valid = _scatter_table(index, math.prod(padded))
    dq = np.where(valid, d.reshape(d.shape[:3] + (index.shape[1],))[..., p_of], 0.0)  # (N, G, Og, Q, J)
    wq = np.moveaxis(wr[0, ..., 0][..., k_of], 2, 1)  # (G, Cg, Og, Q, J)
    dx = dot(dq[:, :, None], wq[None], [3, 5]).reshape((n, c_in) + padded)
    grads["x"] = _crop(dx, pads)
    return grads


def _unfold_geometry(variant: Variant, spatial: tuple[int, ...]):
    o = variant.options
    return _windows(spatial, _tuple(o["kernel_size"], len(spatial)), o)


def _fold(cols: np.ndarray, pads, padded, index: np.ndarray) -> np.ndarray:
    """(N, C, K, P) window values summed (exactly) into the zero-padded (N, C, *padded), then cropped."""
    k_of, p_of, valid = _scatter_table(index, math.prod(padded))
    gathered = np.where(valid, cols[:, :, k_of, p_of], 0.0)  # (N, C, Q, J)
    return _crop(dot(gathered, np.ones(()), [3]).reshape(cols.shape[:2] + padded), pads)


def im2col(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
    """F.unfold (a gather: exact) and its gradient, the exact sum of overlapping windows."""
    x = inputs["x"]
    pads, padded, _, index = _unfold_geometry(variant, x.shape[2:])
    if douts is None:
        return {"out": _gather(x, pads, index).reshape(x.shape[0], x.shape[1] * index.shape[0], index.shape[1])}
    cols = douts["out"].reshape(x.shape[:2] + index.shape)
    return {"x": _fold(cols, pads, padded, index)}


def col2im(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
    """F.fold: the exact sum of overlapping windows; its gradient gathers (exact)."""
    cols, size = inputs["cols"], tuple(variant.options["output_size"])
    pads, padded, _, index = _unfold_geometry(variant, size)
    channels = cols.shape[1] // index.shape[0]
    if douts is None:
        return {"out": _fold(cols.reshape(cols.shape[0], channels, *index.shape), pads, padded, index)}
    return {"cols": _gather(douts["out"], pads, index).reshape(cols.shape)}


# -- average pooling: exact rational window means ------------------------------------------------------------

def _rational_sum(terms: list[tuple[float, int]]) -> float:
    """sum of value / divisor over ``terms``, exactly (fractions), correctly rounded; IEEE's rules when a
    value is not finite."""
    odd = [v for v, _ in terms if not math.isfinite(v)]
    if odd:
        if any(math.isnan(v) for v in odd) or (math.inf in odd and -math.inf in odd):
            return math.nan
        return odd[0]
    return float(sum((Fraction(v) / k for v, k in terms), Fraction(0)))


def _pool_windows(n: int, k: int, s: int, p: int, ceil: bool, include_pad: bool) -> list[tuple[range, int]]:
    """torch's avg_pool windows along one dimension: the cells each output averages and how many it
    counts (the padding it covers with count_include_pad, never the ceil_mode overhang beyond it)."""
    span = n + 2 * p - k
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    windows = []
    for i in range(out):
        start, end = i * s - p, min(i * s - p + k, n + p)
        cells = range(max(start, 0), min(end, n))
        windows.append((cells, end - start if include_pad else len(cells)))
    return windows


def _adaptive_windows(n: int, o: int | None) -> list[tuple[range, int]]:
    o = n if o is None else o
    return [(range(i * n // o, -(-(i + 1) * n // o)), -(-(i + 1) * n // o) - i * n // o) for i in range(o)]


def _avg_pool(windows_of: Callable[[tuple[int, ...], dict], list[list[tuple[range, int]]]]) -> HighPrec:
    """Mean over windows, a product of per-dimension windows: out = sum(x in window) / count (or the
    divisor_override), exact then rounded once; dx sums dout / count over the windows holding each cell."""

    def oracle(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays:
        x, o = inputs["x"], variant.options
        spatial = len(windows_of((), o))
        lead, dims = x.shape[: x.ndim - spatial], x.shape[x.ndim - spatial :]
        per_dim = windows_of(dims, o)
        outs = [list(np.ndindex(*(len(w) for w in per_dim)))]
        xs = x.reshape((-1,) + dims) if x.size else x.reshape((math.prod(lead),) + dims)
        plan = []  # (output index, cells, divisor)
        for idx in outs[0]:
            ranges = [per_dim[d][i][0] for d, i in enumerate(idx)]
            count = math.prod(per_dim[d][i][1] for d, i in enumerate(idx))
            plan.append((idx, list(np.ndindex(*(len(r) for r in ranges))), ranges, o.get("divisor_override") or count))
        out_shape = tuple(len(w) for w in per_dim)
        if douts is None:
            res = np.empty((xs.shape[0],) + out_shape)
            for b in range(xs.shape[0]):
                for idx, offsets, ranges, div in plan:
                    cells = [tuple(r[j] for r, j in zip(ranges, off, strict=True)) for off in offsets]
                    res[(b, *idx)] = _rational_sum([(float(xs[(b, *c)]), div) for c in cells])
            return {"out": res.reshape(lead + out_shape)}
        d = douts["out"].reshape((xs.shape[0],) + out_shape)
        contributions: dict[tuple, list] = {}
        for idx, offsets, ranges, div in plan:
            for off in offsets:
                contributions.setdefault(tuple(r[j] for r, j in zip(ranges, off, strict=True)), []).append((idx, div))
        dx = np.zeros(xs.shape)
        for b in range(xs.shape[0]):
            for cell, windows in contributions.items():
                dx[(b, *cell)] = _rational_sum([(float(d[(b, *idx)]), div) for idx, div in windows])
        return {"x": dx.reshape(x.shape)}

    return oracle


def _pool_dims(o: dict, nd: int):
    k = _tuple(o["kernel_size"], nd)
    s = _tuple(o.get("stride") or k, nd)
    return k, s, _tuple(o.get("padding", 0), nd)


def _avg_windows(nd: int) -> Callable:
    def windows(dims: tuple[int, ...], o: dict) -> list:
        if not dims:
            return [None] * nd
        k, s, p = _pool_dims(o, nd)
        ceil, pad = o.get("ceil_mode", False), o.get("count_include_pad", True)
        return [_pool_windows(n, *a, ceil, pad) for n, a in zip(dims, zip(k, s, p, strict=True), strict=True)]

    return windows


def _adaptive(dims: tuple[int, ...], o: dict) -> list:
    if not dims:
        return [None, None]
    size = o["output_size"]
    sizes = size if isinstance(size, tuple) else (size, size)
    return [_adaptive_windows(n, m) for n, m in zip(dims, sizes, strict=True)]


avg_pool1d, avg_pool2d = _avg_pool(_avg_windows(1)), _avg_pool(_avg_windows(2))
adaptive_avg_pool2d = _avg_pool(_adaptive)


_cross_entropy_x = class_loss(wrt=("x",))


def sequence_cross_entropy(variant: Variant, inputs: Arrays, douts: Arrays | None) -> Arrays | None:
    """cross_entropy over the (N * T, V) rows, index targets (N, T); 'none' gives (N, T)."""
    x, t = inputs["x"], inputs["t"]
    rows = {"x": x.reshape(x.shape[0] * x.shape[1], x.shape[2]), "t": t.reshape(t.size)}
    if douts is None:
        result = _cross_entropy_x(variant, rows, None)
        return None if result is None else {"out": result["out"].reshape(t.shape if result["out"].ndim else ())}
    result = _cross_entropy_x(variant, rows, {"out": douts["out"].reshape(-1 if douts["out"].ndim else ())})
    return None if result is None else {"x": result["x"].reshape(x.shape)}
