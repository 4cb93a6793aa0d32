"""Registry entries for the classification losses: nll_loss, cross_entropy and multi_margin_loss.

Each variant names the shapes it runs on (``applies``), so option combinations that need a
particular layout (spatial inputs, a single sample of shape (C,), an empty batch) stay cheap. The
sampler adds what a variant asks for: a positive class ``weight``, targets equal to ``ignore_index``
(some of them, or all), and index, one-hot or probability targets."""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from harness import highprec_ops as hp
from harness.dtypes import DTYPES
from harness.metamorphic import ShiftInvariance, per_sample
from harness.ops.seed import LABEL_BAD, LOGITS, class_targets, target_call
from harness.oracle import torch_forward, torch_grads
from harness.registry import REGISTRY, Allowance, BadInput, OpSpec, Property, Variant, register
from harness.values import FAMILIES, cast


def _variant(label: str, shapes, target="index", weight=False, ignore=None, **options) -> Variant:
    """``ignore``: None, "some" (about a third of the targets, at least one) or "all" set to the
    variant's ignore_index (torch's default -100 unless an option says)."""
    return Variant(label, options, {"target": target, "weight": weight, "ignore": ignore, "shapes": shapes})


def _applies(variant: Variant, shape: tuple[int, ...]) -> bool:
    return shape in variant.sampling["shapes"]


def _classes(shape: tuple[int, ...]) -> int:
    return shape[1 if len(shape) > 1 else 0]


def _ignoring(rng, t: np.ndarray, how: str | None, ignore_index: int, classes: int) -> np.ndarray:
    """``t`` with some or all entries set to ``ignore_index``; "some" keeps at least one target that
    counts (a label equal to an in-range ignore_index is moved to the next class there)."""
    if how is None:
        return t
    hit = np.full(t.shape, how == "all") | (rng.random(t.shape) < 1 / 3)
    t = t.copy()
    if how == "some" and t.size > 1:
        ignored, kept = rng.choice(t.size, 2, replace=False)
        hit.flat[ignored], hit.flat[kept] = True, False
        if t.flat[kept] == ignore_index:
            t.flat[kept] = (ignore_index + 1) % classes
    return np.where(hit, ignore_index, t)


def _with_options(rng, dtype, shape, variant: Variant, sample: dict) -> dict:
    """The variant's ignored targets and class weight added to a sample."""
    s = variant.sampling
    sample["t"] = _ignoring(rng, sample["t"], s["ignore"], variant.options.get("ignore_index", -100), _classes(shape))
    if s["weight"]:
        sample["weight"] = cast(rng.uniform(0.25, 2.0, _classes(shape)), dtype)
    return sample


def _class_sample(rng, dtype, shape, fam, variant, hints):
    x = FAMILIES[fam](rng, shape, dtype, hints)
    t = class_targets(rng, variant.sampling["target"], shape, dtype)
    return _with_options(rng, dtype, shape, variant, {"x": x, "t": t})


def _entry(name: str, torch_fn, variants, families, sample=_class_sample, bad=(), doc="", **fields) -> OpSpec:
    return register(
        OpSpec(
            name=name,
            inputs=("x", "t"),
            grads=("x", "t"),  # t only when it is a float probability target
            torch_fn=torch_fn,
            sample=sample,
            shapes=tuple(dict.fromkeys(s for v in variants for s in v.sampling["shapes"])),
            families=families,
            variants=variants,
            class_axis=1,
            reduces=True,
            bad_inputs=LABEL_BAD + WEIGHT_BAD + bad,
            applies=_applies,
            doc=doc,
            **fields,
        )
    )


_ok = [0, 1, 2, 0]
WEIGHT_BAD = (
    BadInput("weight_size", target_call(_ok, weight=np.ones(4)), ValueError, r"weight .*\(3,\).*\(4,\)"),
    BadInput("weight_dtype", target_call(_ok, weight=np.ones(3, np.float32)), TypeError, "float32"),
    # The message names the rejected input (docs/mutation.md).
    BadInput("weight_int64", target_call(_ok, weight=np.ones(3, np.int64)), TypeError, r"\bweight\b must be a float"),
    BadInput("reduction", target_call(_ok, reduction="avg"), ValueError, "'avg'"),
)

