"""Registry entries for pooling (issue 4): max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool2d and
adaptive_max_pool2d, on (N, C, L) and (N, C, H, W) inputs, and without the batch dimension.

torch runs all of them on CPU in float16, bfloat16, float32 and float64 (probed), so every entry
runs every dtype. Each variant runs on the shapes listed for it (``_only``): the first variant on a
batch, an unbatched input and an empty batch, the others on one shape chosen so that its options
matter, e.g. ``ceil_mode`` both adding a last window and dropping one that would start in the right
padding.

Value families:
- max pools: ``normal``; ``ties`` (values in {-1, 0, 1}: the first maximum of a window wins and gets
  the gradient); ``zeros`` (±0.0: every window ties, the max keeps the first zero's sign);
  ``nonfinite`` (NaN, ±inf, and one whole plane -inf: a NaN wins its window, the last one of several;
  an all -inf window returns its first valid cell). ``wide`` adds nothing to an exact op.
- average pools: ``normal``, ``wide`` (rounding of the sums), ``ties`` (small integers: exact sums,
  so the divisor's rounding shows), ``nonfinite``. Zero signs are free (``reduces``).
The ``smooth`` family (finite differences) draws continuous normals: a window's maximum is then
unique by much more than the difference step (1e-6) unless two draws nearly coincide, which the
fixed seeds of these small shapes do not produce, so the max pools are differentiable there.

``return_indices`` changes the number of outputs, which is fixed per entry (``outputs``): the max
pool entries run with ``return_indices=True``; the ``without_indices`` property checks the single
output form against torch for every variant's options (for max_pool1d that is torch's separate
no-indices kernel).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness import highprec_ops as hp
from harness.checks import BITWISE
from harness.dtypes import DTYPES, to_numpy, to_torch
from harness.metamorphic import per_sample
from harness.registry import BadInput, OpSpec, Property, Variant, register
from harness.values import FAMILIES, Hints

MAX_FAMILIES = ("normal", "ties", "zeros", "nonfinite")
AVG_FAMILIES = ("normal", "wide", "ties", "nonfinite")
FD_MAX_SIZE = 120  # the (2, 2, 6, 5) shape of the option variants: 240 forward calls per gradcheck


def _only(table: dict[str, tuple[tuple[int, ...], ...]]):
    """``applies``: each variant runs on the shapes listed for it."""
    return lambda variant, shape: shape in table[variant.label]


def _shapes(table: dict[str, tuple[tuple[int, ...], ...]]) -> tuple[tuple[int, ...], ...]:
    return tuple(dict.fromkeys(s for shapes in table.values() for s in shapes))


def _variants(table: dict[str, tuple[dict, tuple[tuple[int, ...], ...]]]) -> tuple[tuple[Variant, ...], dict]:
    """Variants from ``{label: (options, shapes)}`` and the ``{label: shapes}`` table for ``_only``."""
    return (
        tuple(Variant(label, options) for label, (options, _) in table.items()),
        {label: shapes for label, (_, shapes) in table.items()},
    )


def _sample(rng, dtype, shape, fam, variant, hints):
    x = FAMILIES[fam](rng, shape, dtype, hints)
    if fam == "nonfinite" and x.size:
        x[(0,) * (x.ndim - 2)] = -np.inf  # one whole plane -inf: windows with no finite value
    return {"x": x}


def _call(shape, **options):
    return lambda rng: ((np.ones(shape),), options)


def _bad(shape, options, error, match, label):
    return BadInput(label, _call(shape, **options), error, match)


# -- properties shared by the max pools ------------------------------------------------------------

def _special_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Float64 inputs where the winner rule shows: ties, signed zeros, NaN runs, all -inf."""
    nan, inf = np.nan, np.inf
    runs = rng.choice([nan, nan, 1.0, 3.0, inf, -inf], size=shape)  # windows with several NaN
    return {
        "ties": rng.integers(-1, 2, size=shape).astype(np.float64),
        "zeros": rng.choice([0.0, -0.0], size=shape),
        "nan_runs": runs,
        "all_neginf": np.full(shape, -inf),
        "equal": np.full(shape, 2.0),
    }


