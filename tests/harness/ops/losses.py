"""Registry entries for the regression and probability losses (issue 3): mse_loss, l1_loss,
smooth_l1_loss, huber_loss, binary_cross_entropy, binary_cross_entropy_with_logits and kl_div.

All go through ``_loss``. Inputs come from one sampler per kind of loss (a regression pair,
probabilities, logits, log-probabilities), which gives each value family its meaning for that kind,
plus the optional ``weight``/``pos_weight`` a variant asks for. Every variant runs on the shapes
where it matters, to keep the group within its case budget: 'none' is elementwise, so one 2-D shape
in every memory layout; 'mean' (and 'batchmean') a 0-d input, an empty one (NaN, as in torch) and a
160-element batch (float16 terms accumulated in float32); 'sum' a vector.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from harness import highprec_ops as hp
from harness.dtypes import DTYPES
from harness.registry import BadInput, OpSpec, Property, Variant, register
from harness.values import FAMILIES, Hints, cast

ELEMENTWISE = ((4, 3),)
MEANS = ((), (0, 3), (16, 10))
SUMS = ((7,),)
REGRESSION = ("normal", "wide", "kink", "nonfinite")
FLOAT64 = DTYPES["float64"]


def _variant(reduction: str, shapes: tuple, weights: str = "", **options) -> tuple[Variant, tuple]:
    """A variant and the shapes it runs on, e.g. _variant("none", ELEMENTWISE, "weight", beta=0.5)
    labelled "weight,beta=0.5,none"; ``weights`` names the optional arrays the sampler adds."""
    named = [k if v is True else f"{k}={v:g}" for k, v in options.items()]
    label = ",".join([weights] * bool(weights) + named + [reduction])
    return Variant(label, {**options, "reduction": reduction}, {"weights": weights}), shapes


# -- samplers: (x, t) per value family; _sampler casts them to the dtype ----------------------------

def _mix(rng: np.random.Generator, values: np.ndarray, specials: list[float], share: float = 0.4) -> np.ndarray:
    """``values`` with about ``share`` of the elements replaced by random picks from ``specials``."""
    pick = rng.random(values.shape) < share
    return np.where(pick, rng.choice(specials, size=values.shape), values)


def _hard_and_soft(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Binary targets: exact 0 and 1 (hard labels) mixed with fractions in (0, 1) (soft labels)."""
    return _mix(rng, rng.uniform(0, 1, shape), [0.0, 1.0], 0.5)


def _regression(rng, shape, dtype, fam, options):
    """x and t; ``kink`` puts dyadic values k/8 with exact ties x == t and |x - t| == beta (delta),
    ``smooth`` keeps x - t at least 0.05 away from both."""
    edge = options.get("beta", options.get("delta", 1.0))  # where the loss turns from quadratic to linear
    if fam == "kink":
        t = rng.integers(-24, 25, shape) / 8
        x = t + _mix(rng, rng.integers(-16, 17, shape) / 8, [0.0, edge, -edge], 0.75)
        return x, t
    if fam == "smooth":
        t = rng.standard_normal(shape)
        return t + FAMILIES["smooth"](rng, shape, FLOAT64, Hints(kinks=(0.0, edge, -edge))), t
    return FAMILIES[fam](rng, shape, dtype, Hints()), FAMILIES[fam](rng, shape, dtype, Hints())


_P_T_PAIRS = ((0.0, 0.0), (0.0, 1.0), (0.0, 0.5), (1.0, 0.0), (1.0, 1.0), (1.0, 0.5))


def _probabilities(rng, shape, dtype, fam, options):
    """p and t in [0, 1]. ``kink``: p exactly 0 and 1 against every t in {0, 1, 0.5}; ``subnormal``:
    the dtype's tiniest p (log p clamps at -100 in float32/float64) and p = 1; ``wide``: saturated
    p = sigmoid(U(-60, 60)); ``smooth``: p in [0.1, 0.9], t in [0.05, 0.95]."""
    if fam == "smooth":
        return rng.uniform(0.1, 0.9, shape), rng.uniform(0.05, 0.95, shape)
    t = _hard_and_soft(rng, shape)
    if fam == "wide":
        return 1 / (1 + np.exp(-rng.uniform(-60, 60, shape))), t
    if fam == "subnormal":
        tiny = np.abs(FAMILIES["subnormal"](rng, shape, dtype, Hints()).astype(np.float64))
        return _mix(rng, tiny, [1.0], 0.3), t
    p = rng.uniform(0, 1, shape)
    if fam == "kink":
        p, t = _mix(rng, p, [0.0, 1.0, 0.5]), _mix(rng, t, [0.5])
        at = rng.permutation(p.size)[: len(_P_T_PAIRS)]
        pairs = np.array(_P_T_PAIRS)[rng.permutation(len(_P_T_PAIRS))[: at.size]]
        p.flat[at], t.flat[at] = pairs[:, 0], pairs[:, 1]
    return p, t


