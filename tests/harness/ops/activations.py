"""Registry entries for the activation catalogue (issue 3): tanh, leaky_relu, silu, softplus,
hardsigmoid, elu, selu, celu, gelu, mish, softsign, logsigmoid, hardtanh, relu6, hardswish, prelu."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness import highprec_ops as hp
from harness.checks import BITWISE
from harness.dtypes import DTYPES
from harness.metamorphic import per_sample
from harness.ops.seed import DEFAULT_VARIANTS, elementwise
from harness.oracle import torch_forward, torch_grads
from harness.registry import DEFAULT_ALLOWANCE, REGISTRY, Allowance, BadInput, OpSpec, Property, Variant, register
from harness.values import FAMILIES, HUGE, LAYOUTS, Hints, cast, huge_values, layout_applies


def _options(**choices):
    """Variants for one option each, e.g. _options(alpha=(1.0, 0.5)): first value is the default."""
    return (Variant(),) + tuple(
        Variant(f"{k}={v:g}", {k: v}) for k, values in choices.items() for v in values[1:]
    )


ZEROS = (0.0, -0.0)
elementwise("tanh", torch.tanh, doc="gradient 1 - y^2", highprec=hp.tanh)
elementwise(
    # A negative slope too: leaky_relu(-0.0) = -0.0 * slope is +0.0 then, which tells x > 0 from x >= 0.
    "leaky_relu", F.leaky_relu, ZEROS, _options(negative_slope=(0.01, -0.2)), doc="leaky_relu'(0) = slope",
    highprec=hp.leaky_relu,
)
# Accuracy (harness.accuracy): torch's vectorised kernels form these derivatives with fused multiply-adds, which
# NumPy lacks; near a root of the derivative (silu' at x = -1.278, gelu' at -0.752, mish' at -1.19) the
# cancellation amplifies each rounding, torch's too. Measured: the reference up to 3.3 x torch's error there
# (float64 silu: 200 vs 47 ULP; float32 gelu tanh-form 1.9e3 vs 454, mish 10 vs 3); 1 - y^2 in tanh, which
# cost 8 ULP the same way, is computed in float64 instead (reference/smooth.py).
FMA_ALLOWANCE = Allowance(4.0, "torch forms the derivative with fused multiply-adds; near its root (e.g. silu' "
                          "at x = -1.278) the cancellation amplifies the extra rounding (measured up to 3.3x torch's)")
elementwise("silu", F.silu, highprec=hp.silu, allowance=FMA_ALLOWANCE)


def _beyond_threshold(ctx) -> None:
    """Just above the threshold (beta x in (threshold, threshold + 1]) torch returns x itself and passes
    dout on unchanged, where log1p(exp(beta x)) / beta differs from x by exp(-threshold) relatively, below
    every tolerance: out and dx bitwise torch's, float32 and float64, every variant's options."""
    spec = REGISTRY["softplus"]
    for var in spec.variants:
        beta, threshold = var.options.get("beta", 1.0), var.options.get("threshold", 20.0)
        for dt in (DTYPES["float32"], DTYPES["float64"]):
            x = ((threshold + np.array([2.0**-10, 0.25, 0.5, 1.0])) / beta).astype(dt.np)
            inputs, douts = {"x": x}, {"out": FAMILIES["normal"](ctx.rng, x.shape, dt, Hints())}
            out, cache = ctx.impl.get("softplus_forward")(x, **var.options)
            want, want_dx = torch_forward(spec, var, inputs)["out"], torch_grads(spec, var, inputs, douts)["x"]
            ctx.compare("out", out, want, dt, BITWISE, inputs, oracle=f"torch {var.options}")
            dx = ctx.impl.get("softplus_backward")(cache, douts["out"])["dx"]
            ctx.compare("dx", dx, want_dx, dt, BITWISE, inputs, oracle=f"torch {var.options}")


elementwise(
    "softplus", F.softplus, (20.0, 2.5, 0.0), _options(beta=(1.0, 2.0), threshold=(20.0, 5.0)),
    bad=(BadInput("beta", lambda rng: ((np.ones(3),), {"beta": 0.0}), ValueError, "beta"),),
    doc="linear above threshold in beta * x",
    highprec=hp.softplus,
    properties=(Property("beyond_threshold", _beyond_threshold, "x itself above the threshold, bitwise"),),
)
elementwise("hardsigmoid", F.hardsigmoid, (-3.0, 3.0) + ZEROS, doc="gradient 0 at ±3", highprec=hp.hardsigmoid)



# -- the rest of the catalogue (issue 3, second part) -----------------------------------------------
#
# Shapes: the elementwise set without (1, 5) and (3, 5, 7), which add nothing for an elementwise op
# over (7,) and (4, 3); an extra option variant runs on (4, 3) and (64, 33) only, since the option
# changes values, not shapes. This keeps the group within its case budget.

ACT_SHAPES = ((), (7,), (0, 3), (4, 3), (64, 33))
EXTRA_SHAPES = ((4, 3), (64, 33))
SMOOTH_FAMILIES = ("normal", "wide", "subnormal", "nonfinite")  # no exp inside: overflow adds nothing
EXP_FAMILIES = ("normal", "wide", "subnormal", "overflow", "nonfinite")  # exp(±x) or softplus inside
KINK_FAMILIES = ("normal", "wide", "kink", "subnormal", "nonfinite")

# Torch's gradient at NaN for hardtanh, relu6, elu, selu, celu and hardswish depends on where the
# NaN sits in memory, not on its value. Of a contiguous array of n elements, the first
# floor(n / W) * W go through the kernel's vectorised body and get one value (hardtanh/relu6: 0;
# elu family/hardswish: NaN), the rest go through its scalar tail and get another (dout, resp.
# dout * scale). On this AVX-512 CPU W is 8/16/32 elements for float64/float32/float16 and bfloat16
# in hardtanh/relu6, 16/32/64 in the others. E.g. float32 hardtanh: 15 NaN get dout everywhere, 16
# get 0 everywhere, 31 get 0 for the first 16 and dout for the rest. That is an implementation
# accident we do not mirror: these ops sample their "nonfinite" family with ±inf only, and a
# "nan_forward" property checks their forward on NaN (consistent: NaN). The reference passes dout
# at NaN (dout * scale in the elu family), torch's per-element rule and relu's.
NO_NAN = (np.inf, -np.inf)



def _sprinkle(rng, shape, specials, dtype):
    """Normal values with about half of them (at least one) replaced by ``specials``."""
    v = rng.standard_normal(shape)
    hit = rng.random(shape) < 0.5
    if v.size:
        hit.flat[rng.integers(v.size)] = True
        v[hit] = rng.choice(np.asarray(specials, dtype=np.float64), size=int(hit.sum()))
    return cast(v, dtype)


def _draw(rng, dtype, shape, fam, hints, nonfinite=None, huge=None):
    """The case's family, except that "kink" holds every kink point at least once (when there is
    room) and "nonfinite" and "huge" draw from ``nonfinite`` and ``huge`` when given."""
    if fam == "nonfinite" and nonfinite is not None:
        return _sprinkle(rng, shape, nonfinite, dtype)
    if fam == "huge" and huge is not None:
        return _sprinkle(rng, shape, huge_values(huge, dtype), dtype)
    x = FAMILIES[fam](rng, shape, dtype, hints)
    if fam == "kink" and 0 < len(hints.kinks) <= x.size:
        x.flat[rng.choice(x.size, len(hints.kinks), replace=False)] = cast(np.array(hints.kinks), dtype)
    return x


def _x_sampler(nonfinite=None, huge=None):
    """``nonfinite(variant)``: the specials of the "nonfinite" family (None: NaN and ±inf); ``huge(variant)``:
    those of the "huge" family, ±1 standing for ±max (None: ±max, ±inf and 0)."""

    def sample(rng, dtype, shape, fam, variant, hints):
        return {"x": _draw(rng, dtype, shape, fam, hints, nonfinite(variant) if nonfinite else None,
                           huge(variant) if huge else None)}

    return sample


def _full_default(variant: Variant, shape: tuple[int, ...]) -> bool:
    """The default variant runs every shape; an extra option variant only EXTRA_SHAPES."""
    return not variant.options or shape in EXTRA_SHAPES


def _activation(
    name, torch_fn, families, kinks=(), variants=DEFAULT_VARIANTS, bad=(), sample=None, doc="",
    allowance=DEFAULT_ALLOWANCE, properties=(),
):
    """Register a one-input activation: like seed.elementwise, with this group's shapes, its own
    families and sampler, and the nan_forward property when the sampler leaves NaN out; its float64
    oracle is the harness.highprec_ops function of the same name."""
    return elementwise(
        name, torch_fn, kinks, variants, bad, doc=doc, sample=sample or _x_sampler(), shapes=ACT_SHAPES,
        families=families, applies=_full_default,
        properties=((_nan_forward(name),) if sample is _NO_NAN else ()) + properties,
        highprec=getattr(hp, name), allowance=allowance,
    )


_NO_NAN = _x_sampler(nonfinite=lambda variant: NO_NAN)


def _nan_forward(name: str) -> Property:
    """The forward of an op whose "nonfinite" family leaves NaN out (NO_NAN) still matches torch on
    NaN, ±inf and normal values, in every dtype: only the gradient at NaN goes unchecked."""

    def check(ctx) -> None:
        spec = REGISTRY[name]
        fwd = ctx.impl.get(spec.forward_name)
        for dt in DTYPES.values():
            inputs = {"x": _sprinkle(ctx.rng, (4, 9), (np.nan, np.inf, -np.inf), dt)}
            out, _ = fwd(inputs["x"])
            ctx.compare("out", out, torch_forward(spec, spec.variants[0], inputs)["out"], dt, spec.tol(dt), inputs)

    return Property("nan_forward", check, check.__doc__ or "")


def _every_value(name: str, why: str) -> Property:
    """Every float16 and every bfloat16 value (one NaN), forward and backward (a normal dout) bitwise
    torch's, zero signs and NaN positions included: for ops whose float16/bfloat16 rounding of an
    intermediate is torch's (``why``), which the generic checks compare within the tolerance only."""

    def check(ctx) -> None:
        spec = REGISTRY[name]
        for dt in (DTYPES["float16"], DTYPES["bfloat16"]):
            bits = np.arange(1 << 16, dtype=np.uint16)
            finite_or_inf = (bits & 0x7FFF) <= np.array(np.inf, dt.np).view(np.uint16)  # NaN payloads out
            x = np.concatenate([bits[finite_or_inf].view(dt.np), np.array([np.nan], dt.np)])
            inputs, douts = {"x": x}, {"out": FAMILIES["normal"](ctx.rng, x.shape, dt, Hints())}
            out, cache = ctx.impl.get(spec.forward_name)(x)
            ctx.compare("out", out, torch_forward(spec, spec.variants[0], inputs)["out"], dt, BITWISE, inputs)
            dx = ctx.impl.get(spec.backward_name)(cache, douts["out"])["dx"]
            ctx.compare("dx", dx, torch_grads(spec, spec.variants[0], inputs, douts)["x"], dt, BITWISE,
                        {**inputs, "dout": douts["out"]})

    return Property("every_value", check, f"every float16/bfloat16 value bitwise torch's: {why}")