def _torch_indices(op: str, variants: tuple[Variant, ...], table: dict, torch_fn):
    """Winners by torch's rule, exactly: values (with the sign of zeros) and indices bitwise, in every
    dtype, on inputs made of ties, signed zeros, NaN runs and -inf. (The generic forward compares
    indices within the dtype's tolerance, which in bfloat16 would let an index be off by one.)"""

    def check(ctx) -> None:
        fwd = ctx.impl.get(f"{op}_forward")
        for var in variants:
            shape = table[var.label][0]
            for name, values in _special_inputs(ctx.rng, shape).items():
                for dt in DTYPES.values():
                    x = values.astype(dt.np)
                    (out, idx), _ = fwd(x, **var.options)
                    with torch.no_grad():
                        t_out, t_idx = torch_fn(to_torch(x), **var.options)
                    where = f"{var.label}, {name}"
                    ctx.compare("out", out, to_numpy(t_out), dt, BITWISE, {"x": x}, oracle=f"torch ({where})")
                    ctx.compare("indices", idx, to_numpy(t_idx), dt, BITWISE, {"x": x}, oracle=f"torch ({where})")

    return Property("torch_indices", check, "ties, signed zeros, NaN runs and -inf: values and indices bitwise")


def _autograd(torch_fn, x: np.ndarray, dout: np.ndarray, options: dict) -> np.ndarray:
    xt = to_torch(x, requires_grad=True)
    return to_numpy(torch.autograd.grad(torch_fn(xt, **options), xt, to_torch(dout))[0])


def _without_indices(op: str, variants: tuple[Variant, ...], table: dict, torch_fn, families: tuple[str, ...]):
    """``return_indices`` at its default (False): one output, bitwise torch's (no-grad kernel), and the
    same gradient as torch autograd (float64 arbiter in low precision), for every variant's options."""

    def one(ctx, x: np.ndarray, options: dict, where: str) -> None:
        dt = DTYPES[x.dtype.name]
        out, cache = ctx.impl.get(f"{op}_forward")(x, **options)
        with torch.no_grad():
            want = to_numpy(torch_fn(to_torch(x), **options))
        ctx.compare("out", out, want, dt, BITWISE, {"x": x}, oracle=f"torch ({where})")
        dout = FAMILIES["normal"](ctx.rng, want.shape, dt, Hints())
        ctx.compare(
            "dx", ctx.impl.get(f"{op}_backward")(cache, dout)["dx"], _autograd(torch_fn, x, dout, options), dt,
            dt.default_tol, {"x": x, "dout": dout}, oracle=f"torch autograd ({where})",
            reference64=lambda: _autograd(torch_fn, x.astype(np.float64), dout.astype(np.float64), options),
        )

    def check(ctx) -> None:
        for var in variants:
            options = {k: v for k, v in var.options.items() if k != "return_indices"}
            for shape in table[var.label]:
                for dt in DTYPES.values():
                    for fam in families:
                        x = _sample(ctx.rng, dt, shape, fam, var, Hints())["x"]
                        one(ctx, x, options, f"{var.label}, default return_indices, {fam}")

    return Property(
        "without_indices", check, "return_indices at its default (False): out bitwise torch's, dx as torch autograd"
    )


def _entry(op, torch_fn, table, bad, doc, **fields):
    """One pooling entry: the table's variants, each on its own shapes; ``fields`` add the rest."""
    variants, shapes = _variants(table)
    register(
        OpSpec(
            name=op, inputs=("x",), grads=("x",), torch_fn=torch_fn, sample=_sample, shapes=_shapes(shapes),
            variants=variants, applies=_only(shapes), fd_max_size=FD_MAX_SIZE, bad_inputs=bad, doc=doc,
            relations=(per_sample("x", "out"),), **fields,
        )
    )