SPATIAL = ((2, 3, 2, 2),)
# An all-ignored mean is NaN (0 / 0) with torch's gradient 0, so central differences are no oracle
# there: run it on a shape above fd_max_size.
ALL_IGNORED = ((16, 10),)


# -- nll_loss: x holds log-probabilities, so only the families that mean something for them -------

_entry(
    "nll_loss",
    F.nll_loss,
    (
        _variant("", ((5,), (0, 5), (4, 3))),
        _variant("weight,ignore_index=1", ((4, 3),), weight=True, ignore="some", ignore_index=1),
        _variant("all-ignored", ALL_IGNORED, weight=True, ignore="all"),
        _variant("reduction=none,weight,ignore", ((5,), (4, 3)), weight=True, ignore="some", reduction="none"),
        _variant("reduction=sum,ignore", ((4, 3),), ignore="some", reduction="sum"),
        _variant("spatial,weight,ignore,reduction=none", SPATIAL, weight=True, ignore="some", reduction="none"),
    ),
    ("normal", "wide", "neginf", "nonfinite", "sum_overflow"),
    bad=(
        BadInput("float_target", target_call([0.0, 1.0, 2.0, 0.0]), TypeError, "integers, got dtype float64"),
        # The whole message (docs/mutation.md): the ignore_index clause, and the position of a bad label
        # of a (N, d) target as an index tuple.
        BadInput("label_message", target_call([0, 1, 3, 2]), ValueError,
                 r"labels must be in \[0, 3\) for 3 classes or equal ignore_index -100, got 3 at position 2$"),
        BadInput("label_high_2d", target_call([[0, 1], [2, 5]], x_shape=(2, 3, 2)), ValueError,
                 r"got 5 at position \(1, 1\)$"),
        BadInput("x_0d", target_call(0, x_shape=()), ValueError, r"expected an input of shape .*, got \(\)$"),
    ),
    doc="-x[target] * weight[target]; mean divides by the weight of the targets not ignored (NaN if none)",
    highprec=hp.class_loss(logits=False),
    relations=(per_sample("x", "t", "out", variant="reduction=none,weight,ignore", shape=(4, 3)),),
)


# -- cross_entropy ----------------------------------------------------------------------------------

def _zero_weight_smoothing(ctx) -> None:
    """Label smoothing with a class weight of 0 (a class that does not count, as torch allows) where a
    logit is -inf: the smoothing sum ``-sum(logp * weight)`` meets ``-inf * 0 = NaN`` on that row, as in
    torch; out and dx against torch, warning-free, for each reduction, in float32 and float64 (the grid's
    weights are positive; a zero one there would move the accuracy baseline of every family)."""
    spec = REGISTRY["cross_entropy"]
    fwd, bwd = ctx.impl.get(spec.forward_name), ctx.impl.get(spec.backward_name)
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        for reduction in ("mean", "sum", "none"):
            variant = Variant(f"label_smoothing=0.1,reduction={reduction}",
                              {"label_smoothing": 0.1, "reduction": reduction})
            t = ctx.rng.integers(3, size=4)
            zero = ctx.rng.choice(np.flatnonzero(np.arange(3) != t[0]))  # the first target counts: weight > 0
            x = np.where(ctx.rng.random((4, 3)) < 0.3, -np.inf, ctx.rng.standard_normal((4, 3)))
            x[np.arange(4), t] = ctx.rng.standard_normal(4)  # each target's logit finite
            x[0, zero] = -np.inf
            w = ctx.rng.uniform(0.25, 2.0, 3)
            w[zero] = 0.0
            inputs = {"x": cast(x, dt), "t": t, "weight": cast(w, dt)}
            out, cache = spec.call(fwd, inputs, variant)
            dout = cast(ctx.rng.standard_normal(np.shape(out)), dt)
            shown = {**inputs, "dout": dout}
            ctx.compare("out", out, torch_forward(spec, variant, inputs)["out"], dt, spec.tol(dt), shown,
                        signed_zeros=False, oracle=f"F.cross_entropy, a zero class weight facing -inf ({reduction})")
            ctx.compare("dx", bwd(cache, dout)["dx"], torch_grads(spec, variant, inputs, {"out": dout})["x"], dt,
                        spec.tol(dt), shown, signed_zeros=False,
                        oracle=f"torch autograd, a zero class weight facing -inf ({reduction})")