def _options_call(**options):
    return lambda rng: ((np.ones(3),), options)


_activation(
    # A negative alpha too: elu(-0.0) = expm1(-0.0) * alpha is +0.0 then, which tells x <= 0 from x < 0.
    "elu", F.elu, KINK_FAMILIES, ZEROS, _options(alpha=(1.0, 0.5, -0.5)), sample=_NO_NAN,
    doc="alpha (exp(x) - 1) at or below 0: elu'(0) = alpha, elu(-0.0) = -0.0; no NaN (see NO_NAN)",
)
_activation(
    "selu", F.selu, KINK_FAMILIES, ZEROS, sample=_NO_NAN,
    doc="scale * elu(x, alpha) with torch's constants; selu'(0) = alpha * scale; no NaN (see NO_NAN)",
)
_activation(
    "celu", F.celu, KINK_FAMILIES, ZEROS, _options(alpha=(1.0, 2.0)), sample=_NO_NAN,
    bad=(BadInput("alpha_zero", _options_call(alpha=0.0), ValueError, "alpha cannot be 0"),),
    doc="elu(x, alpha) with input scale 1 / alpha; celu'(0) = 1; no NaN (see NO_NAN)",
)
_activation(
    "gelu", F.gelu, SMOOTH_FAMILIES,
    variants=(Variant(), Variant("approximate=tanh", {"approximate": "tanh"})),
    sample=_x_sampler(
        # torch's vectorised float32/bfloat16 erf makes gelu(+inf) NaN, except in a one-element
        # tensor (the scalar path gives inf, as do float16 and float64): no +inf for the exact gelu.
        nonfinite=lambda variant: (np.nan, np.inf, -np.inf) if variant.options else (np.nan, -np.inf),
        # and its vectorised path gives gelu(+max) = inf where the value is max (the scalar path's): no
        # +max for the exact gelu either.
        huge=lambda variant: HUGE if variant.options else (-1, -np.inf, 0.0),
    ),
    bad=(BadInput("approximate", _options_call(approximate="sigmoid"), ValueError, "'sigmoid'"),),
    doc="x Phi(x) through erf (approximate='none', the default) or the tanh formula; gradient NaN at ±inf; "
    "no +inf for the exact form (see the sampler)",
    allowance=FMA_ALLOWANCE,
)
_activation(
    "mish", F.mish, EXP_FAMILIES, doc="x tanh(softplus(x)); mish(-inf) = NaN, gradient NaN at ±inf",
    allowance=FMA_ALLOWANCE,
)
_activation("softsign", F.softsign, SMOOTH_FAMILIES, doc="torch's x / (1 + |x|): NaN at ±inf, gradient too",
            properties=(_every_value("softsign", "torch rounds |x| + 1 to the dtype before dividing"),))