def _max_dout(op: str, variants: tuple[Variant, ...], table: dict, torch_fn):
    """``dout`` at the dtype's largest finite value: a cell in several windows adds their terms
    ``dout / divisor`` in the dtype and overflows to inf exactly where torch's kernel does (float16,
    stride 1), without a warning. Then ``dout`` at ±max with random signs: a cell's running sum may
    overflow and a later term of the other sign cannot bring it back (max + max - max is inf in float32
    added in torch's order, max if accumulated in float64). Gradients bitwise, for every variant, in
    every dtype."""

    def check(ctx) -> None:
        for var in variants:
            for dt in DTYPES.values():
                x = _sample(ctx.rng, dt, table[var.label][0], "normal", var, Hints())["x"]
                out, cache = ctx.impl.get(f"{op}_forward")(x, **var.options)
                big = float(dt.finfo.max)
                signed = ctx.rng.choice([-1.0, 1.0], out.shape)
                for signs, sign in (("at max", np.ones(out.shape)), ("at ±max", signed)):
                    dout = (big * sign).astype(dt.np)
                    ctx.compare("dx", ctx.impl.get(f"{op}_backward")(cache, dout)["dx"],
                                _autograd(torch_fn, x, dout, var.options), dt, BITWISE, {"x": x, "dout": dout},
                                oracle=f"torch autograd ({var.label}, dout {signs})")

    return Property("max_dout", check, "dout at max and at ±max: overlapping windows overflow as in torch, bitwise")


def _rounded_terms(op: str, variants: tuple[Variant, ...], table: dict, torch_fn):
    """``dout`` from the normal and wide families: every term ``dout / divisor`` (an adaptive window's
    ``dout / kh / kw``, rounded after each division) is rounded to the dtype and added in torch's
    order, rounding after every addition, so gradients are torch's bit for bit in every dtype, for
    every variant (the generic backward compares them within the tolerance only)."""

    def check(ctx) -> None:
        for var in variants:
            for dt in DTYPES.values():
                x = _sample(ctx.rng, dt, table[var.label][0], "normal", var, Hints())["x"]
                out, cache = ctx.impl.get(f"{op}_forward")(x, **var.options)
                for fam in ("normal", "wide"):
                    dout = FAMILIES[fam](ctx.rng, out.shape, dt, Hints())
                    ctx.compare("dx", ctx.impl.get(f"{op}_backward")(cache, dout)["dx"],
                                _autograd(torch_fn, x, dout, var.options), dt, BITWISE, {"x": x, "dout": dout},
                                oracle=f"torch autograd ({var.label}, {fam} dout)")

    return Property("rounded_terms", check, "normal and wide dout: gradients bitwise torch's (rounded terms, in order)")


def _exact_sums(op: str, variants: tuple[Variant, ...], table: dict, torch_fn):
    """Integers in [-8, 8]: every window sum is exact in any order, so the quotient's rounding (``sum /
    divisor``; an adaptive window's ``sum / kh / kw``, rounded after each division; the global mean's
    one division by H * W) is compared with torch's bitwise, for every variant, in every dtype (the
    generic forward compares sums within the tolerance only)."""

    def check(ctx) -> None:
        for var in variants:
            for dt in DTYPES.values():
                x = ctx.rng.integers(-8, 9, size=table[var.label][0]).astype(dt.np)
                out, _ = ctx.impl.get(f"{op}_forward")(x, **var.options)
                with torch.no_grad():
                    want = to_numpy(torch_fn(to_torch(x), **var.options))
                ctx.compare("out", out, want, dt, BITWISE, {"x": x}, oracle=f"torch ({var.label}, integer x)")

    return Property("exact_sums", check, "integer x: exact window sums, quotients bitwise torch's")


def _double_rounding(op: str, shape: tuple[int, ...], **options):
    """A float16 window summing to 8197 + 2**-10 (8192, 4 and 1 + 2**-10: exact in float32) over 8193 cells
    (a kernel or an adaptive window of 8193) or by ``divisor_override=8193``: the float32 quotient (the
    adaptive one after the exact division by a height of 1) is 1 + 2**-11, the float16
    midpoint, which rounds to even (1.0) as torch's float32 sum and division do; the quotient rounded
    once from float64 is 1 + 2**-10. Bitwise."""

    def check(ctx) -> None:
        dt = DTYPES["float16"]
        x = np.zeros(shape, dt.np)
        x.flat[:3] = [8192.0, 4.0, 1.0 + 2.0**-10]
        out, _ = ctx.impl.get(f"{op}_forward")(x, **options)
        with torch.no_grad():
            want = to_numpy(getattr(F, op)(to_torch(x), **options))
        ctx.compare("out", out, want, dt, BITWISE, {"x": x}, oracle=f"torch ({options})")

    return Property("double_rounding", check, "float16 quotient rounded to float32 first, then to float16, as torch")


