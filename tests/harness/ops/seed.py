"""Registry entries for the seed's layers: ReLU, sigmoid, Affine, softmax and softmax_with_loss, and the
computational-graph nodes; the class-target helpers shared with the classification losses."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness import highprec_ops as hp
from harness.dtypes import DTYPES
from harness.metamorphic import ShiftInvariance, per_sample
from harness.oracle import torch_forward, torch_grads
from harness.registry import REGISTRY, BadInput, OpSpec, Property, Variant, register, same_shape_inputs
from harness.values import FAMILIES, cast

ELEMENTWISE_SHAPES = ((), (7,), (1, 5), (0, 3), (4, 3), (3, 5, 7), (64, 33))
ELEMENTWISE = ("normal", "wide", "subnormal", "overflow", "nonfinite")
LOGITS = ("normal", "wide", "gap50", "gap1e3", "gap1e4", "equal", "neginf", "nonfinite")
ZEROS = (0.0, -0.0)


DEFAULT_VARIANTS = (Variant(),)


def elementwise(
    name: str, torch_fn, kinks=(), variants=DEFAULT_VARIANTS, bad=(), positive=False, doc="", **fields
) -> OpSpec:
    """Register a one-input elementwise op over the elementwise shapes and value families; ``fields``
    override any other OpSpec field (shapes, families, sample, applies, properties)."""
    defaults = {
        "sample": same_shape_inputs("x"),
        "shapes": ELEMENTWISE_SHAPES,
        "families": ELEMENTWISE + (("kink",) if kinks else ()),
        "elementwise": True,
    }
    return register(
        OpSpec(
            name=name, inputs=("x",), grads=("x",), torch_fn=torch_fn, variants=variants, kinks=kinks,
            positive=positive, bad_inputs=bad, doc=doc, **{**defaults, **fields},
        )
    )


elementwise(
    "relu", lambda x: torch.relu(x), kinks=ZEROS, doc="relu'(0) = relu'(-0.0) = 0; NaN passes through", highprec=hp.relu
)
elementwise("sigmoid", torch.sigmoid, doc="stable at both ends; gradient y (1 - y)", highprec=hp.sigmoid)
elementwise("exp", torch.exp, highprec=hp.exp)
elementwise("log", torch.log, kinks=ZEROS, positive=True, doc="log(±0) = -inf, log(x < 0) = nan", highprec=hp.log)
elementwise("reciprocal", torch.reciprocal, kinks=ZEROS, doc="1/±0 = ±inf", highprec=hp.reciprocal)


# -- broadcasting binary nodes -------------------------------------------------------------------

def _other_shape(shape: tuple[int, ...], how: str) -> tuple[int, ...]:
    return {
        "same": shape,
        "row": shape[-1:],
        "scalar": (),
        "keepdim": shape[:1] + (1,) * (len(shape) - 1),
        "lead": (2,) + shape,
    }[how]


BROADCASTS = tuple(Variant(f"y={how}", sampling={"y": how}) for how in ("same", "row", "scalar", "keepdim", "lead"))


def _binary_sample(rng, dtype, shape, fam, variant, hints):
    draw, y_shape = FAMILIES[fam], _other_shape(shape, variant.sampling["y"])
    return {"x": draw(rng, shape, dtype, hints), "y": draw(rng, y_shape, dtype, hints)}


def _binary_bad(name: str) -> tuple[BadInput, ...]:
    return (
        BadInput("shapes", lambda rng: ((np.ones((3, 4)), np.ones((5,))), {}), ValueError, r"\(3, 4\).*\(5,\)"),
        BadInput("dtype_mix", lambda rng: ((np.ones(3), np.ones(3, np.float32)), {}), TypeError, "float64.*float32"),
        # The generic dtype checks corrupt x; an integer y must be rejected by its own name (docs/mutation.md).
        BadInput("y_int64", lambda rng: ((np.ones(3), np.ones(3, np.int64)), {}), TypeError, r"\by\b.*floating"),
    )


# add's backward passes dout through where nothing is broadcast, as torch.autograd.grad does (it returns the
# upstream gradient itself for both inputs of x + y); a copy would be allowed too.
ADD_ALIASES = {(g, "dout"): "torch.autograd.grad of x + y returns dout itself" for g in ("dx", "dy")}


def _rounded_products(ctx) -> None:
    """mul's gradient of a broadcast y in float16/bfloat16: torch forms dout * x in the dtype, where
    1.5 · ±max overflows to ±inf, before summing over the broadcast axes (inf - inf = NaN); products
    kept in float32 would cancel to a finite sum. Against torch, for a scalar and a row y."""
    spec = REGISTRY["mul"]
    for dt in (DTYPES["float16"], DTYPES["bfloat16"]):
        big = float(dt.finfo.max)
        x = cast(np.array([[big, 1.0, 2.0], [-big, 3.0, -2.0]]), dt)
        douts = {"out": cast(np.array([[1.5, 1.0, 0.5], [1.5, -1.0, 0.5]]), dt)}
        for y in (cast(np.array(2.0), dt), cast(np.array([1.0, 0.5, 2.0]), dt)):
            inputs = {"x": x, "y": y}
            _, cache = ctx.impl.get("mul_forward")(x, y)
            dy = ctx.impl.get("mul_backward")(cache, douts["out"])["dy"]
            ctx.compare("dy", dy, torch_grads(spec, spec.variants[0], inputs, douts)["y"], dt, spec.tol(dt),
                        {**inputs, "dout": douts["out"]}, oracle=f"torch autograd, y of shape {y.shape}")


for _name, _fn in (("mul", torch.mul), ("add", torch.add)):
    register(
        OpSpec(
            name=_name,
            inputs=("x", "y"),
            grads=("x", "y"),
            torch_fn=_fn,
            sample=_binary_sample,
            shapes=ELEMENTWISE_SHAPES,
            families=ELEMENTWISE,
            variants=BROADCASTS,
            bad_inputs=_binary_bad(_name),
            reduces=True,  # the backward sums over broadcast axes
            magnitude=True,
            elementwise=True,  # any x shape: every variant derives y's shape from it (y=same permutes with x)
            aliases=ADD_ALIASES if _name == "add" else {},
            properties=(Property("rounded_products", _rounded_products, "float16 dout * x overflowing before the sum"),)
            if _name == "mul" else (),
            highprec=getattr(hp, _name),
            doc="broadcasts; backward sums the gradient over broadcast axes",
        )
    )


# -- affine ----------------------------------------------------------------------------------------

AFFINE_OUT = 6


def _affine_sample(rng, dtype, shape, fam, variant, hints):
    d = int(np.prod(shape[1:]))
    return {
        "x": FAMILIES[fam](rng, shape, dtype, hints),
        "W": cast(rng.standard_normal((d, AFFINE_OUT)) / np.sqrt(max(d, 1)), dtype),
        "b": cast(rng.standard_normal(AFFINE_OUT), dtype),
    }


def _affine_call(x_shape, w_shape, b_shape=(AFFINE_OUT,), w_dtype=np.float64, b_dtype=None):
    b_dtype = w_dtype if b_dtype is None else b_dtype
    return lambda rng: ((np.ones(x_shape), np.ones(w_shape, w_dtype), np.ones(b_shape, b_dtype)), {})


register(
    OpSpec(
        name="affine",
        inputs=("x", "W", "b"),
        grads=("x", "W", "b"),
        torch_fn=lambda x, W, b: F.linear(x.flatten(1), W.T, b),  # seed layout W: (in, out)
        sample=_affine_sample,
        shapes=((1, 5), (0, 4), (4, 3), (7, 1), (3, 2, 5), (64, 33)),
        families=("normal", "wide", "subnormal", "nonfinite"),
        reduces=True,
        magnitude=True,
        bad_inputs=(
            BadInput("W_rows", _affine_call((4, 3), (5, AFFINE_OUT)), ValueError, r"W \(5, 6\)"),
            BadInput("b_size", _affine_call((4, 3), (3, AFFINE_OUT), (5,)), ValueError, r"b \(5,\)"),
            BadInput("x_1d", _affine_call((3,), (3, AFFINE_OUT)), ValueError, r"x \(3,\)"),
            BadInput("dtype_mix", _affine_call((4, 3), (3, AFFINE_OUT), w_dtype=np.float32), TypeError, "float32"),
            # Each input on its own (found by mutation testing, docs/mutation.md): a check that skips W or b,
            # a message that names the wrong input, a 1-D x that would flatten to (N, 1), a 3-D W.
            BadInput("dtype_mix_W", _affine_call((4, 3), (3, AFFINE_OUT), w_dtype=np.float32, b_dtype=np.float64),
                     TypeError, "W: float32"),
            BadInput("dtype_mix_b", _affine_call((4, 3), (3, AFFINE_OUT), b_dtype=np.float32), TypeError, "b: float32"),
            BadInput("W_int64", _affine_call((4, 3), (3, AFFINE_OUT), w_dtype=np.int64, b_dtype=np.float64),
                     TypeError, r"\bW\b.*floating"),
            BadInput("b_int64", _affine_call((4, 3), (3, AFFINE_OUT), b_dtype=np.int64), TypeError, r"\bb\b.*floating"),
            BadInput("x_1d_one_feature", _affine_call((3,), (1, AFFINE_OUT)), ValueError, r"x \(3,\)"),
            BadInput("W_3d", _affine_call((4, 3), (3, AFFINE_OUT, 1)), ValueError, r"W \(3, 6, 1\)"),
        ),
        relations=(per_sample("x", "out"),),
        highprec=hp.affine,
        doc="x @ W + b with W (in, out); N-D x flattened to (N, -1)",
    )
)


# -- softmax and the losses ------------------------------------------------------------------------

AXES = (Variant(), Variant("axis=0", {"axis": 0}), Variant("axis=1", {"axis": 1}))  # default: last axis


def _has_axis(variant: Variant, shape: tuple[int, ...]) -> bool:
    return -len(shape) <= variant.options.get("axis", -1) < len(shape)


SOFTMAX_SHAPES = ((7,), (1, 5), (0, 5), (4, 3), (3, 5, 7), (64, 33))
def _axis_call(shape: tuple[int, ...], axis: object):
    return lambda rng: ((np.ones(shape),), {"axis": axis})


# torch raises IndexError for a dim out of range ([-1, 0] for 1-D and 0-d inputs) and TypeError for a
# float or bool dim; the messages name the op and the offending axis.
_axis_bad = (
    BadInput("axis", _axis_call((4, 3), 2), ValueError, "axis 2"),
    BadInput("axis_1d_high", _axis_call((7,), 1), ValueError, r"axis 1 is out of range for an input with 1 dim"),
    BadInput("axis_1d_low", _axis_call((7,), -2), ValueError, r"axis -2 is out of range for an input with 1 dim"),
    BadInput("axis_float", _axis_call((4, 3), 1.0), TypeError, r": axis must be an int, got 1\.0$"),
    BadInput("axis_bool", _axis_call((4, 3), True), TypeError, r": axis must be an int, got True$"),
)

_BACKWARD_DATA = {"softmax": torch._softmax_backward_data, "log_softmax": torch._log_softmax_backward_data}

def _extreme_dout(ctx) -> None:
    """softmax's backward ``y (dout - <dout, y>)`` on finite logits, float32 and float64: an infinite dout
    where y underflows to exactly 0 (inf * 0 = NaN, the whole row NaN), and a ±max dout pair whose
    difference with the row's dot product overflows in a single operation (``max + max``: inf, times a
    tiny y). The generic extreme check's NaN-holding rows never form either. Against torch."""
    spec = REGISTRY["softmax"]
    for dt in (DTYPES["float32"], DTYPES["float64"]):
        big, gap = float(dt.finfo.max), -2.0 * np.log(float(dt.finfo.tiny)) / 1.5  # exp(-gap) rounds to 0
        x = cast(np.array([[0.0, -gap, 1.0], [0.0, 50.0, 0.0], [2.0, 1.0, 0.0]]), dt)
        dout = cast(np.array([[0.0, np.inf, 0.0], [big, -big, 0.0], [-np.inf, 0.0, 1.0]]), dt)
        inputs, douts = {"x": x}, {"out": dout}
        _, cache = ctx.impl.get("softmax_forward")(x)
        dx = ctx.impl.get("softmax_backward")(cache, dout)["dx"]
        ctx.compare("dx", dx, torch_grads(spec, spec.variants[0], inputs, douts)["x"], dt, spec.tol(dt),
                    {**inputs, "dout": dout})