_activation(
    "logsigmoid", F.logsigmoid, EXP_FAMILIES,
    doc="min(x, 0) - log1p(exp(-|x|)): +0.0 for large x, -inf at -inf; gradient sigmoid(-x)",
)

_activation(
    # The boundaries of both variants. A maximum of 0 tells x > max from x >= max: -0.0 passes unchanged.
    "hardtanh", F.hardtanh, KINK_FAMILIES, (-1.0, 1.0, -2.0, 0.0, -0.0),
    (
        Variant(),
        Variant("min_val=-2,max_val=0", {"min_val": -2.0, "max_val": 0.0}),
        Variant("min_val=max_val=1", {"min_val": 1.0, "max_val": 1.0}),  # valid in torch: a constant, gradient 0
    ),
    bad=(BadInput("min_above_max", _options_call(min_val=1.0, max_val=-1.0), ValueError, "min_val"),),
    sample=_NO_NAN,
    doc="clamp; gradient 0 at both boundaries; -0.0 passes; no NaN (see NO_NAN)",
)
_activation(
    "relu6", F.relu6, KINK_FAMILIES, (0.0, -0.0, 6.0), sample=_NO_NAN,
    doc="hardtanh(x, 0, 6): gradient 0 at 0 and 6, relu6(-0.0) = -0.0; no NaN (see NO_NAN)",
)
_activation(
    "hardswish", F.hardswish, KINK_FAMILIES, (-3.0, 3.0, -0.0), sample=_NO_NAN,
    doc="x relu6(x + 3) / 6: hardswish'(-3) = 0, hardswish'(3) = 1, hardswish(-inf) = NaN; no NaN (see NO_NAN)",
)


