"""Registry entries for the normalisation layers: batch_norm (train and eval, running statistics),
layer_norm and group_norm.

The samplers draw values per normalisation group (a channel for batch_norm, the trailing
normalized_shape of a sample for layer_norm, a block of channels of a sample for group_norm), so that
the families mean something for these ops:
- ``normal`` / ``smooth``: standard normal values (central differences are valid: the shapes give
  every group at least four elements, see GROUP_NORM_SHAPES);
- ``wide``: each group with its own offset in [-1000, 1000] and scale in [100, 250] (|mean| / std at
  most ~10, so that float32 cancellation in torch's kernels stays under the tolerance);
- ``equal``: every group constant, so var = 0 and ``invstd = 1/sqrt(eps)`` (see ``_equal``);
- ``nonfinite``: NaN, +inf or -inf at a few places: those groups become NaN, the others stay finite.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from harness import highprec_ops as hp
from harness.dtypes import DTYPES, to_numpy, to_torch
from harness.metamorphic import per_sample
from harness.registry import Allowance, BadInput, OpSpec, Property, Variant, register
from harness.values import cast

FAMILIES = ("normal", "wide", "equal", "nonfinite")
SPECIALS = np.array([np.nan, np.inf, -np.inf])


# -- values per normalisation group ----------------------------------------------------------------

def _equal(rng: np.random.Generator, stats_shape: tuple[int, ...]) -> np.ndarray:
    """One constant per group: 0 or ±2^-k with k in 4..6.

    With var = 0, ``invstd = 1/sqrt(eps)`` ≈ 316 scales the gradient, and with it every float32
    rounding of the O(1) terms before it (e.g. ``mean(dout)``): two correct float32 computations then
    differ by ~316 * |weight| * 6e-8 — torch's own error against float64 is as large. So weights in
    this family are small (|w| <= 1/16; variants without weight use eps = 1e-3), keeping that under
    atol. torch's batch/group norm forward folds the affine map into ``x * a + (b - mean * a)`` with
    a fused multiply-add, which leaves ``b ± ulp(mean * a) / 2`` for a constant channel: constants that
    are powers of two keep ``mean * a`` exact (and ``sum(dout * x) = mean * sum(dout)`` exactly in the
    uncentred backward of layer/group norm), and small ones keep it small."""
    return rng.choice(np.array([0.0, 1 / 16, -1 / 16, 1 / 32, -1 / 32, 1 / 64, -1 / 64]), size=stats_shape)


def _location(rng: np.random.Generator, stats_shape: tuple[int, ...], fam: str) -> tuple[np.ndarray, np.ndarray]:
    """Each group's offset and scale: 0 and 1, or in the ``wide`` family an offset in [-1000, 1000] and
    a scale in [100, 250] (a variance that float16's running_var can still hold)."""
    if fam != "wide":
        return np.zeros(stats_shape), np.ones(stats_shape)
    return rng.uniform(-1e3, 1e3, stats_shape), 10 ** rng.uniform(2, 2.4, stats_shape)


def _values(
    rng: np.random.Generator, shape: tuple[int, ...], stats_shape: tuple[int, ...], fam: str, loc=None
) -> np.ndarray:
    """float64 values of ``shape`` from family ``fam``; ``stats_shape`` is the shape of the group
    statistics (1 along the normalised axes); ``loc``: the groups' (offset, scale) if already drawn."""
    z = rng.standard_normal(shape)
    if fam == "wide":
        offset, scale = loc or _location(rng, stats_shape, fam)
        return offset + scale * z
    if fam == "equal":
        return np.broadcast_to(_equal(rng, stats_shape), shape).copy()
    if fam == "nonfinite" and z.size:
        hit = rng.random(shape) < 0.08  # sparse: most groups stay finite
        hit.flat[rng.integers(z.size)] = True
        z[hit] = rng.choice(SPECIALS, size=int(hit.sum()))
    return z  # normal, smooth


def _affine_params(rng, dtype, shape: tuple[int, ...], fam: str, variant: Variant) -> dict[str, np.ndarray]:
    """weight and bias of ``shape``, unless the variant has no affine parameters (keys then absent).
    In the ``equal`` family the weights are small (|w| in [1/32, 1/16]), see ``_equal``."""
    if not variant.sampling.get("affine", True):
        return {}
    weight = rng.standard_normal(shape)
    if fam == "equal":
        weight = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(1 / 32, 1 / 16, shape)
    return {"weight": cast(weight, dtype), "bias": cast(rng.standard_normal(shape), dtype)}


def _only(table: dict[str, tuple[tuple[int, ...], ...]]):
    """``applies``: each variant runs on the shapes listed for it."""
    return lambda variant, shape: shape in table[variant.label]


def _shapes(table: dict[str, tuple[tuple[int, ...], ...]]) -> tuple[tuple[int, ...], ...]:
    return tuple(dict.fromkeys(s for shapes in table.values() for s in shapes))


# Accuracy (harness.accuracy), batch_norm and layer_norm: measured over every float32 case, the reference's largest
# errors equal torch's (batch_norm dweight 5.5 vs 6.5 ULP, out 8.5 vs 8.8; layer_norm dx 4.2 vs 15), but on
# single cases of offset groups (the wide family) the order of the three reductions decides the last bits.
NORM_ALLOWANCE = Allowance(
    5.0, "the backward combines three reductions per group (sum dout, sum dout * xhat, the statistics) that torch "
    "fuses in one pass in its own order: on single wide-offset cases up to 4.2x torch's error (batch_norm dweight "
    "5.1 vs 0.92 ULP, dx 4.0 vs 0.66, layer_norm dweight 7.2 vs 1.8, group_norm float64 dx 8.6 vs 1.75), with "
    "equal maxima over all cases",
)


# -- batch_norm ------------------------------------------------------------------------------------

_MODULES = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


def torch_batch_norm(
    x, weight=None, bias=None, running_mean=None, running_var=None, training=True, momentum=0.1, eps=1e-5,
    num_batches_tracked=0,
):
    """The real ``nn.BatchNorm{1,2,3}d`` run by ``functional_call`` on clones of the buffers (which it
    updates in place, num_batches_tracked included); returns (out, running_mean, running_var)."""
    module = _MODULES[x.dim()](x.shape[1], eps=eps, momentum=momentum, affine=weight is not None)
    module.train(training)
    state = {
        "running_mean": running_mean.clone(),
        "running_var": running_var.clone(),
        "num_batches_tracked": torch.tensor(num_batches_tracked),
    }
    params = {"weight": weight, "bias": bias} if weight is not None else {}
    out = functional_call(module, {**state, **params}, (x,))
    return out, state["running_mean"], state["running_var"]


def _batch_norm_sample(rng, dtype, shape, fam, variant, hints):
    c = shape[1]
    stats = (1, c) + (1,) * (len(shape) - 2)
    offset, scale = loc = _location(rng, stats, fam)
    # Running statistics near the data's own (in eval mode xhat is then O(1), as in training).
    return {
        "x": cast(_values(rng, shape, stats, fam, loc), dtype),
        **_affine_params(rng, dtype, (c,), fam, variant),
        "running_mean": cast(offset.ravel() + 0.1 * scale.ravel() * rng.standard_normal(c), dtype),
        "running_var": cast(scale.ravel() ** 2 * rng.uniform(0.5, 1.0, c), dtype),
    }


_NO_AFFINE = {"affine": False}
BATCH_NORM_VARIANTS = (
    Variant("train"),
    # Without weight the var = 0 gradient is scaled by 1/sqrt(eps) itself; a larger eps keeps it O(30).
    Variant("train-noaffine-momentum=0.3-eps=1e-3", {"momentum": 0.3, "eps": 1e-3}, _NO_AFFINE),
    Variant("momentum=None-nbt=0", {"momentum": None}),  # num_batches_tracked left at its default, 0
    Variant("momentum=None-nbt=5", {"momentum": None, "num_batches_tracked": 5}),
    Variant("eval", {"training": False}),
    Variant("eval-noaffine-eps=1e-3", {"training": False, "eps": 1e-3}, _NO_AFFINE),
)
BATCH_NORM_SHAPES = {
    "train": ((4, 3), (2, 3, 5), (2, 3, 4, 5), (1, 3, 4), (16, 8), (0, 3)),
    "train-noaffine-momentum=0.3-eps=1e-3": ((2, 3, 5), (1, 3, 4)),
    "momentum=None-nbt=0": ((4, 3),),
    "momentum=None-nbt=5": ((2, 3, 5),),
    "eval": ((4, 3), (2, 3, 4, 5), (1, 3)),  # a batch of one without spatial axes is legal in eval
    "eval-noaffine-eps=1e-3": ((2, 3, 5),),
}


def _bn_call(x_shape, training=True, **arrays):
    return lambda rng: ((np.ones(x_shape),), {**arrays, "training": training})


def _untracked_torch(arrays: dict[str, np.ndarray], dout: np.ndarray) -> dict[str, np.ndarray]:
    """F.batch_norm without running statistics: out and the gradients of <out, dout>."""
    t = {k: to_torch(v, requires_grad=True) for k, v in arrays.items()}
    out = F.batch_norm(t["x"], None, None, t["weight"], t["bias"], training=True)
    grads = torch.autograd.grad(out, [t["x"], t["weight"], t["bias"]], to_torch(dout))
    return {"out": to_numpy(out), **{k: to_numpy(g) for k, g in zip(("dx", "dweight", "dbias"), grads, strict=True)}}


def _untracked_case(ctx, dt) -> None:
    fwd, bwd = ctx.impl.get("batch_norm_forward"), ctx.impl.get("batch_norm_backward")
    arrays = {
        "x": cast(ctx.rng.standard_normal((2, 3, 5)), dt),
        "weight": cast(ctx.rng.standard_normal(3), dt),
        "bias": cast(ctx.rng.standard_normal(3), dt),
    }
    dout = cast(ctx.rng.standard_normal((2, 3, 5)), dt)
    (out, rm, rv), cache = fwd(**arrays)
    if rm is not None or rv is not None:
        ctx.fail("buffers", f"without running statistics the forward must return None buffers, got {rm!r}, {rv!r}")
    got = {"out": out, **bwd(cache, dout)}
    want = _untracked_torch(arrays, dout)
    exact = _untracked_torch({k: v.astype(np.float64) for k, v in arrays.items()}, dout.astype(np.float64))
    for k in want:  # float16: the float64 arbiter, as in the generic checks
        ctx.compare(k, got[k], want[k], dt, dt.default_tol, arrays, lambda k=k: exact[k], signed_zeros=False)


def _untracked(ctx) -> None:
    """running_mean = running_var = None: batch statistics, nothing tracked, buffers returned as None;
    out and every gradient against F.batch_norm(x, None, None, weight, bias, training=True)."""
    for name in ("float16", "float32", "float64"):
        _untracked_case(ctx, DTYPES[name])


def _nonfinite_buffers(ctx) -> None:
    """Running statistics holding ±inf and NaN, updated by a batch with a -inf (mean -inf against a +inf
    running_mean: NaN) and by the factor 1 of momentum=None at num_batches_tracked=0 (0 * inf: NaN): the
    new buffers against nn.BatchNorm, warning-free, in float16, float32 and float64."""
    fwd = ctx.impl.get("batch_norm_forward")
    for name in ("float16", "float32", "float64"):
        dt = DTYPES[name]
        x = ctx.rng.standard_normal((4, 3))
        x[0, 1] = -np.inf
        arrays = {"x": cast(x, dt), "running_mean": cast(np.array([np.inf, np.inf, np.nan]), dt),
                  "running_var": cast(np.array([np.inf, 1.0, 2.0]), dt)}
        for momentum, nbt in ((None, 0), (0.1, 0), (None, 5)):
            options = {"momentum": momentum, "num_batches_tracked": nbt}
            (_, mean, var), _ = fwd(**arrays, **options)
            t = torch_batch_norm(**{k: to_torch(a) for k, a in arrays.items()}, **options)
            for what, got, want in (("running_mean", mean, t[1]), ("running_var", var, t[2])):
                ctx.compare(what, got, to_numpy(want), dt, dt.default_tol, arrays, oracle=f"nn.BatchNorm {options}")


def _huge_inputs(ctx) -> None:
    """x of magnitude 0.95 sqrt(max) in float32 and float64: the squared deviations are finite, their
    sum overflows, so the variance is inf (out 0, running_var inf), as in nn.BatchNorm, warning-free."""
    fwd = ctx.impl.get("batch_norm_forward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        big = 0.95 * np.sqrt(float(dt.finfo.max))
        x = big * np.where(ctx.rng.random((4, 3)) < 0.5, -1.0, 1.0)
        x[:2], x[2:] = np.abs(x[:2]), -np.abs(x[2:])  # every channel: two +big, two -big
        arrays = {"x": cast(x, dt), "running_mean": cast(np.zeros(3), dt), "running_var": cast(np.ones(3), dt)}
        got = fwd(**arrays)[0]
        want = torch_batch_norm(**{k: to_torch(a) for k, a in arrays.items()})
        for what, g, w in zip(("out", "running_mean", "running_var"), got, want, strict=True):
            ctx.compare(what, g, to_numpy(w), dt, dt.default_tol, arrays, signed_zeros=False,
                        oracle="nn.BatchNorm, x = ±0.95 sqrt(max)")


def _huge_eval(ctx) -> None:
    """Finite values whose products or sums overflow, one term each (so the result does not depend on an
    order of summation), in eval mode on a batch of one: per channel, x - running_mean beyond max, xhat *
    weight beyond max, + bias beyond max, dout * weight, dout * weight * invstd (running_var = 0) and
    dout * xhat beyond max. out and every gradient against nn.BatchNorm (inf where it overflows),
    warning-free, in float32 and float64."""
    fwd, bwd = ctx.impl.get("batch_norm_forward"), ctx.impl.get("batch_norm_backward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        big = float(dt.finfo.max)
        big_x, big_w = (1e3, 1e36) if name == "float32" else (1e10, 1e300)  # x * w = 1e39 / 1e310
        arrays = {
            "x": cast(np.array([[0.75 * big, big_x, 1.0, 0.5, 3.0, 4.0]]), dt),
            "weight": cast(np.array([1.0, big_w, 0.5 * big, 4.0, 1.0, 1 / 16]), dt),
            "bias": cast(np.array([0.0, 0.0, 0.75 * big, 0.0, 0.5, 0.0]), dt),
            "running_mean": cast(np.array([-0.75 * big, 0.0, 0.0, 0.0, 3.0, 0.0]), dt),
            "running_var": cast(np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0]), dt),
        }
        dout = cast(np.array([[1.5, -2.0, 1.0, 0.5 * big, 0.01 * big, -0.5 * big]]), dt)
        (out, _, _), cache = fwd(**arrays, training=False)
        got = {"out": out, **bwd(cache, dout)}
        t = {k: to_torch(v, requires_grad=k in ("x", "weight", "bias")) for k, v in arrays.items()}
        t_out = torch_batch_norm(**t, training=False)[0]
        t_grads = torch.autograd.grad(t_out, [t["x"], t["weight"], t["bias"]], to_torch(dout))
        want = {"out": to_numpy(t_out)}
        want.update({f"d{k}": to_numpy(g) for k, g in zip(("x", "weight", "bias"), t_grads, strict=True)})
        for k, w in want.items():
            ctx.compare(k, got[k], w, dt, dt.default_tol, arrays, signed_zeros=False,
                        oracle="nn.BatchNorm (eval), finite values overflowing")


def _momentum_outside(ctx) -> None:
    """momentum -1 and 2.5 (torch takes any float) with running statistics near ±0.75 max: the update
    ``(1 - m) * running + m * stat`` overflows in one term, inf as in nn.BatchNorm, warning-free."""
    fwd = ctx.impl.get("batch_norm_forward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        big = 0.75 * float(dt.finfo.max)
        arrays = {"x": cast(np.array([[1.0, 2.0], [3.0, -1.0]]), dt),
                  "running_mean": cast(np.array([big, -big]), dt), "running_var": cast(np.array([big, 1.0]), dt)}
        for momentum in (-1.0, 2.5):
            (_, mean, var), _ = fwd(**arrays, momentum=momentum)
            t = torch_batch_norm(**{k: to_torch(a) for k, a in arrays.items()}, momentum=momentum)
            for what, got, want in (("running_mean", mean, t[1]), ("running_var", var, t[2])):
                ctx.compare(what, got, to_numpy(want), dt, dt.default_tol, arrays,
                            oracle=f"nn.BatchNorm momentum={momentum}")


register(
    OpSpec(
        name="batch_norm",
        inputs=("x",),
        grads=("x", "weight", "bias"),
        torch_fn=torch_batch_norm,
        sample=_batch_norm_sample,
        shapes=_shapes(BATCH_NORM_SHAPES),
        families=FAMILIES,
        variants=BATCH_NORM_VARIANTS,
        applies=_only(BATCH_NORM_SHAPES),
        reduces=True,
        allowance=NORM_ALLOWANCE,
        outputs=("out", "running_mean", "running_var"),
        bad_inputs=(
            BadInput("batch_of_one", _bn_call((1, 3)), ValueError, r"more than 1 value per channel.*\(1, 3\)"),
            BadInput("batch_of_one_1x1", _bn_call((1, 3, 1)), ValueError, r"more than 1 value.*\(1, 3, 1\)"),
            BadInput("one_buffer", _bn_call((4, 3), running_mean=np.zeros(3)), ValueError, "both be None"),
            BadInput("eval_without_buffers", _bn_call((4, 3), training=False), ValueError,
                     r"eval mode \(training=False\) needs running_mean and running_var"),
            BadInput("weight_shape", _bn_call((4, 3), weight=np.ones(4)), ValueError, r"weight.*\(3,\).*\(4,\)"),
            BadInput("x_1d", _bn_call((5,)), ValueError, r"\(5,\)"),
            BadInput("running_var_int64", _bn_call((4, 3), running_mean=np.zeros(3), running_var=np.ones(3, np.int64)),
                     TypeError, r"^batch_norm: running_var must be a floating"),
            BadInput(
                "dtype_mix", _bn_call((4, 3), weight=np.ones(3, np.float32)), TypeError, "float64.*float32"
            ),
        ),
        properties=(
            Property("untracked", _untracked, "running_mean = running_var = None"),
            Property("nonfinite_buffers", _nonfinite_buffers, "running statistics holding ±inf and NaN"),
            Property("huge_inputs", _huge_inputs, "x whose squared deviations sum beyond max"),
            Property("huge_eval", _huge_eval, "finite x, buffers, weight, bias and dout whose products overflow"),
            Property("momentum_outside", _momentum_outside, "momentum outside [0, 1] with huge running statistics"),
        ),
        relations=(
            per_sample("x", "out", variant="eval"),  # running statistics: each sample on its own
            per_sample("x", "out", variant="train", independent=False, label="batch_dependence",
                       doc="training mode: the batch statistics make each output depend on the other samples"),
        ),
        doc="nn.BatchNorm{1,2,3}d via functional_call: train (biased var normalises, unbiased var tracked; "
        "momentum=None is the cumulative average 1/(num_batches_tracked+1)) and eval (running statistics)",
    )
)


# -- layer_norm ------------------------------------------------------------------------------------

def torch_layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return F.layer_norm(x, shape, weight, bias, eps)


def _layer_norm_sample(rng, dtype, shape, fam, variant, hints):
    ns = variant.options["normalized_shape"]
    ns = (ns,) if isinstance(ns, int) else tuple(ns)
    stats = shape[: len(shape) - len(ns)] + (1,) * len(ns)
    return {"x": cast(_values(rng, shape, stats, fam), dtype), **_affine_params(rng, dtype, ns, fam, variant)}


LAYER_NORM_SHAPES = {
    "normalized_shape=(5,)": ((3, 5), (2, 4, 5), (1, 5)),
    "normalized_shape=(4,5)": ((2, 4, 5), (4, 5)),
    "normalized_shape=5-noaffine-eps=1e-3": ((3, 5),),  # an int, as nn.LayerNorm takes it
}


# torch's layer_norm/group_norm backward forms dx from per-group sums (ds = sum(dy * gamma * x), db = sum(dy * gamma),
# dx = a * dy + b * x + c) and dweight from ds - db * mean; an infinite dout makes those inf - inf = NaN where the
# reference's dxhat - mean(dxhat) - xhat * mean(dxhat * xhat) gives ±inf, and the other way round (float64 too).
NORM_INFINITE_DOUT = (
    "torch's kernel forms dx and dweight from per-group sums (a * dy + b * x + c): with an infinite dout its "
    "NaN/±inf pattern follows that algebra, not the formula's"
)


def _ln_call(x_shape, normalized_shape, **arrays):
    return lambda rng: ((np.ones(x_shape), normalized_shape), arrays)


def _infinite_weight(ctx) -> None:
    """A weight holding +inf and -inf (torch takes it) on rows of five consecutive integers (torch's running
    mean is then exact): where x equals the mean, xhat = 0 and the output is 0 * inf = NaN, elsewhere ±inf;
    out against F.layer_norm, warning-free, in float32 and float64. Not float16/bfloat16: torch forms
    ``x * rstd - mean * rstd`` there, -6e-8 at the mean, so -inf. Not batch/group norm: their kernels fold
    the weight into ``x * a + (b - mean * a)``, inf - inf = NaN on the whole channel."""
    fwd = ctx.impl.get("layer_norm_forward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        arrays = {
            "x": cast(np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [5.0, 1.0, 2.0, 4.0, 3.0]]), dt),
            "weight": cast(np.array([np.inf, 0.5, np.inf, -np.inf, 2.0]), dt),
            "bias": cast(np.array([0.5, 1.0, -1.0, 0.0, 0.25]), dt),
        }
        out, _ = fwd(arrays["x"], (5,), arrays["weight"], arrays["bias"])
        want = torch_layer_norm(to_torch(arrays["x"]), (5,), to_torch(arrays["weight"]), to_torch(arrays["bias"]))
        ctx.compare("out", out, to_numpy(want), dt, dt.default_tol, arrays, oracle="F.layer_norm, weight ±inf")