def _long_windows(op: str, torch_fn, **options):
    """Windows longer than the dtype counts exactly (float16 2049 and 4099 rows, bfloat16 257): torch
    converts an adaptive window's length to the dtype before dividing (2049 -> 2048, 257 -> 256), so
    ``dout / kh / kw`` is not the exact quotient rounded. Normal x and dout, dx bitwise torch's."""

    def check(ctx) -> None:
        for dt_name, rows in (("float16", 2049), ("float16", 4099), ("bfloat16", 257)):
            dt = DTYPES[dt_name]
            x = FAMILIES["normal"](ctx.rng, (1, 2, rows, 3), dt, Hints())
            out, cache = ctx.impl.get(f"{op}_forward")(x, **options)
            dout = FAMILIES["normal"](ctx.rng, out.shape, dt, Hints())
            ctx.compare("dx", ctx.impl.get(f"{op}_backward")(cache, dout)["dx"], _autograd(torch_fn, x, dout, options),
                        dt, BITWISE, {"x": x}, oracle=f"torch autograd ({rows} rows, {options})")

    return Property("long_windows", check, "window lengths rounded to float16/bfloat16 before dividing, as torch")


def _max_input(op: str, variants: tuple[Variant, ...], table: dict, torch_fn):
    """``x`` at the dtype's largest finite value: a window of several cells sums past the range of its
    working dtype (float32 for float16, bfloat16 and float32) and gives inf, as torch's float32
    accumulator does, without a warning (a float64 sum divided by the window size would stay finite).
    Outputs bitwise torch's, for every variant, in every dtype."""

    def check(ctx) -> None:
        for var in variants:
            for dt in DTYPES.values():
                x = np.full(table[var.label][0], float(dt.finfo.max), dt.np)
                out, _ = ctx.impl.get(f"{op}_forward")(x, **var.options)
                with torch.no_grad():
                    want = to_numpy(torch_fn(to_torch(x), **var.options))
                ctx.compare("out", out, want, dt, BITWISE, {"x": x}, oracle=f"torch ({var.label}, x at max)")

    return Property("max_input", check, "x at max: window sums overflow their float32 accumulator, as torch")


def _max_entry(op, torch_fn, table, bad, doc, properties=()):
    variants, shapes = _variants(table)
    plain = tuple(Variant(v.label, {k: o for k, o in v.options.items() if k != "return_indices"}) for v in variants)
    _entry(
        op, torch_fn, table, bad, doc, families=MAX_FAMILIES, outputs=("out", "indices"),
        properties=(
            _torch_indices(op, variants, shapes, torch_fn),
            _without_indices(op, variants, shapes, torch_fn, ("normal", "ties", "nonfinite")),
            _max_dout(op, plain, shapes, torch_fn),
            *properties,
        ),
    )


def _long_kernel(op: str, torch_fn):
    """Kernel 257, stride 1, on a rising signal: every window's winner is near its end, kernel offset 256
    in the first one, one more than a uint8 holds (offsets are kept in the smallest type fitting k - 1).
    Values and indices bitwise torch's, dx as torch autograd bitwise, in every dtype."""

    def check(ctx) -> None:
        for dt in DTYPES.values():
            x = np.arange(260.0).reshape(1, 1, 260).astype(dt.np)
            (out, idx), cache = ctx.impl.get(f"{op}_forward")(x, 257, stride=1, return_indices=True)
            with torch.no_grad():
                t_out, t_idx = torch_fn(to_torch(x), 257, stride=1, return_indices=True)
            ctx.compare("out", out, to_numpy(t_out), dt, BITWISE, {"x": x}, oracle="torch (kernel 257)")
            ctx.compare("indices", idx, to_numpy(t_idx), dt, BITWISE, {"x": x}, oracle="torch (kernel 257)")
            dout = np.ones(out.shape, dt.np)
            ctx.compare("dx", ctx.impl.get(f"{op}_backward")(cache, dout)["dx"],
                        _autograd(lambda t: torch_fn(t, 257, stride=1), x, dout, {}), dt, BITWISE,
                        {"x": x, "dout": dout}, oracle="torch autograd (kernel 257)")

    return Property("long_kernel", check, "kernel 257: winning offsets past 255, values and indices bitwise")