def _logits(rng, shape, dtype, fam, options):
    """Logits from the family (saturated for ``wide``/``overflow``), hard and soft targets; ``nonfinite``
    puts NaN/±inf in both."""
    if fam == "smooth":
        return rng.standard_normal(shape), rng.uniform(0, 1, shape)
    t = _hard_and_soft(rng, shape)
    if fam == "nonfinite":
        t = _mix(rng, t, [np.nan, np.inf, -np.inf], 0.2)
    return FAMILIES[fam](rng, shape, dtype, Hints()), t


def _log_probabilities(rng, shape, dtype, fam, options):
    """x (log-probabilities) from the family; t probabilities with ``kink`` holding exact zeros, or
    log-probabilities (``log_target``) with ``kink`` holding -inf (log 0) and 0 (log 1).

    With probability targets x is kept <= 0, as log-probabilities are: positive x would make the
    terms of a 'sum'/'mean' cancel, which compares summation orders (torch's against NumPy's) rather
    than the op. With ``log_target`` (run unreduced) x and t keep their signs, so that exp(t)
    overflows float16 and ties x == t meet it."""
    log_target = options.get("log_target", False)
    x = FAMILIES["normal" if fam in ("kink", "smooth") else fam](rng, shape, dtype, Hints()).astype(np.float64)
    x = x if log_target else -np.abs(x)
    if fam == "kink" and log_target:
        t = _mix(rng, rng.standard_normal(shape), [-np.inf, 0.0])
    elif fam == "kink":
        t = _mix(rng, rng.uniform(0, 1, shape), [0.0, -0.0, 1.0])
    elif fam == "smooth":
        t = rng.standard_normal(shape) if log_target else rng.uniform(0.1, 1, shape)
    elif fam == "normal" and not log_target:
        t = rng.uniform(0, 1, shape)
    else:
        t = FAMILIES[fam](rng, shape, dtype, Hints()).astype(np.float64)
        t = t if log_target else np.abs(t)
    return x, t


def _sampler(draw, first: str):
    def sample(rng, dtype, shape, fam, variant, hints):
        x, t = draw(rng, shape, dtype, fam, variant.options)
        arrays = {first: cast(x, dtype), "t": cast(t, dtype)}
        weights = variant.sampling["weights"]
        if weights in ("weight", "both"):  # one weight per sample, broadcast over the rest: k/4 in [0, 2]
            arrays["weight"] = cast(rng.integers(0, 9, shape[:1] + (1,) * (len(shape) - 1)) / 4, dtype)
        if weights in ("pos_weight", "both"):  # one per class (last dimension), below and above 1
            arrays["pos_weight"] = cast(rng.integers(1, 17, shape[-1:]) / 4, dtype)
        return arrays

    return sample


# -- bad inputs and registration -------------------------------------------------------------------

def _call(x=None, t=None, **options):
    """A call on (4, 3) inputs valid for every loss here (0.5 and 0.25), with one thing changed."""
    x = np.full((4, 3), 0.5) if x is None else x
    t = np.full((4, 3), 0.25) if t is None else t
    return lambda rng: ((x, t), options)


_COMMON_BAD = (
    BadInput("t_int64", _call(t=np.ones((4, 3), np.int64)), TypeError, "t must be a floating"),
    BadInput("dtype_mix", _call(t=np.full((4, 3), 0.25, np.float32)), TypeError, "float64.*float32"),
    BadInput("reduction", _call(reduction="avg"), ValueError,
             r"'avg' is not a valid value for reduction, expected one of '\w+'(, '\w+')+$"),
)