register(
    OpSpec(
        name="layer_norm",
        inputs=("x",),
        grads=("x", "weight", "bias"),
        torch_fn=torch_layer_norm,
        sample=_layer_norm_sample,
        shapes=_shapes(LAYER_NORM_SHAPES),
        families=FAMILIES,
        variants=(
            Variant("normalized_shape=(5,)", {"normalized_shape": (5,)}),
            Variant("normalized_shape=(4,5)", {"normalized_shape": (4, 5)}),
            Variant("normalized_shape=5-noaffine-eps=1e-3", {"normalized_shape": 5, "eps": 1e-3}, _NO_AFFINE),
        ),
        applies=_only(LAYER_NORM_SHAPES),
        relations=(per_sample("x", "out"),),
        reduces=True,
        allowance=NORM_ALLOWANCE,
        finite_dout={"*": NORM_INFINITE_DOUT},
        properties=(Property("infinite_weight", _infinite_weight, "a weight holding ±inf, xhat = 0 somewhere"),),
        bad_inputs=(
            BadInput("shape_mismatch", _ln_call((2, 5), (4,)), ValueError, r"\(4,\).*\(2, 5\)"),
            BadInput("shape_too_long", _ln_call((5,), (1, 5)), ValueError, r"\(1, 5\).*\(5,\)"),
            BadInput("shape_empty", _ln_call((2, 5), ()), ValueError, "normalized_shape"),
            BadInput("shape_float", _ln_call((2, 5), (5.0,)), ValueError, r"one or more ints, got \(5\.0,\)"),
            BadInput("weight_shape", _ln_call((2, 5), (5,), weight=np.ones(4)), ValueError, r"weight.*\(4,\)"),
        ),
        doc="F.layer_norm over the trailing normalized_shape; optional elementwise affine",
        highprec=hp.layer_norm,
    )
)