# -- max_pool2d ------------------------------------------------------------------------------------

IMAGE, UNBATCHED, EMPTY, OPTIONS = (2, 3, 7, 6), (3, 5, 4), (0, 2, 4, 4), (2, 2, 6, 5)
INDICES = {"return_indices": True}

# (6, 5) with kernel 3, stride (2, 3), padding 1: ceil_mode adds a 4th row of windows that starts in
# the input, and its 3rd column would start in the right padding, so torch drops it.
MAX_POOL2D = {
    "k=2": ({"kernel_size": 2, **INDICES}, (IMAGE, UNBATCHED, EMPTY)),
    "k=3,s=2,p=1": ({"kernel_size": 3, "stride": 2, "padding": 1, **INDICES}, (OPTIONS,)),
    "k=3,s=(2,3),p=1,ceil": ({"kernel_size": 3, "stride": (2, 3), "padding": 1, "ceil_mode": True, **INDICES},
                             (OPTIONS,)),
    "k=(2,3),s=1,p=1": ({"kernel_size": (2, 3), "stride": 1, "padding": 1, **INDICES}, (OPTIONS,)),
    "k=(2,3),s=(2,1),d=(2,1),ceil": (
        {"kernel_size": (2, 3), "stride": (2, 1), "dilation": (2, 1), "ceil_mode": True, **INDICES}, (OPTIONS,)
    ),
}
_max_entry(
    "max_pool2d",
    F.max_pool2d,
    MAX_POOL2D,
    (
        _bad(IMAGE, {"kernel_size": 3, "padding": 2}, ValueError, r"padding \(2, 2\) must be at most half", "padding"),
        _bad(IMAGE, {"kernel_size": 0}, ValueError, "kernel_size must be at least 1", "kernel_zero"),
        _bad(IMAGE, {"kernel_size": 2, "stride": (1, 0)}, ValueError, "stride must be at least 1", "stride_zero"),
        _bad(IMAGE, {"kernel_size": 2, "dilation": 0}, ValueError, "dilation must be at least 1", "dilation_zero"),
        _bad(IMAGE, {"kernel_size": 2, "padding": -1}, ValueError, "padding must be at least 0", "padding_negative"),
        _bad(IMAGE, {"kernel_size": (2, 2, 2)}, ValueError, "kernel_size must be an int or 2 ints", "kernel_3d"),
        _bad(IMAGE, {"kernel_size": 8}, ValueError, "too small", "kernel_too_large"),
        _bad((7, 6), {"kernel_size": 2}, ValueError, r"\(N, C, H, W\) or \(C, H, W\), got \(7, 6\)", "x_2d"),
        _bad((2, 0, 7, 6), {"kernel_size": 2}, ValueError, "only the batch dimension may be empty", "x_empty"),
    ),
    "F.max_pool2d (with indices; see without_indices), first maximum wins, every NaN wins",
)


# -- max_pool1d ------------------------------------------------------------------------------------

SIGNAL, SIGNAL_UNBATCHED, SIGNAL_EMPTY, SIGNAL_10 = (2, 3, 9), (4, 7), (0, 2, 5), (2, 3, 10)