def _loss(name, torch_fn, draw, families, variants, inputs=("x", "t"), bad=(), doc="", properties=()):
    shapes_of = {v.label: shapes for v, shapes in variants}
    t_shape = BadInput("t_shape", _call(t=np.full(3, 0.25)), ValueError,
                       rf"t has shape \(3,\), but {inputs[0]} has shape \(4, 3\) \(they must be equal\)")
    return register(
        OpSpec(
            name=name,
            inputs=inputs,
            grads=inputs,  # torch differentiates the target too
            torch_fn=torch_fn,
            sample=_sampler(draw, inputs[0]),
            shapes=tuple(dict.fromkeys(s for _, shapes in variants for s in shapes)),
            families=families,
            variants=tuple(v for v, _ in variants),
            reduces=True,  # 'mean'/'sum' add up the terms
            bad_inputs=(t_shape, *_COMMON_BAD, *bad),
            properties=properties,
            applies=lambda variant, shape: shape in shapes_of[variant.label],
            highprec=getattr(hp, name),  # the harness.highprec_ops oracle of the same name
            doc=doc,
        )
    )


def _reductions(**options) -> tuple:
    return tuple(_variant(r, s, **options) for r, s in (("none", ELEMENTWISE), ("mean", MEANS), ("sum", SUMS)))


def _zero_signs(name: str, torch_fn, *options: dict):
    """A property: the gradients of a regression loss are elementwise (each term's, times dout or dout / N)
    even when the loss reduces, so the sign of a zero gradient is torch's, which the generic checks leave
    free for ops that reduce. Ties x == t (±0 among them), douts of both signs and ±0 ('none'), and a
    positive, negative and ±0 dout for 'mean'/'sum': dx and dt against torch with zero signs, float32,
    float64 and float16. (torch's l1_loss is abs(x - t) in tensor ops, so dt = -dx: -0 where dx is +0;
    the fused kernels of the others evaluate the slope at t - x: +0 for a positive dout.)"""
    x = np.array([[0.5, 0.5, -1.0, 2.0], [0.5, 1.0, -1.0, 0.0], [0.0, -0.0, 3.0, 1.5]])
    t = np.array([[0.5, 0.5, -1.0, 1.5], [1.0, 0.5, -0.5, 0.0], [-0.0, 0.0, 3.0, 1.5]])
    douts = (("none", np.array([[1.0, -1.0, 0.0, -0.0], [2.0, -2.0, -0.0, 0.5], [1.0, -1.0, 0.5, -0.0]])),
             ("mean", np.array(1.0)), ("mean", np.array(-1.0)), ("sum", np.array(-0.0)), ("sum", np.array(0.0)))

    def check(ctx) -> None:
        fwd, bwd = ctx.impl.get(f"{name}_forward"), ctx.impl.get(f"{name}_backward")
        for dt_name in ("float16", "float32", "float64"):
            dt = DTYPES[dt_name]
            arrays = {"x": cast(x, dt), "t": cast(t, dt)}
            for opts in options or ({},):
                for reduction, dout in douts:
                    grads = bwd(fwd(**arrays, reduction=reduction, **opts)[1], cast(dout, dt))
                    tx, tt = (torch.from_numpy(a).requires_grad_() for a in arrays.values())
                    out = torch_fn(tx, tt, reduction=reduction, **opts)
                    want = torch.autograd.grad(out, [tx, tt], torch.from_numpy(cast(dout, dt)))
                    for k, w in zip(("dx", "dt"), want, strict=True):
                        ctx.compare(k, grads[k], w.numpy(), dt, dt.default_tol, arrays,
                                    oracle=f"torch {name}({opts}, reduction={reduction!r}), dout {dout.ravel()[:2]}")

    return (Property("zero_signs", check, "the signs of zero gradients at ties x == t, for every dout sign"),)