for _name, _fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
    register(
        OpSpec(
            name=_name,
            inputs=("x",),
            grads=("x",),
            torch_fn=lambda x, axis=-1, _fn=_fn: _fn(x, dim=axis),
            sample=same_shape_inputs("x"),
            shapes=SOFTMAX_SHAPES,
            families=LOGITS,
            variants=AXES,
            bad_inputs=_axis_bad,
            reduces=True,
            torch_backward_from_out=lambda out, dout, axis=-1, _b=_BACKWARD_DATA[_name]: {
                "x": _b(dout, out, axis, out.dtype)
            },
            applies=_has_axis,
            relations=(ShiftInvariance(), per_sample("x", "out", shape=(4, 3))),  # rows: the default last axis
            properties=(Property("extreme_dout", _extreme_dout, "inf dout where y is 0, overflowing dout"),)
            if _name == "softmax" else (),
            highprec=getattr(hp, _name),
            doc="max-subtracted, along any axis",
        )
    )


def class_targets(rng, kind: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Targets for logits of ``shape`` (class axis 1, or 0 for one sample of shape (C,)): class indices
    ("index", the logits' shape without the class axis) or rows over the classes of the logits' shape:
    "onehot", "soft" (multiples of 1/256 summing to exactly 1 in every dtype, as y - t requires) or
    "prob" (summing to 1 only up to rounding, as torch allows)."""
    axis = 1 if len(shape) > 1 else 0
    c, batch = shape[axis], shape[:axis] + shape[axis + 1 :]
    if kind == "index":
        return np.asarray(rng.integers(c, size=batch))
    if kind == "onehot":
        rows = np.eye(c)[rng.integers(c, size=batch)]
    elif kind == "soft":
        rows = rng.multinomial(256, np.full(c, 1 / c), size=batch) / 256
    else:
        z = np.exp(2 * rng.standard_normal(batch + (c,)))
        rows = z / z.sum(axis=-1, keepdims=True)
    return cast(np.moveaxis(rows, -1, axis), dtype)


def target_call(t, x_shape=(4, 3), **options):
    """A bad-input call: zero float64 logits of ``x_shape``, target ``t`` and keyword ``options``."""
    return lambda rng: ((np.zeros(x_shape), np.asarray(t)), options)


LABEL_BAD = (
    BadInput("label_high", target_call([0, 1, 3, 2]), ValueError, "labels must be in \\[0, 3\\).* 3 at position 2"),
    BadInput("label_negative", target_call([0, -1, 1, 2]), ValueError, "-1 at position 1"),
    BadInput("target_shape", target_call([0, 1, 2]), ValueError, r"\(4,\)"),
)


def _rows_sum_edge(ctx) -> None:
    """A target row exactly 4 * C float64 ULPs from 1 (the rounding the row-sum check allows, C = 3) is
    accepted, and the loss matches torch's; 13.5 ULPs off is the ``rows_sum_tight`` bad input."""
    spec = REGISTRY["softmax_with_loss"]
    t = np.array([[0.5, 0.5, 12 * 2.0**-52]] + [[0.25, 0.25, 0.5]] * 3)
    inputs = {"x": ctx.rng.standard_normal((4, 3)), "t": t}
    out, _ = ctx.impl.get(spec.forward_name)(inputs["x"], inputs["t"])
    expected = torch_forward(spec, spec.variants[0], inputs)["out"]
    ctx.compare("out", out, expected, DTYPES["float64"], spec.tol(DTYPES["float64"]), inputs)


def _saturated_infinite_dout(ctx) -> None:
    """An infinite dout on finite logits whose softmax is exactly one-hot at each row's target (the
    target's logit 1000 above the rest): ``y · sum(t) - t`` is exactly 0, so dx is ``±inf · 0 = NaN``
    everywhere, as torch's, warning-free; index and one-hot targets, float32 and float64. (On a row that is
    not saturated at its target torch gives NaN where ``dout (y - t)`` is ±inf: its backward forms
    ``g - y · sum(g)`` from an infinite ``g``, so those rows are no oracle for an infinite dout.)"""
    spec = REGISTRY["softmax_with_loss"]
    fwd, bwd = ctx.impl.get(spec.forward_name), ctx.impl.get(spec.backward_name)
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        for kind in ("index", "onehot"):
            variant = next(v for v in spec.variants if v.label == f"t={kind}")
            labels = ctx.rng.integers(5, size=16)
            x = cast(ctx.rng.standard_normal((16, 5)) + 1000 * np.eye(5)[labels], dt)
            inputs = {"x": x, "t": labels if kind == "index" else cast(np.eye(5)[labels], dt)}
            _, cache = fwd(inputs["x"], inputs["t"])
            for sign in (1.0, -1.0):
                dout = cast(np.array(sign * np.inf), dt)
                want = torch_grads(spec, variant, inputs, {"out": dout})["x"]
                ctx.compare("dx", bwd(cache, dout)["dx"], want, dt, spec.tol(dt), {**inputs, "dout": dout},
                            oracle=f"torch autograd, dout {sign * np.inf}, saturated at the target (t={kind})")


def _loss_sample(rng, dtype, shape, fam, variant, hints):
    x = FAMILIES[fam](rng, shape, dtype, hints)
    return {"x": x, "t": class_targets(rng, variant.sampling["target"], shape, dtype)}


register(
    OpSpec(
        name="softmax_with_loss",
        inputs=("x", "t"),
        grads=("x",),
        torch_fn=lambda x, t: F.cross_entropy(x, t),
        sample=_loss_sample,
        shapes=((1, 5), (0, 5), (4, 3), (7, 1), (16, 10), (64, 33)),
        families=LOGITS,
        variants=tuple(Variant(f"t={k}", sampling={"target": k}) for k in ("index", "onehot", "soft", "prob")),
        class_axis=1,
        reduces=True,
        bad_inputs=LABEL_BAD
        + (
            BadInput("rows_sum", target_call(np.full((4, 3), 0.5)), ValueError, "row 0 sums to 1.5"),
            # One row off by 13.5 float64 ULPs of 1: beyond the 4 * C ULPs of rounding the check allows (C = 3).
            BadInput("rows_sum_tight", target_call([[0.5, 0.5, 13.5 * 2.0**-52]] + [[0.25, 0.25, 0.5]] * 3), ValueError,
                     r"row 0 sums to 1\.00000000000000[0-9]+$"),
            BadInput("x_3d", target_call([[0, 1], [2, 0]], x_shape=(2, 3, 2)), ValueError,
                     r"expected logits of shape \(N, C\), got \(2, 3, 2\)"),
            # Without ignore_index the message has no ignore_index clause (docs/mutation.md).
            BadInput("label_message", target_call([0, 1, 3, 2]), ValueError,
                     r"labels must be in \[0, 3\) for 3 classes, got 3 at position 2$"),
            # A probability target that is not floating, or not of the logits' dtype (docs/mutation.md).
            BadInput("target_bool", target_call(np.ones((4, 3), bool)), TypeError, r"\btarget\b.*floating"),
            BadInput("target_dtype", target_call(np.full((4, 3), 0.25, np.float32)), TypeError,
                     "probability target has dtype float32, but the input has dtype float64"),
        ),
        relations=(ShiftInvariance(),),
        properties=(
            Property("rows_sum_edge", _rows_sum_edge, _rows_sum_edge.__doc__ or ""),
            Property("saturated_infinite_dout", _saturated_infinite_dout, "an infinite dout on rows one-hot at the "
                     "target: NaN as torch's, warning-free"),
        ),
        highprec=hp.class_loss(wrt=("x",)),
        doc="the seed's combined layer; backward dout * (y · sum(t) - t) / N (y - t for rows summing to 1)",
    )
)