# Length 9 with kernel 2, stride 4, padding 1: windows leave gaps, and ceil_mode's extra window would
# start in the right padding (dropped); length 10 with kernel 3, stride 2, padding 1: ceil adds one.
MAX_POOL1D = {
    "k=2": ({"kernel_size": 2, **INDICES}, (SIGNAL, SIGNAL_UNBATCHED, SIGNAL_EMPTY)),
    "k=3,s=(2,),p=1,d=2": ({"kernel_size": 3, "stride": (2,), "padding": 1, "dilation": 2, **INDICES}, (SIGNAL,)),
    "k=2,s=4,p=1,ceil": ({"kernel_size": 2, "stride": 4, "padding": 1, "ceil_mode": True, **INDICES}, (SIGNAL,)),
    "k=3,s=2,p=1,ceil": ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, **INDICES}, (SIGNAL_10,)),
}
_max_entry(
    "max_pool1d",
    F.max_pool1d,
    MAX_POOL1D,
    (
        _bad(SIGNAL, {"kernel_size": 3, "padding": 2}, ValueError, r"padding \(2,\) must be at most half", "padding"),
        _bad(SIGNAL, {"kernel_size": 10}, ValueError, "too small", "kernel_too_large"),
        _bad(SIGNAL, {"kernel_size": (2, 2)}, ValueError, "kernel_size must be an int or 1 ints", "kernel_2d"),
        _bad((1, 2, 3, 9), {"kernel_size": 2}, ValueError, r"\(N, C, L\) or \(C, L\)", "x_4d"),
    ),
    "F.max_pool1d (with indices; see without_indices), first maximum wins, every NaN wins",
    (_long_kernel("max_pool1d", F.max_pool1d),),
)


# -- avg_pool2d / avg_pool1d -----------------------------------------------------------------------

NO_PAD_COUNT = {"count_include_pad": False}

AVG_POOL2D = {
    "k=2": ({"kernel_size": 2}, (IMAGE, UNBATCHED, EMPTY)),
    "k=3,s=2,p=1": ({"kernel_size": 3, "stride": 2, "padding": 1}, (OPTIONS,)),
    "k=3,s=2,p=1,no_pad_count": ({"kernel_size": 3, "stride": 2, "padding": 1, **NO_PAD_COUNT}, (OPTIONS,)),
    # the extra row of windows counts the padding it covers but not its overhang beyond it
    "k=3,s=(2,3),p=1,ceil": ({"kernel_size": 3, "stride": (2, 3), "padding": 1, "ceil_mode": True}, (OPTIONS,)),
    "k=(3,2),s=(2,3),p=1,ceil,no_pad_count": (
        {"kernel_size": (3, 2), "stride": (2, 3), "padding": 1, "ceil_mode": True, **NO_PAD_COUNT}, (OPTIONS,)
    ),
    "k=(2,3),p=1,divisor=7": ({"kernel_size": (2, 3), "padding": 1, "divisor_override": 7}, (OPTIONS,)),
    # -2049 is -2048 in float16 and bfloat16: torch's backward divides by the rounded divisor; a negative
    # divisor turns a zero sum into -0.0, which torch's output does not keep (see signed_zeros)
    "k=2,divisor=-2049": ({"kernel_size": 2, "divisor_override": -2049}, (OPTIONS,)),
}
AVG_POOL1D = {
    "k=2": ({"kernel_size": 2}, (SIGNAL, SIGNAL_UNBATCHED, SIGNAL_EMPTY)),
    "k=4,s=3,p=2,no_pad_count": ({"kernel_size": 4, "stride": 3, "padding": 2, **NO_PAD_COUNT}, (SIGNAL_10,)),
    "k=3,s=2,p=1,ceil": ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (SIGNAL_10,)),
    "k=2,s=4,p=1,ceil,no_pad_count": (
        {"kernel_size": 2, "stride": 4, "padding": 1, "ceil_mode": True, **NO_PAD_COUNT}, (SIGNAL,)
    ),
    "k=3,s=1,p=1": ({"kernel_size": 3, "stride": 1, "padding": 1}, (SIGNAL,)),  # every cell in three windows
}