def _edge_case(name: str, torch_fn, label: str, doc: str, draw, dtypes=("float32", "float64"),
               reductions=("none",), dout: float = 1.0):
    """A property: ``draw(dtype name) -> (x, t, options)`` in each of ``dtypes`` and ``reductions`` with a
    constant dout (ones by default): out, dx and dt against torch."""

    def check(ctx) -> None:
        fwd, bwd = ctx.impl.get(f"{name}_forward"), ctx.impl.get(f"{name}_backward")
        for dt_name in dtypes:
            dt = DTYPES[dt_name]
            x, t, opts = draw(dt_name)
            arrays = {"x": cast(x, dt), "t": cast(t, dt)}
            for reduction in reductions:
                out, cache = fwd(**arrays, reduction=reduction, **opts)
                got = {"out": out, **bwd(cache, np.full_like(out, dout))}
                tx, tt = (torch.from_numpy(a).requires_grad_() for a in arrays.values())
                t_out = torch_fn(tx, tt, reduction=reduction, **opts)
                t_dx, t_dt = torch.autograd.grad(t_out, [tx, tt], torch.full_like(t_out, dout))
                for k, w in (("out", t_out.detach()), ("dx", t_dx), ("dt", t_dt)):
                    ctx.compare(k, got[k], w.numpy(), dt, dt.default_tol, arrays,
                                oracle=f"torch {name}({opts}, reduction={reduction!r})")

    return Property(label, check, doc)


def _huge_beta(dt_name: str):
    """|x - t| == beta exactly with beta = 2^100 (float32) / 2^600 (float64): torch's linear branch gives
    beta / 2; the quadratic one, equal in exact arithmetic, overflows in 0.5 z z before / beta."""
    beta = 2.0**100 if dt_name == "float32" else 2.0**600
    x, t = np.array([beta, -beta, 0.5 * beta, 0.25 * beta, 3.0]), np.array([0.0, 0.0, -0.5 * beta, -0.25 * beta, 1.0])
    return x, t, {"beta": beta}


def _infinite_delta(dt_name: str):
    """delta = inf (torch takes it): quadratic for every finite x - t, and at x - t = ±inf torch's linear
    branch delta (z - delta / 2) = inf (inf - inf) = NaN; NaN for inf - inf too."""
    return np.array([np.inf, -np.inf, 1.0, 3.0, np.inf]), np.array([0.0, 0.0, 1.0, -2.0, np.inf]), {"delta": np.inf}


def _difference_overflow(dt_name: str):
    """x - t beyond the dtype's max (max - (-max)) where 2 (x - t) / N is not: torch rounds x - t first,
    so the gradient is ±inf (the loss inf) for every reduction; and x - t = 0.9 max, whose 2 (x - t)
    ('none', 'sum') torch rounds to inf before the dout of 1/4 multiplies it."""
    big = float(np.finfo(dt_name).max)
    return np.array([big, -big, 0.6 * big, 0.5]), np.array([-big, big, -0.3 * big, -0.0]), {}


_loss("mse_loss", F.mse_loss, _regression, REGRESSION, _reductions(), doc="(x - t)^2; gradient 2 (x - t)",
      properties=(*_zero_signs("mse_loss", F.mse_loss),
                  _edge_case("mse_loss", F.mse_loss, "difference_overflow", "x - t past the dtype's max",
                             _difference_overflow, ("float16", "float32"), ("none", "mean", "sum"), dout=0.25)))
_loss("l1_loss", F.l1_loss, _regression, REGRESSION, _reductions(), doc="|x - t|; abs'(0) = abs'(NaN) = 0 as in torch",
      properties=_zero_signs("l1_loss", F.l1_loss))
_loss(
    "smooth_l1_loss", F.smooth_l1_loss, _regression, REGRESSION,
    (_variant("none", ELEMENTWISE, beta=0.5), _variant("mean", MEANS), _variant("sum", SUMS, beta=0.0)),
    bad=(BadInput("beta", _call(beta=-1.0), ValueError, "beta must be non-negative"),),
    properties=(
        *_zero_signs("smooth_l1_loss", F.smooth_l1_loss, {"beta": 0.5}, {"beta": 0.0}),
        _edge_case("smooth_l1_loss", F.smooth_l1_loss, "huge_beta", "|x - t| == beta near the top of the range",
                   _huge_beta),
    ),
    doc="quadratic below beta; beta = 0 is l1_loss, whose gradient at NaN is 0 (smooth_l1's is NaN)",
)
_loss(
    "huber_loss", F.huber_loss, _regression, REGRESSION,
    (_variant("none", ELEMENTWISE, delta=0.5), _variant("mean", MEANS), _variant("sum", SUMS, delta=2.0)),
    bad=tuple(BadInput(f"delta={d:g}", _call(delta=d), ValueError, "delta must be positive") for d in (0.0, -1.0)),
    properties=(
        *_zero_signs("huber_loss", F.huber_loss, {"delta": 0.5}),
        _edge_case("huber_loss", F.huber_loss, "infinite_delta", "delta = inf, x - t = ±inf", _infinite_delta),
    ),
    doc="quadratic below delta, slope delta above",
)