def _huge_products(ctx) -> None:
    """Probability targets against a logit at -max, float32 and float64: ``logp * p * weight`` overflows
    in one product (weight 2) or the row's sum overflows (two terms of -max), so the loss is inf as in
    torch, warning-free; out for each reduction, and dx (finite: the softmax is 0 there)."""
    spec = REGISTRY["cross_entropy"]
    fwd, bwd = ctx.impl.get(spec.forward_name), ctx.impl.get(spec.backward_name)
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        big = float(dt.finfo.max)
        x = cast(np.array([[0.0, -big, 1.0], [0.0, -big, -big], [1.0, 0.5, 0.0]]), dt)
        t = cast(np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.25, 0.5, 0.25]]), dt)
        for weight in (None, cast(np.array([1.0, 2.0, 1.0]), dt)):
            for reduction in ("mean", "sum", "none"):
                variant = Variant(f"reduction={reduction}", {"reduction": reduction})
                inputs = {"x": x, "t": t, **({} if weight is None else {"weight": weight})}
                out, cache = spec.call(fwd, inputs, variant)
                dout = cast(np.ones(np.shape(out)), dt)
                oracle = f"F.cross_entropy, probability targets at -max, weight {weight}, {reduction}"
                ctx.compare("out", out, torch_forward(spec, variant, inputs)["out"], dt, spec.tol(dt), inputs,
                            signed_zeros=False, oracle=oracle)
                ctx.compare("dx", bwd(cache, dout)["dx"], torch_grads(spec, variant, inputs, {"out": dout})["x"],
                            dt, spec.tol(dt), inputs, signed_zeros=False, oracle=oracle)


def _infinite_dout_targets(ctx) -> None:
    """Probability targets with an infinite dout on finite logits, float32 and float64: a saturated row
    (log-probability exactly 0: ``inf * 0`` in dt, NaN as in torch), others finite, and label smoothing
    0, 0.5 and 1 (a zero target factor: dt all NaN). dx and dt against torch, each reduction."""
    spec = REGISTRY["cross_entropy"]
    fwd, bwd = ctx.impl.get(spec.forward_name), ctx.impl.get(spec.backward_name)
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        x = cast(np.array([[0.0, -800.0, -800.0], [2.0, 0.0, -120.0], [0.0, 1.0, 2.0]]), dt)
        t = cast(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]]), dt)
        inputs = {"x": x, "t": t}
        for eps in (0.0, 0.5, 1.0):
            for reduction in ("mean", "sum", "none"):
                variant = Variant("", {"reduction": reduction, "label_smoothing": eps})
                out, cache = spec.call(fwd, inputs, variant)
                dout = cast(np.full(np.shape(out), np.inf), dt)
                got, want = bwd(cache, dout), torch_grads(spec, variant, inputs, {"out": dout})
                for n in ("x", "t"):
                    ctx.compare(f"d{n}", got[f"d{n}"], want[n], dt, spec.tol(dt), {**inputs, "dout": dout},
                                signed_zeros=False, oracle=f"torch autograd, dout inf, {variant.options}")


def _zero_signs(ctx) -> None:
    """Zero signs torch fixes though the loss reduces, float32 and float64: a probability-target row of
    -0.0 has loss -0.0 ('none': ``-(logp · -0.0).sum()``) and dx +0.0, and an ignored target's row of dx is +0.0
    with label smoothing (torch writes its gradient into zeros; a product ``-0 · 0`` would give -0.0).
    Compared with signs on those elements only (the generic checks leave zero signs free here)."""
    spec = REGISTRY["cross_entropy"]
    fwd, bwd = ctx.impl.get(spec.forward_name), ctx.impl.get(spec.backward_name)
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        x = cast(ctx.rng.standard_normal((3, 4)), dt)
        inputs = {"x": x, "t": cast(np.array([[-0.0] * 4, [0.25, 0.5, 0.25, 0.0], [0.0, 0.0, 1.0, 0.0]]), dt)}
        variant = Variant("reduction=none", {"reduction": "none"})
        out, cache = spec.call(fwd, inputs, variant)
        ctx.compare("out[0]", out[:1], torch_forward(spec, variant, inputs)["out"][:1], dt, spec.tol(dt), inputs,
                    oracle="F.cross_entropy, a probability row of -0.0")
        dout = cast(np.abs(ctx.rng.standard_normal(3)) + 0.5, dt)
        want = torch_grads(spec, variant, inputs, {"out": dout})["x"]
        ctx.compare("dx[0]", bwd(cache, dout)["dx"][:1], want[:1], dt, spec.tol(dt), inputs,
                    oracle="torch autograd, a probability row of -0.0")
        for reduction in ("mean", "sum", "none"):
            variant = Variant("", {"reduction": reduction, "label_smoothing": 0.2, "ignore_index": 1})
            inputs = {"x": x, "t": np.array([1, 0, 3])}  # row 0 is ignored
            out, cache = spec.call(fwd, inputs, variant)
            dout = cast(-np.abs(ctx.rng.standard_normal(np.shape(out))), dt)
            want = torch_grads(spec, variant, inputs, {"out": dout})["x"]
            ctx.compare("dx[ignored row]", bwd(cache, dout)["dx"][:1], want[:1], dt, spec.tol(dt), inputs,
                        oracle=f"torch autograd, an ignored target with label smoothing ({reduction})")