# -- prelu ---------------------------------------------------------------------------------------------

PRELU_SHAPES = {"shared": ((), (7,), (4, 3), (64, 33)), "channel": ((0, 3), (4, 3), (2, 3, 4), (64, 33))}


def _prelu_sample(rng, dtype, shape, fam, variant, hints):
    """x from the case's family; the weight (one shared slope, or one per channel on axis 1) from its
    own distribution around torch's initial 0.25, negative and above 1 included, and 0 on channel 0."""
    channels = 1 if variant.sampling["weight"] == "shared" else shape[1]
    weight = 0.25 + 0.5 * rng.standard_normal(channels)
    if channels > 1:
        weight[0] = 0.0  # a zero slope (relu) on channel 0: slope * x is still formed, inf * 0 at x = +inf
    return {"x": _draw(rng, dtype, shape, fam, hints), "weight": cast(weight, dtype)}


def _prelu_terms(inputs, dout):
    """Sum of |x * dout| over the elements that feed each slope (dweight is a sum over a channel)."""
    if dout is None:
        return {}
    x, weight = inputs["x"], inputs["weight"]
    terms = np.where(x > 0, 0.0, np.abs(x * dout))
    axes = tuple(i for i in range(x.ndim) if weight.size == 1 or i != 1)
    return {"weight": terms.sum(axis=axes).reshape(weight.shape)}