def _signed_zeros(op: str, variants: tuple[Variant, ...], table: dict, torch_fn):
    """Inputs of ±0.0: every window sums to a zero, and torch's output is +0.0, also where all its cells
    are -0.0 or the divisor is negative (the quotient is added to a zeroed output). The sign is compared,
    which the generic forward leaves free for reductions."""

    def check(ctx) -> None:
        for var in variants:
            x64 = ctx.rng.choice([0.0, -0.0], size=table[var.label][0])
            x64[(0,) * (x64.ndim - 1)] = -0.0  # one row of -0.0 only
            for dt in DTYPES.values():
                x = x64.astype(dt.np)
                out, _ = ctx.impl.get(f"{op}_forward")(x, **var.options)
                with torch.no_grad():
                    want = to_numpy(torch_fn(to_torch(x), **var.options))
                ctx.compare("out", out, want, dt, BITWISE, {"x": x}, oracle=f"torch ({var.label}, ±0.0)")

    return Property("signed_zeros", check, "±0.0 inputs: outputs +0.0 as torch's, signs compared")


def _avg_entry(op, torch_fn, table, bad, doc, double_rounding):
    # window sums, linear in x: compared within tolerance, rtol applied to the sum of |terms|
    variants, shapes = _variants(table)
    _entry(op, torch_fn, table, bad, doc, families=AVG_FAMILIES, reduces=True, magnitude=True, highprec=getattr(hp, op),
           properties=(_max_dout(op, variants, shapes, torch_fn), _max_input(op, variants, shapes, torch_fn),
                       _rounded_terms(op, variants, shapes, torch_fn), _exact_sums(op, variants, shapes, torch_fn),
                       _signed_zeros(op, variants, shapes, torch_fn), double_rounding))


_avg_entry(
    "avg_pool2d",
    F.avg_pool2d,
    AVG_POOL2D,
    (
        _bad(IMAGE, {"kernel_size": 3, "padding": 2}, ValueError, "must be at most half", "padding"),
        _bad(IMAGE, {"kernel_size": 2, "divisor_override": 0}, ValueError, "divisor_override must not be zero",
             "divisor_zero"),
        _bad(IMAGE, {"kernel_size": 2, "stride": 0}, ValueError, "stride must be at least 1", "stride_zero"),
        _bad(IMAGE, {"kernel_size": (8, 2)}, ValueError, "too small", "kernel_too_large"),
        _bad((1, 2, 3, 7, 6), {"kernel_size": 2}, ValueError, r"\(N, C, H, W\)", "x_5d"),
    ),
    "F.avg_pool2d: count_include_pad, ceil_mode (overhang not counted), divisor_override",
    _double_rounding("avg_pool2d", (1, 1, 2, 2), kernel_size=2, divisor_override=8193),
)
_avg_entry(
    "avg_pool1d",
    F.avg_pool1d,
    AVG_POOL1D,
    (
        _bad(SIGNAL, {"kernel_size": 3, "padding": 2}, ValueError, "must be at most half", "padding"),
        _bad(SIGNAL, {"kernel_size": 0}, ValueError, "kernel_size must be at least 1", "kernel_zero"),
        _bad((9,), {"kernel_size": 2}, ValueError, r"\(N, C, L\)", "x_1d"),
    ),
    "F.avg_pool1d: count_include_pad, ceil_mode (overhang not counted)",
    _double_rounding("avg_pool1d", (1, 1, 8193), kernel_size=8193),
)


# -- adaptive pools --------------------------------------------------------------------------------

ADAPTIVE, ADAPTIVE_UNBATCHED, ADAPTIVE_EMPTY = (2, 2, 6, 5), (3, 6, 5), (0, 2, 6, 5)