def _not_probability(name: str, value: float):
    """binary_cross_entropy's p (or t) with one element outside [0, 1]; torch raises RuntimeError."""
    changed = np.full((4, 3), 0.5)
    changed[1, 2] = value
    call = _call(x=changed) if name == "p" else _call(t=changed)
    match = rf"{name} must lie in \[0, 1\], got {re.escape(str(value))} at index \(1, 2\)"
    return BadInput(f"{name}={value:g}", call, ValueError, match)


_WEIGHT_SHAPE = BadInput("weight_shape", _call(weight=np.ones(4)), ValueError, r"weight of shape \(4,\)")


def _weight_bad(name: str) -> tuple[BadInput, ...]:
    """An optional weight that is not floating, or not of the inputs' dtype: the message names it."""
    return (
        BadInput(f"{name}_int64", _call(**{name: np.ones(3, np.int64)}), TypeError, rf"\b{name}\b must be a floating"),
        BadInput(f"{name}_dtype", _call(**{name: np.ones(3, np.float32)}), TypeError,
                 rf"input: float64, {name}: float32$"),
    )

def _float16_weight_edge(ctx) -> None:
    """float16 weights that take a term or gradient just past 65504 only as torch rounds it: torch's kernel
    rounds every step in float16 (the term ``r(r(t - 1) * -100)`` at p = 1, ``r(100 t)`` at p = 0, the
    difference of the two rounded logs' products otherwise), then multiplies by the weight as a float16
    tensor, then divides by N for 'mean'. Terms 99.0 * 662, 43.69 * 1500 and 2.078 * 31536, and the
    gradient 2 * 40000 (p = 0.5, t = 0), overflow to inf although the products of the unrounded values
    (98.94 * 662, 43.68 * 1500, 2.0772 * 31536, then 80000 / 4) do not; out, dp and dt against torch
    for every reduction."""
    fwd, bwd = ctx.impl.get("binary_cross_entropy_forward"), ctx.impl.get("binary_cross_entropy_backward")
    dt = DTYPES["float16"]
    arrays = {
        "p": cast(np.array([1.0, 0.0, 0.08404541015625, 0.5, 0.5]), dt),
        "t": cast(np.array([679 / 2**16, 1789 / 4096, 0.83251953125, 0.0, 0.25]), dt),
        "weight": cast(np.array([662.0, 1500.0, 31536.0, 40000.0, 1.0]), dt),
    }
    for reduction in ("none", "mean", "sum"):
        out, cache = fwd(**arrays, reduction=reduction)
        dout = cast(np.ones_like(out), dt)
        got = {"out": out, **bwd(cache, dout)}
        tp, tt = (torch.from_numpy(arrays[k]).requires_grad_() for k in ("p", "t"))
        t_out = F.binary_cross_entropy(tp, tt, torch.from_numpy(arrays["weight"]), reduction=reduction)
        t_dp, t_dt = torch.autograd.grad(t_out, [tp, tt], torch.from_numpy(dout))
        for k, w in (("out", t_out.detach()), ("dp", t_dp), ("dt", t_dt)):
            ctx.compare(k, got[k], w.numpy(), dt, dt.default_tol, arrays,
                        oracle=f"F.binary_cross_entropy(reduction={reduction!r}), float16 weight")


_loss(
    "binary_cross_entropy", F.binary_cross_entropy, _probabilities, ("normal", "wide", "kink", "subnormal"),
    (_variant("mean", MEANS), _variant("none", ELEMENTWISE, "weight"), _variant("sum", SUMS, "weight")),
    inputs=("p", "t"),
    bad=(
        _not_probability("p", 1.5), _not_probability("p", -0.25), _not_probability("p", np.nan),
        _not_probability("t", 2.0), _WEIGHT_SHAPE, *_weight_bad("weight"),
    ),
    properties=(Property("float16_weight_edge", _float16_weight_edge, "float16 weighted terms overflow as torch's"),),
    doc="logs clamped at -100; dp = (p - t) / max((1 - p) p, 1e-12 in the dtype: 0 in float16); dt = -logit(p)",
)
_loss(
    "binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, _logits,
    ("normal", "wide", "overflow", "nonfinite"),
    (
        _variant("mean", MEANS), _variant("none", ELEMENTWISE, "weight"), _variant("sum", SUMS, "pos_weight"),
        _variant("mean", ((16, 10),), "both"),
    ),
    bad=(
        _WEIGHT_SHAPE, *_weight_bad("weight"),
        BadInput("pos_weight_shape", _call(pos_weight=np.ones(4)), ValueError, r"pos_weight of shape \(4,\)"),
        *_weight_bad("pos_weight"),
    ),
    doc="(1 - t) x - (1 + (pos_weight - 1) t) log sigmoid(x); pos_weight per class (last dimension)",
)