# -- group_norm ------------------------------------------------------------------------------------

def _group_norm_sample(rng, dtype, shape, fam, variant, hints):
    n, c = shape[:2]
    g = variant.options["num_groups"]
    grouped = (n, g, c // g, math.prod(shape[2:]))
    x = _values(rng, grouped, (n, g, 1, 1), fam).reshape(shape)
    return {"x": cast(x, dtype), **_affine_params(rng, dtype, (c,), fam, variant)}


GROUP_NORM_SHAPES = {
    "num_groups=1": ((3, 6), (2, 6, 4)),
    # Groups of at least four elements. With two, xhat = ±1 whatever x and dx ∝ eps / var is all
    # cancellation: torch's float32 kernel and the compact formula both miss it by more than atol when
    # the pair is close. With one, torch's uncentred backward leaves ~3e-5 where dx = 0.
    "num_groups=3": ((2, 6, 4), (1, 6, 2, 3)),
    "num_groups=6": ((2, 6, 4), (1, 6, 2, 3)),  # instance norm
    "num_groups=2-noaffine-eps=1e-3": ((2, 6, 4),),
}


def _gn_call(x_shape, num_groups, **arrays):
    return lambda rng: ((np.ones(x_shape), num_groups), arrays)


register(
    OpSpec(
        name="group_norm",
        inputs=("x",),
        grads=("x", "weight", "bias"),
        torch_fn=lambda x, num_groups, weight=None, bias=None, eps=1e-5: F.group_norm(x, num_groups, weight, bias, eps),
        sample=_group_norm_sample,
        shapes=_shapes(GROUP_NORM_SHAPES),
        families=FAMILIES,
        variants=(
            Variant("num_groups=1", {"num_groups": 1}),
            Variant("num_groups=3", {"num_groups": 3}),
            Variant("num_groups=6", {"num_groups": 6}),
            Variant("num_groups=2-noaffine-eps=1e-3", {"num_groups": 2, "eps": 1e-3}, _NO_AFFINE),
        ),
        applies=_only(GROUP_NORM_SHAPES),
        relations=(per_sample("x", "out"),),
        reduces=True,
        allowance=NORM_ALLOWANCE,
        highprec=hp.group_norm,
        finite_dout={"*": NORM_INFINITE_DOUT},
        bad_inputs=(
            BadInput("groups_not_divisor", _gn_call((2, 6, 3), 4), ValueError, r"6 channels.*num_groups=4"),
            BadInput("weight_shape", _gn_call((2, 6, 3), 3, weight=np.ones(3)), ValueError, r"weight.*\(3,\)"),
            BadInput("x_1d", _gn_call((6,), 1), ValueError, r"\(6,\)"),
            BadInput("num_groups_zero", _gn_call((2, 6, 3), 0), ValueError,
                     r"num_groups must be a positive int, got 0$"),
            BadInput("num_groups_float", _gn_call((2, 6, 3), 3.0), ValueError, r"positive int, got 3\.0"),
        ),
        doc="F.group_norm: channels in num_groups blocks, each sample normalised per block; "
        "num_groups = C is instance norm",
    )
)