_prob = np.full((4, 3), 1 / 3)
_entry(
    "cross_entropy",
    F.cross_entropy,
    (
        _variant("t=index", ((0, 5), (4, 3), (7, 1), (64, 33))),
        _variant("t=onehot", ((4, 3),), target="onehot"),
        _variant("t=prob", ((0, 5), (4, 3), (64, 33)), target="prob"),
        _variant("weight,ignore_index=1", ((4, 3), (64, 33)), weight=True, ignore="some", ignore_index=1),
        _variant("all-ignored", ALL_IGNORED, weight=True, ignore="all"),
        _variant(
            # (7, 1): one class, so an ignored target's placeholder class must be 0
            "label_smoothing=0.1,weight,ignore", ((4, 3), (7, 1), (64, 33)), weight=True, ignore="some",
            label_smoothing=0.1,
        ),
        _variant("label_smoothing=1", ((4, 3),), label_smoothing=1.0),  # a uniform target, valid in torch
        _variant("t=prob,label_smoothing=0.1,weight", ((4, 3),), target="prob", weight=True, label_smoothing=0.1),
        _variant(
            # (4, 33): at gap1e4 the float16 smoothing term -sum(logp * weight) overflows, as torch's does
            "reduction=none,label_smoothing=0.1,ignore", ((5,), (4, 3), (4, 33)), ignore="some", reduction="none",
            label_smoothing=0.1,
        ),
        _variant("t=prob,reduction=sum", ((4, 3),), target="prob", reduction="sum"),
        _variant("spatial,weight,ignore", SPATIAL, weight=True, ignore="some"),
        _variant("spatial,t=prob,reduction=none", ((2, 3, 4),), target="prob", reduction="none"),
    ),
    LOGITS,
    bad=(
        BadInput("label_smoothing_high", target_call(_ok, label_smoothing=1.5), ValueError, r"\[0, 1\], got 1.5"),
        # torch silently treats a negative label_smoothing as 0; the reference rejects it.
        BadInput("label_smoothing_negative", target_call(_ok, label_smoothing=-0.1), ValueError, "got -0.1"),
        BadInput("prob_ignore_index", target_call(_prob, ignore_index=0), ValueError, "ignore_index 0"),
        BadInput("prob_shape", target_call(np.full((4, 2), 0.5)), ValueError, r"\(4, 3\).*\(4, 2\)"),
        # The whole message, with the shapes accepted (docs/mutation.md).
        BadInput("x_0d", target_call(0, x_shape=()), ValueError,
                 r"expected an input of shape \(C,\), \(N, C\) or \(N, C, d1, \.\.\.\), got \(\)$"),
    ),
    relations=(
        ShiftInvariance(),
        per_sample("x", "t", "out", variant="reduction=none,label_smoothing=0.1,ignore", shape=(4, 3)),
    ),
    doc="via log-softmax; index targets (weight, ignore_index) or probabilities (differentiable), "
    "label smoothing, reductions, (N, C, d1, ...) inputs",
    highprec=hp.class_loss(),
    properties=(Property("zero_weight_smoothing", _zero_weight_smoothing, "label smoothing, a zero class weight "
                         "facing a -inf logit: NaN as torch's, warning-free"),
                Property("huge_products", _huge_products, "probability targets at a -max logit: inf losses"),
                Property("infinite_dout_targets", _infinite_dout_targets, "probability targets, an infinite dout on "
                         "finite logits: inf * 0 in dt, NaN as torch's"),
                Property("zero_signs", _zero_signs, "a -0.0 probability row's loss, an ignored row's dx")),
    allowance=Allowance(5.0, "dx = (softmax(x) sum(t) - t) / N cancels where a probability target is close to the "
                        "softmax; torch forms it as exp(log_softmax) in its fused backward, the reference as "
                        "exp(x - max) / sum, so the two cancel different roundings (float32, probability targets: "
                        "10.4 vs torch's 5.2 ULP, per case up to 4.1x torch's error)"),
)