# Window i of o over n cells: [floor(i n / o), ceil((i + 1) n / o)). On 6 x 5: (3, 5) divides both;
# (4, 3) divides neither (windows overlap and differ in length); None keeps the input's size; 1 is
# torch's global mean; (8, 7) has more windows than cells (several windows start on one cell); (2, 1) and
# (1, 2) are one window along one dimension only (not the global mean). An output size 0 is checked by the
# ``empty_output`` property: torch's forward accepts it, its backward rejects the empty gradient.
ADAPTIVE_SIZES = {
    "out=(3,5)": ({"output_size": (3, 5)}, (ADAPTIVE, ADAPTIVE_UNBATCHED, ADAPTIVE_EMPTY)),
    "out=(4,3)": ({"output_size": (4, 3)}, (ADAPTIVE,)),
    "out=(None,2)": ({"output_size": (None, 2)}, (ADAPTIVE,)),
    "out=1": ({"output_size": 1}, (ADAPTIVE, ADAPTIVE_UNBATCHED)),
    "out=(8,7)": ({"output_size": (8, 7)}, (ADAPTIVE,)),
    "out=(2,1)": ({"output_size": (2, 1)}, (ADAPTIVE,)),
    "out=(1,2)": ({"output_size": (1, 2)}, (ADAPTIVE,)),
}
ADAPTIVE_BAD = (
    _bad(ADAPTIVE, {"output_size": (-1, 2)}, ValueError, "output_size must be at least 0", "output_negative"),
    _bad(ADAPTIVE, {"output_size": (2, 2, 2)}, ValueError, "output_size must be an int or 2 entries", "output_3d"),
    _bad((6, 5), {"output_size": 2}, ValueError, r"\(N, C, H, W\) or \(C, H, W\)", "x_2d"),
    _bad((2, 2, 0, 5), {"output_size": 2}, ValueError, "only the batch dimension may be empty", "x_empty"),
)


def _empty_output(op: str, torch_fn, **options):
    """``output_size`` (0, 2): no rows of windows, an empty output of torch's shape, in every dtype."""

    def check(ctx) -> None:
        for dt in DTYPES.values():
            x = FAMILIES["normal"](ctx.rng, ADAPTIVE, dt, Hints())
            out, _ = ctx.impl.get(f"{op}_forward")(x, (0, 2), **options)
            with torch.no_grad():
                want = torch_fn(to_torch(x), (0, 2), **options)
            outs, wants = (out, want) if options else ((out,), (want,))  # with indices: (out, indices)
            for name, got, t in zip(("out", "indices")[: len(outs)], outs, wants, strict=True):
                ctx.compare(name, got, to_numpy(t), dt, BITWISE, {"x": x}, oracle="torch (output_size (0, 2))")

    return Property("empty_output", check, "output_size (0, 2): an empty output, as torch's forward")


_variants_avg, _shapes_avg = _variants(ADAPTIVE_SIZES)
register(
    OpSpec(
        name="adaptive_avg_pool2d",
        inputs=("x",),
        grads=("x",),
        torch_fn=F.adaptive_avg_pool2d,
        sample=_sample,
        shapes=_shapes(_shapes_avg),
        families=AVG_FAMILIES,
        variants=_variants_avg,
        applies=_only(_shapes_avg),
        fd_max_size=FD_MAX_SIZE,
        reduces=True,
        magnitude=True,
        bad_inputs=ADAPTIVE_BAD,
        relations=(per_sample("x", "out"),),
        properties=(
            _empty_output("adaptive_avg_pool2d", F.adaptive_avg_pool2d),
            _max_dout("adaptive_avg_pool2d", _variants_avg, _shapes_avg, F.adaptive_avg_pool2d),
            _max_input("adaptive_avg_pool2d", _variants_avg, _shapes_avg, F.adaptive_avg_pool2d),
            _rounded_terms("adaptive_avg_pool2d", _variants_avg, _shapes_avg, F.adaptive_avg_pool2d),
            _exact_sums("adaptive_avg_pool2d", _variants_avg, _shapes_avg, F.adaptive_avg_pool2d),
            _double_rounding("adaptive_avg_pool2d", (1, 1, 2, 8193), output_size=(2, 1)),
            _long_windows("adaptive_avg_pool2d", F.adaptive_avg_pool2d, output_size=(1, 2)),
        ),
        doc="F.adaptive_avg_pool2d: divisible and non-divisible sizes, None, more windows than cells",
        highprec=hp.adaptive_avg_pool2d,
    )
)

ADAPTIVE_MAX = {label: ({**options, **INDICES}, shapes) for label, (options, shapes) in ADAPTIVE_SIZES.items()}
_max_entry(
    "adaptive_max_pool2d",
    F.adaptive_max_pool2d,
    ADAPTIVE_MAX,
    ADAPTIVE_BAD,
    "F.adaptive_max_pool2d (with indices; see without_indices), winners as in max_pool2d",
    (_empty_output("adaptive_max_pool2d", F.adaptive_max_pool2d, **INDICES),),
)
