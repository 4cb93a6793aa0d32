"""Registry entries for im2col/col2im, conv1d, conv2d and conv_transpose2d (issue 4)."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from harness import highprec_ops as hp
from harness.checks import BITWISE
from harness.dtypes import DTYPES, to_numpy, to_torch
from harness.metamorphic import per_sample
from harness.registry import BadInput, OpSpec, Property, Variant, register
from harness.values import FAMILIES, cast

CONV_FAMILIES = ("normal", "wide", "subnormal", "nonfinite")


def _weights(rng, dtype, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """Weights at the usual 1/sqrt(fan_in) scale (the input carries the case's value family)."""
    return cast(rng.standard_normal(shape) / math.sqrt(max(fan_in, 1)), dtype)


def _max_one_sign(op: str, torch_fn, shapes: dict[str, tuple[int, ...]], **options) -> Property:
    """Every input and ``dout`` at the dtype's largest finite value (a weight ``W`` at 1, no bias): where
    windows overlap, the sums overflow to inf whatever their order, as in torch, and without a warning;
    where they do not, the value stays finite. Values and gradients bitwise, in every dtype."""

    def check(ctx) -> None:
        for dt in DTYPES.values():
            big = float(dt.finfo.max)
            xs = {n: np.full(shape, 1.0 if n == "W" else big, dt.np) for n, shape in shapes.items()}
            _bitwise(ctx, op, torch_fn, xs, lambda out, big=big, dt=dt: np.full(out.shape, big, dt.np), options, dt,
                     "inputs and dout at max")

    return Property("max_one_sign", check, "inputs and dout at max: overlapping windows sum to inf, as torch")


def _bitwise(ctx, op: str, torch_fn, xs: dict[str, np.ndarray], dout_for, options: dict, dt, what: str) -> None:
    """Forward on ``xs`` and backward on ``dout_for(out)``: out and every gradient bitwise torch's."""
    out, cache = ctx.impl.get(f"{op}_forward")(*xs.values(), **options)
    dout = dout_for(out)
    grads = ctx.impl.get(f"{op}_backward")(cache, dout)
    ts = [to_torch(a, requires_grad=True) for a in xs.values()]
    t_out = torch_fn(*ts, **options)
    t_grads = torch.autograd.grad(t_out, ts, to_torch(dout))
    ctx.compare("out", out, to_numpy(t_out), dt, BITWISE, xs, oracle=f"torch ({what})")
    for n, t in zip(xs, t_grads, strict=True):
        ctx.compare(f"d{n}", grads[f"d{n}"], to_numpy(t), dt, BITWISE, {**xs, "dout": dout},
                    oracle=f"torch autograd ({what})")


def _mixed_sign(op: str, torch_fn, shapes: dict[str, tuple[int, ...]], spread: str, at_max: tuple[str, ...],
                **options) -> Property:
    """Terms at ±max added into one cell in torch's order (kernel offsets in row-major order): offsets
    (0, 0), (0, 1), (0, 2) bring ``[max, max, -max]``, the others 0, so a cell's running sum overflows to
    inf at the second term and stays inf, where a float64 accumulator rounded at the end would give max.
    ``spread`` holds the pattern: im2col's ``dout`` or col2im's ``cols`` (by kernel offset), or a conv's
    ``W`` (``[1, 1, -1]`` along the first kernel row of one channel pair, the rest 0); the arrays named in
    ``at_max`` (``dout`` included) are at max, the others 0, so every other sum is exact in any order.
    Values and gradients bitwise torch's in bfloat16, float32 and float64; float16 is left out: torch
    adds float16 terms in float16 (inf at max + max), the reference in float32."""

    def by_offset(shape: tuple[int, ...], big: float) -> np.ndarray:  # (N, C * 9, L), offsets inside channels
        row = np.zeros(9)
        row[:3] = [big, big, -big]
        return np.broadcast_to(row[:, None], (shape[0], shape[1] // 9, 9, shape[2])).reshape(shape)

    def check(ctx) -> None:
        for dt in (DTYPES["bfloat16"], DTYPES["float32"], DTYPES["float64"]):
            big = float(dt.finfo.max)
            xs = {n: np.full(shape, big if n in at_max else 0.0) for n, shape in shapes.items()}
            if spread == "cols":
                xs["cols"] = by_offset(shapes["cols"], big)
            elif spread == "W":
                xs["W"] = np.zeros(shapes["W"])
                xs["W"][(0, slice(None)) + (0,) * (len(shapes["W"]) - 3)] = [1.0, 1.0, -1.0]
            xs = {n: a.astype(dt.np) for n, a in xs.items()}
            fill = big if "dout" in at_max else 0.0

            def dout_for(out, big=big, fill=fill, dt=dt):
                return (by_offset(out.shape, big) if spread == "dout" else np.full(out.shape, fill)).astype(dt.np)

            _bitwise(ctx, op, torch_fn, xs, dout_for, options, dt, "±max in kernel-offset order")

    return Property("mixed_sign", check, "terms [max, max, -max] into one cell in torch's order: inf, as torch")


# -- im2col / col2im -----------------------------------------------------------------------------------

UNFOLD = (
    Variant("k=3", {"kernel_size": 3}),
    Variant("k=(2,3),stride=2,padding=1,dilation=(1,2)",
            {"kernel_size": (2, 3), "stride": 2, "padding": 1, "dilation": (1, 2)}),
    Variant("k=3,padding=(2,1)", {"kernel_size": 3, "padding": (2, 1)}),  # more padding along H than along W
)
FOLD_SIZE = (7, 6)


def _blocks(variant: Variant, size: tuple[int, int]) -> int:
    o = variant.options
    k = o["kernel_size"] if isinstance(o["kernel_size"], tuple) else (o["kernel_size"],) * 2
    d = o.get("dilation", 1)
    d = d if isinstance(d, tuple) else (d, d)
    s, p = o.get("stride", 1), o.get("padding", 0)
    p = p if isinstance(p, tuple) else (p, p)
    return math.prod((n + 2 * pi - di * (ki - 1) - 1) // s + 1 for n, ki, di, pi in zip(size, k, d, p, strict=True))


def _kk(variant: Variant) -> int:
    k = variant.options["kernel_size"]
    return math.prod(k) if isinstance(k, tuple) else k * k


register(
    OpSpec(
        name="im2col",
        inputs=("x",),
        grads=("x",),
        torch_fn=F.unfold,
        sample=lambda rng, dtype, shape, fam, variant, hints: {"x": FAMILIES[fam](rng, shape, dtype, hints)},
        shapes=((2, 3, 7, 6), (1, 2, 4, 5), (0, 3, 7, 6)),
        families=("normal", "nonfinite"),
        variants=UNFOLD,
        reduces=True,  # backward adds overlapping windows
        bad_inputs=(
            BadInput("x_3d", lambda rng: ((np.ones((3, 7, 6)), 3), {}), ValueError, r"\(N, C, H, W\)"),
            BadInput("too_small", lambda rng: ((np.ones((1, 1, 2, 2)), 3), {}), ValueError, "output size"),
            BadInput("stride_0", lambda rng: ((np.ones((1, 1, 4, 4)), 2), {"stride": 0}), ValueError,
                     r"\bstride must be at least 1"),
            BadInput("kernel_0", lambda rng: ((np.ones((1, 1, 4, 4)), 0), {}), ValueError,
                     r"\bkernel_size must be at least 1"),
            BadInput("padding_negative", lambda rng: ((np.ones((1, 1, 4, 4)), 2), {"padding": -1}), ValueError,
                     r"\bpadding must be at least 0"),
            BadInput("dilation_0", lambda rng: ((np.ones((1, 1, 4, 4)), 2), {"dilation": 0}), ValueError,
                     r"\bdilation must be at least 1"),
        ),
        properties=(
            _max_one_sign("im2col", F.unfold, {"x": (2, 3, 7, 6)}, kernel_size=3),
            _mixed_sign("im2col", F.unfold, {"x": (2, 3, 7, 6)}, "dout", ("x",), kernel_size=3),
        ),
        doc="F.unfold: kernel, stride, padding, dilation; backward sums overlapping windows (col2im)",
        highprec=hp.im2col,
    )
)


def _fold_shapes() -> tuple[tuple[int, ...], ...]:
    return tuple((n, c * _kk(v), _blocks(v, FOLD_SIZE)) for v in UNFOLD for n, c in ((2, 3), (1, 1), (0, 2)))


register(
    OpSpec(
        name="col2im",
        inputs=("cols",),
        grads=("cols",),
        torch_fn=F.fold,
        sample=lambda rng, dtype, shape, fam, variant, hints: {"cols": FAMILIES[fam](rng, shape, dtype, hints)},
        shapes=_fold_shapes(),
        families=("normal", "wide", "nonfinite"),
        variants=tuple(Variant(v.label, {"output_size": FOLD_SIZE, **v.options}) for v in UNFOLD),
        applies=lambda variant, shape: shape[2] == _blocks(variant, FOLD_SIZE) and shape[1] % _kk(variant) == 0,
        reduces=True,
        magnitude=True,
        bad_inputs=(
            BadInput("blocks", lambda rng: ((np.ones((1, 9, 5)), (5, 6), 3), {}), ValueError,
                     r"\(N, C \* 9, 12\) .* \(3 x 4 blocks\)"),
            BadInput("cols_2d", lambda rng: ((np.ones((9, 12)), (5, 6), 3), {}), ValueError, r"\(9, 12\)"),
            BadInput("output_size_0", lambda rng: ((np.ones((1, 9, 12)), (0, 6), 3), {}), ValueError,
                     r"\boutput_size must be at least 1"),
            BadInput("stride_0", lambda rng: ((np.ones((1, 9, 12)), (5, 6), 3), {"stride": 0}), ValueError,
                     r"\bstride must be at least 1"),
        ),
        properties=(
            _max_one_sign("col2im", F.fold, {"cols": (2, 27, 20)}, output_size=FOLD_SIZE, kernel_size=3),
            _mixed_sign("col2im", F.fold, {"cols": (2, 27, 20)}, "cols", ("dout",), output_size=FOLD_SIZE,
                        kernel_size=3),
        ),
        doc="F.fold: the adjoint of im2col, summing where windows overlap",
        highprec=hp.col2im,
    )
)


# -- conv2d / conv1d -------------------------------------------------------------------------------------

def _conv_sample(spatial: int):
    """x from the family; W (C_out, C_in / groups, *kernel) and an optional bias, from the variant's
    ``sampling``: kernel (default 3), out (C_out, default 6), bias (default True)."""

    def sample(rng, dtype, shape, fam, variant, hints):
        groups = variant.options.get("groups", 1)
        kernel = variant.sampling.get("kernel", (3,) * spatial)
        c_out = variant.sampling.get("out", 6)
        w_shape = (c_out, shape[1] // groups, *kernel)
        w = _weights(rng, dtype, w_shape, math.prod(w_shape[1:]))
        arrays = {"x": FAMILIES[fam](rng, shape, dtype, hints), "W": w}
        if variant.sampling.get("bias", True):
            arrays["b"] = cast(rng.standard_normal(c_out), dtype)
        return arrays

    return sample


CONV2D = (
    Variant(),
    Variant("stride=2,padding=1", {"stride": 2, "padding": 1}),
    Variant("padding=same", {"padding": "same"}),
    # total padding 1 along H (odd: the extra row goes after, as torch) and 6 along W (dilated)
    Variant("padding=same,k=(2,4),dilation=(1,2)", {"padding": "same", "dilation": (1, 2)}, {"kernel": (2, 4)}),
    Variant("padding=valid,no_bias", {"padding": "valid"}, {"bias": False}),
    Variant("dilation=2,padding=(2,1)", {"dilation": 2, "padding": (2, 1)}),
    Variant("groups=2", {"groups": 2}),
    Variant("depthwise", {"groups": 4, "padding": 1}, {"out": 8}),
    Variant("k=(3,2),stride=(2,1),padding=(1,0)", {"stride": (2, 1), "padding": (1, 0)}, {"kernel": (3, 2)}),
)
CONV1D = (
    Variant(),
    Variant("stride=(2,),padding=(1,)", {"stride": (2,), "padding": (1,)}),  # one-element tuples, as torch takes
    Variant("padding=same,dilation=(2,)", {"padding": "same", "dilation": (2,)}),
    Variant("padding=same,k=4", {"padding": "same"}, {"kernel": (4,)}),  # total 3: the odd one goes after
    Variant("groups=2,no_bias", {"groups": 2}, {"bias": False}),
    Variant("depthwise,k=4", {"groups": 4}, {"out": 4, "kernel": (4,)}),
)


def _conv_call(x_shape, w_shape, b=True, w_dtype=np.float64, **options):
    def build(rng):
        arrays = {"b": np.ones(w_shape[0], w_dtype)} if b else {}
        return (np.ones(x_shape), np.ones(w_shape, w_dtype)), {**arrays, **options}

    return build


def _conv_bad(op: str, x: tuple, w: tuple) -> tuple[BadInput, ...]:
    """Invalid configurations; ``x``/``w`` valid shapes with 4 input channels and a kernel of 3."""
    return (
        BadInput("groups", _conv_call(x, (6, 2) + w[2:], groups=3), ValueError, "divisible by groups 3"),
        BadInput("channels", _conv_call(x, (6, 3) + w[2:]), ValueError, r"expects 3 input channels"),
        BadInput("too_small", _conv_call(x[:2] + (2,) * (len(x) - 2), w), ValueError, "output size"),
        BadInput("same_strided", _conv_call(x, w, padding="same", stride=2), ValueError, "strided"),
        BadInput("padding_word", _conv_call(x, w, padding="full"), ValueError, "'full'"),
        BadInput("bias_size", lambda rng: ((np.ones(x), np.ones(w)), {"b": np.ones(5)}), ValueError, r"\(6,\)"),
        BadInput("dtype_mix", _conv_call(x, w, w_dtype=np.float32), TypeError, "float32"),
        BadInput("W_int64", _conv_call(x, w, b=False, w_dtype=np.int64), TypeError, r"\bW must be a floating"),
        BadInput("b_int64", lambda rng: ((np.ones(x), np.ones(w)), {"b": np.ones(w[0], np.int64)}), TypeError,
                 r"\bb must be a floating"),
        BadInput("W_dtype", lambda rng: ((np.ones(x), np.ones(w, np.float32)), {"b": np.ones(w[0])}), TypeError,
                 r"\bW: float32"),
        BadInput("b_dtype", lambda rng: ((np.ones(x), np.ones(w)), {"b": np.ones(w[0], np.float32)}), TypeError,
                 r"\bb: float32"),
        BadInput("stride_float", _conv_call(x, w, stride=(2.0,) * (len(x) - 2)), ValueError,
                 r"\bstride must be an int or 2 ints"),
        BadInput("stride_0", _conv_call(x, w, stride=0), ValueError, r"\bstride must be at least 1"),
        BadInput("dilation_0", _conv_call(x, w, dilation=0), ValueError, r"\bdilation must be at least 1"),
        BadInput("padding_negative", _conv_call(x, w, padding=-1), ValueError, r"\bpadding must be at least 0"),
        BadInput("groups_0", _conv_call(x, w, groups=0), ValueError, "groups must be a positive int, got 0"),
        BadInput("groups_float", _conv_call(x, w, groups=2.0), ValueError, "groups must be a positive int, got 2.0"),
        BadInput("x_unbatched", _conv_call(x[1:], w), ValueError,
                 r"expected x \(N, C, " + ("H, W" if len(x) == 4 else "L")),
    )


# Checked on a (1, 1, 3, 3) image, padding 1, dout inf at one position: torch's float64 kernel gives NaN in dW where
# the padding's zeros meet the inf (IEEE 0 * inf, the reference's result too), its float32 kernel skips the padded
# positions in some geometries (stride 2 here) and gives ±inf.
PADDED_INFINITE_DOUT = (
    "torch's float32 kernel leaves padded positions out of dW's sums in some geometries (±inf) where its "
    "float64 kernel and the reference multiply the padding's zeros by an infinite dout (NaN)"
)
FINITE_DOUT = {"conv2d": {"stride=2,padding=1": PADDED_INFINITE_DOUT}}  # the geometry where it shows


def _torch_conv(fn, x, W, b=None, **options):
    with warnings.catch_warnings():  # torch's note that an even 'same' padding may copy the input
        warnings.filterwarnings("ignore", "Using padding='same'", UserWarning)
        return fn(x, W, b, **options)


for _name, _fn, _shapes, _variants, _w in (
    ("conv2d", F.conv2d, ((2, 4, 7, 6), (1, 4, 4, 4), (0, 4, 5, 5)), CONV2D, (6, 4, 3, 3)),
    ("conv1d", F.conv1d, ((2, 4, 9), (1, 4, 5), (3, 4, 16)), CONV1D, (6, 4, 3)),
):
    register(
        OpSpec(
            name=_name,
            inputs=("x", "W"),
            grads=("x", "W", "b"),
            torch_fn=functools.partial(_torch_conv, _fn),
            sample=_conv_sample(len(_shapes[0]) - 2),
            shapes=_shapes,
            families=CONV_FAMILIES,
            variants=_variants,
            reduces=True,
            magnitude=True,
            fd_max_size=64,
            bad_inputs=_conv_bad(_name, _shapes[0], _w),
            relations=(per_sample("x", "out"),),
            finite_dout=FINITE_DOUT.get(_name, {}),
            doc=f"F.{_name}: stride, padding (int, tuple, 'same', 'valid'), dilation, groups, optional bias",
            highprec=hp.conv,
            properties=(
                _max_one_sign(_name, _fn, {"x": _shapes[0], "W": _w}),
                _mixed_sign(_name, _fn, {"x": _shapes[0], "W": _w}, "W", ("dout",)),
            ),
        )
    )


# -- conv_transpose2d ------------------------------------------------------------------------------------

def _transpose_sample(rng, dtype, shape, fam, variant, hints):
    groups = variant.options.get("groups", 1)
    kernel, c_out = variant.sampling.get("kernel", (3, 3)), variant.sampling.get("out", 6)
    w_shape = (shape[1], c_out // groups, *kernel)
    arrays = {"x": FAMILIES[fam](rng, shape, dtype, hints), "W": _weights(rng, dtype, w_shape, shape[1])}
    if variant.sampling.get("bias", True):
        arrays["b"] = cast(rng.standard_normal(c_out), dtype)
    return arrays


CONV_TRANSPOSE = (
    Variant(),
    Variant("stride=2,padding=1,output_padding=1", {"stride": 2, "padding": 1, "output_padding": 1}),
    Variant("groups=2,no_bias", {"groups": 2}, {"bias": False}),
    Variant("dilation=2,stride=3,output_padding=(1,0)", {"dilation": 2, "stride": 3, "output_padding": (1, 0)}),
    Variant("k=(2,3),stride=(1,2),padding=(0,1)", {"stride": (1, 2), "padding": (0, 1)}, {"kernel": (2, 3)}),
    Variant("padding=(2,0)", {"padding": (2, 0)}),  # output height 1 from an input of height 3
)

register(
    OpSpec(
        name="conv_transpose2d",
        inputs=("x", "W"),
        grads=("x", "W", "b"),
        torch_fn=lambda x, W, b=None, **options: F.conv_transpose2d(x, W, b, **options),
        sample=_transpose_sample,
        shapes=((2, 4, 4, 5), (1, 4, 3, 3), (0, 4, 3, 3)),
        families=CONV_FAMILIES,
        variants=CONV_TRANSPOSE,
        relations=(per_sample("x", "out"),),
        reduces=True,
        magnitude=True,
        bad_inputs=(
            BadInput("output_padding", _conv_call((1, 4, 3, 3), (4, 2, 3, 3), b=False, output_padding=1), ValueError,
                     "smaller than either stride"),
            BadInput("channels", _conv_call((1, 4, 3, 3), (3, 2, 3, 3), b=False), ValueError, "expects 3 input"),
            BadInput("groups", _conv_call((1, 4, 3, 3), (4, 2, 3, 3), b=False, groups=3), ValueError, "groups 3"),
            BadInput("too_small", _conv_call((1, 4, 1, 1), (4, 2, 1, 1), b=False, padding=1), ValueError,
                     "output size"),
            BadInput("bias_size", lambda rng: ((np.ones((1, 4, 3, 3)), np.ones((4, 2, 3, 3))), {"b": np.ones(5)}),
                     ValueError, r"b must have shape \(2,\)"),
            BadInput("stride_0", _conv_call((1, 4, 3, 3), (4, 2, 3, 3), b=False, stride=0), ValueError,
                     r"\bstride must be at least 1"),
            BadInput("dilation_0", _conv_call((1, 4, 3, 3), (4, 2, 3, 3), b=False, dilation=0), ValueError,
                     r"\bdilation must be at least 1"),
            BadInput("padding_negative", _conv_call((1, 4, 3, 3), (4, 2, 3, 3), b=False, padding=-1), ValueError,
                     r"\bpadding must be at least 0"),
            BadInput("output_padding_negative", _conv_call((1, 4, 3, 3), (4, 2, 3, 3), b=False, output_padding=-1),
                     ValueError, r"\boutput_padding must be at least 0"),
        ),
        properties=(
            _max_one_sign("conv_transpose2d", F.conv_transpose2d, {"x": (2, 4, 4, 5), "W": (4, 6, 3, 3)}),
            _mixed_sign("conv_transpose2d", F.conv_transpose2d, {"x": (2, 4, 4, 5), "W": (4, 6, 3, 3)}, "W", ("x",)),
        ),
        doc="F.conv_transpose2d: stride, padding, output_padding, dilation, groups; W (C_in, C_out / groups, kH, kW)",
    )
)