def _kl_div(x, t, reduction="mean", log_target=False):
    with warnings.catch_warnings():  # torch warns that 'mean' is not the KL divergence ('batchmean' is)
        warnings.simplefilter("ignore", UserWarning)
        return F.kl_div(x, t, reduction=reduction, log_target=log_target)


def _batchmean_overflow(ctx) -> None:
    """float16 'batchmean': F.kl_div rounds the sum to float16 before dividing by the batch, so a total
    beyond 65504 is inf although total / N is not (x in [-2000, -1000], t in [0.5, 1], (16, 10): the sum
    ~1.8e5, / 16 ~1.1e4); against torch, which gives inf."""
    fwd = ctx.impl.get("kl_div_forward")
    dt = DTYPES["float16"]
    arrays = {"x": cast(-ctx.rng.uniform(1000, 2000, (16, 10)), dt), "t": cast(ctx.rng.uniform(0.5, 1, (16, 10)), dt)}
    out, _ = fwd(**arrays, reduction="batchmean")
    want = _kl_div(*(torch.from_numpy(a) for a in arrays.values()), reduction="batchmean")
    ctx.compare("out", out, want.numpy(), dt, dt.default_tol, arrays, oracle="F.kl_div(reduction='batchmean')")


def _float16_intermediates(ctx) -> None:
    """float16 with reduction 'none': F.kl_div's tensor ops round each intermediate to float16, so exp(12)
    is inf and inf * (t - x) at a tie x == t = 12 is NaN (log_target), and xlogy(t, t) = t * x = inf at
    t = 10000, x = 9.211 make inf - inf = NaN, where the exact values are finite; out, dx and dt against
    torch."""
    fwd, bwd = ctx.impl.get("kl_div_forward"), ctx.impl.get("kl_div_backward")
    dt = DTYPES["float16"]
    arrays = {"x": cast(np.array([12.0, 12.0, -1.0, 9.2109375, 3.0]), dt),
              "t": cast(np.array([12.0, 11.0, 12.0, 10000.0, 0.5]), dt)}
    dout = cast(np.array([1.0, -0.5, 2.0, 1.0, 0.25]), dt)
    for log_target in (True, False):
        out, cache = fwd(**arrays, reduction="none", log_target=log_target)
        got = {"out": out, **bwd(cache, dout)}
        tx, tt = (torch.from_numpy(a).requires_grad_() for a in arrays.values())
        t_out = _kl_div(tx, tt, reduction="none", log_target=log_target)
        t_dx, t_dt = torch.autograd.grad(t_out, [tx, tt], torch.from_numpy(dout))
        for k, w in (("out", t_out.detach()), ("dx", t_dx), ("dt", t_dt)):
            ctx.compare(k, got[k], w.numpy(), dt, dt.default_tol, arrays, oracle=f"F.kl_div(log_target={log_target})")


_loss(
    "kl_div", _kl_div, _log_probabilities, ("normal", "wide", "kink", "nonfinite", "overflow"),
    (
        _variant("batchmean", MEANS), _variant("mean", SUMS), _variant("none", ELEMENTWISE),
        _variant("sum", SUMS), _variant("none", ELEMENTWISE, log_target=True),
    ),
    bad=(BadInput("reduction_batch", _call(reduction="batch"), ValueError, "'batchmean'"),),
    properties=(
        Property("batchmean_overflow", _batchmean_overflow, "float16: the sum rounded before / N"),
        Property("float16_intermediates", _float16_intermediates, "float16 intermediates overflowing to inf"),
    ),
    doc="xlogy(t, t) - t x (gradient wrt t NaN at t = 0, as torch's), or exp(t) (t - x) with log_target; "
    "'batchmean' divides the sum by x.shape[0]",
)