# -- multi_margin_loss ------------------------------------------------------------------------------

def _hinge_rows(x: np.ndarray, t: np.ndarray, margin: float):
    """x as (M, C) rows, each row's hinge point ``x[y] - margin`` (where z = 0) and a mask of the
    non-target entries."""
    rows = x.reshape(-1, x.shape[-1])
    y = t.reshape(-1)
    others = np.ones(rows.shape, bool)
    others[np.arange(len(y)), y] = False
    return rows, (rows[np.arange(len(y)), y] - margin)[:, None], others


def _hinged(rng, shape, t, margin):
    """Dyadic values (exact sums in every dtype) with about half the non-target entries, and at least
    one per row, exactly at the hinge ``x[j] = x[y] - margin``, where torch's gradient is 0."""
    rows, hinge, others = _hinge_rows(rng.integers(-8, 9, shape) / 4, t, margin)
    at = others & (rng.random(rows.shape) < 0.5)
    if rows.shape[1] > 1:
        y = t.reshape(-1)
        at[np.arange(len(y)), (y + rng.integers(1, rows.shape[1], len(y))) % rows.shape[1]] = True
    return np.where(at, hinge, rows).reshape(shape)


def _off_hinge(rng, shape, t, margin):
    """Normal values with every z = margin - x[y] + x[j] at least 0.05 from the hinge."""
    rows, hinge, others = _hinge_rows(rng.standard_normal(shape), t, margin)
    z = rows - hinge
    near = others & (np.abs(z) < 0.05)
    return np.where(near, hinge + np.copysign(0.05 + np.abs(z), z), rows).reshape(shape)


_HINGE_FAMILIES = {"kink": _hinged, "smooth": _off_hinge}


def _margin_sample(rng, dtype, shape, fam, variant, hints):
    t = class_targets(rng, "index", shape, dtype)
    if fam in _HINGE_FAMILIES:
        x = cast(_HINGE_FAMILIES[fam](rng, shape, t, variant.options.get("margin", 1.0)), dtype)
    else:
        x = FAMILIES[fam](rng, shape, dtype, hints)
    return _with_options(rng, dtype, shape, variant, {"x": x, "t": t})


_entry(
    "multi_margin_loss",
    F.multi_margin_loss,
    (
        _variant("", ((5,), (4, 3), (64, 33))),
        _variant("p=2", ((4, 3), (16, 10)), p=2),
        _variant("margin=0.5,weight", ((4, 3),), weight=True, margin=0.5),
        _variant("p=2,weight,reduction=none", ((0, 5), (5,), (4, 3)), weight=True, p=2, reduction="none"),
        _variant("reduction=sum", ((4, 3),), reduction="sum"),
    ),
    ("normal", "wide", "kink", "equal", "neginf", "nonfinite"),
    sample=_margin_sample,
    # torch's CPU kernel has no float16/bfloat16 (NotImplementedError); an empty batch is only run with
    # reduction='none' because torch returns uninitialised memory for its mean and sum.
    dtypes=("float32", "float64"),
    bad=(
        BadInput("p", target_call(_ok, p=3), ValueError, "p must be 1 or 2, got 3"),
        BadInput("x_float16", lambda rng: ((np.zeros((4, 3), np.float16), np.array(_ok)), {}), TypeError, "float16"),
        BadInput("x_3d", target_call(np.zeros((4, 2), int), x_shape=(4, 3, 2)), ValueError,
                 r"expected an input of shape \(C,\) or \(N, C\), got \(4, 3, 2\)$"),
    ),
    doc="hinge z = margin - x[y] + x[j] > 0 only (gradient 0 at z == 0 and for NaN z); float32/float64 only",
    relations=(per_sample("x", "t", "out", variant="p=2,weight,reduction=none", shape=(4, 3)),),
)