def _prelu_layouts64(ctx) -> None:
    """The generic layout check (float32) again in float64, where dweight's float64 sum shows its order
    directly: x and dout in Fortran order, transposed and strided give the C-order results bitwise
    (the reference sums a C-order copy of the terms)."""
    dt = DTYPES["float64"]
    for var in REGISTRY["prelu"].variants:
        for shape in PRELU_SHAPES[var.sampling["weight"]]:
            inputs = _prelu_sample(ctx.rng, dt, shape, "normal", var, REGISTRY["prelu"].hints(var))
            dout = FAMILIES["normal"](ctx.rng, shape, dt, Hints())
            fwd, bwd = ctx.impl.get("prelu_forward"), ctx.impl.get("prelu_backward")
            want_out, cache = fwd(LAYOUTS["C"].apply(inputs["x"]), inputs["weight"])
            want = {"out": want_out, **bwd(cache, LAYOUTS["C"].apply(dout))}
            for lay in ("F", "T", "S"):
                if not layout_applies(lay, shape):
                    continue
                out, cache = fwd(LAYOUTS[lay].apply(inputs["x"]), inputs["weight"])
                got = {"out": out, **bwd(cache, LAYOUTS[lay].apply(dout))}
                for name in want:
                    ctx.compare(name, got[name], want[name], dt, BITWISE, {**inputs, "dout": dout},
                                oracle=f"the C-order result ({var.label}, layout {lay})")


def _prelu_call(x_shape, w_shape, w_dtype=np.float64):
    return lambda rng: ((np.ones(x_shape), np.ones(w_shape, w_dtype)), {})


register(
    OpSpec(
        name="prelu",
        inputs=("x", "weight"),
        grads=("x", "weight"),
        torch_fn=F.prelu,
        sample=_prelu_sample,
        shapes=tuple(dict.fromkeys(PRELU_SHAPES["shared"] + PRELU_SHAPES["channel"])),
        families=KINK_FAMILIES,
        variants=tuple(Variant(f"weight={k}", sampling={"weight": k}) for k in PRELU_SHAPES),
        kinks=ZEROS,
        applies=lambda variant, shape: shape in PRELU_SHAPES[variant.sampling["weight"]],
        magnitude=_prelu_terms,
        relations=(per_sample("x", "out", variant="weight=channel"),),
        properties=(Property("layouts_float64", _prelu_layouts64, "float64 x and dout in every layout: bitwise"),),
        highprec=hp.prelu,
        bad_inputs=(
            BadInput("weight_size", _prelu_call((4, 3), (4,)), ValueError, r"\(4,\).* 3 channel"),
            BadInput("channel_1d_x", _prelu_call((3,), (3,)), ValueError, r"\(3,\).* 1 channel"),
            BadInput("channel_0d_x", _prelu_call((), (3,)), ValueError, "0-d x"),
            BadInput("weight_2d", _prelu_call((4, 3), (1, 3)), ValueError, r"\(1, 3\)"),
            BadInput("dtype_mix", _prelu_call((4, 3), (3,), np.float32), TypeError, "float32"),
            # The generic dtype checks corrupt x; the error for an integer weight must name the weight.
            BadInput("weight_int64", _prelu_call((4, 3), (3,), np.int64), TypeError, r"\bweight\b.*floating"),
        ),
        doc="x above 0, weight * x at or below 0 (prelu'(0) = weight); weight shared (1,) or per channel "
        "(C,) on axis 1; dweight sums x * dout over each channel's non-positive elements",
    )
)
