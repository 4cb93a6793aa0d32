"""Registry entries for attention (issue 5): scaled_dot_product_attention, multi_head_attention and the
language model's sequence_cross_entropy.

Torch facts these entries rely on (torch 2.13 CPU, each checked by a probe and, where it matters, by a
property below):
- ``F.scaled_dot_product_attention`` runs the math kernel ``aten._scaled_dot_product_attention_math``
  for 2-D/3-D inputs (bitwise equal) and a CPU flash kernel for 4-D ones (equal within rounding).
  Both give a fully masked row (all -inf scores) zero weights: output 0 and zero gradients.
- The math kernel takes a keep-mask for dropout: ``attn.masked_fill(~dropout_mask, 0)`` then
  ``attn @ (v / (1 - p))``; it returns ``(out, attn)`` with ``attn`` the masked, unscaled weights. It
  adds ``attn_mask`` as it is: a boolean mask must be converted to a -inf bias first (F.sdpa does so).
  It is the torch reference of the dropout variant; ``dropout_p = 1`` (no randomness) is run against
  F.scaled_dot_product_attention itself, which gives zeros.
- F.scaled_dot_product_attention differentiates a float ``attn_mask`` (the gradient of the scores,
  summed over broadcast axes); a boolean mask has none.
- ``nn.MultiheadAttention`` with ``need_weights=True`` uses a plain softmax: a fully masked row is NaN
  and spreads through the out-projection; with ``need_weights=False`` it calls F.sdpa: zeros. Both are
  matched (the second by the ``need_weights_false`` property, as the weights output is None there).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness import highprec_ops as hp
from harness.badinputs import changing
from harness.dtypes import DTYPES, to_numpy, to_torch
from harness.metamorphic import Batch, ShiftInvariance, per_sample
from harness.ops.classification import _ignoring
from harness.oracle import torch_forward, torch_grads
from harness.registry import REGISTRY, Allowance, BadInput, OpSpec, Property, Variant, register
from harness.values import FAMILIES, cast, infinite, nonfinite

FAMILY_NAMES = ("normal", "wide", "zeros")


def _only(table: dict[str, tuple[tuple[int, ...], ...]]):
    return lambda variant, shape: shape in table[variant.label]


def _shapes(table: dict[str, tuple[tuple[int, ...], ...]]) -> tuple[tuple[int, ...], ...]:
    return tuple(dict.fromkeys(s for shapes in table.values() for s in shapes))


def _full_row(rng, mask: np.ndarray, value) -> np.ndarray:
    """``mask`` with one random row (along the second-to-last axis) set to ``value`` everywhere."""
    mask = mask.copy()
    mask[..., rng.integers(mask.shape[-2]), :] = value
    return mask


# -- scaled_dot_product_attention ----------------------------------------------------------------------

def _bool_to_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, float("-inf"))


def torch_sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, dropout_mask=None):
    """F.scaled_dot_product_attention; with 0 < dropout_p < 1 its math kernel given the keep-mask (a
    boolean attn_mask converted to the -inf bias F.sdpa would pass it)."""
    if 0 < dropout_p < 1:
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            attn_mask = _bool_to_bias(attn_mask, q.dtype)
        return torch.ops.aten._scaled_dot_product_attention_math(
            q, k, v, attn_mask, dropout_p, is_causal, dropout_mask, scale=scale
        )[0]
    return F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale=scale)


def _sdpa_shapes(q: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """k, v and the scores for a query of shape q: S = L + 2 keys, values of size E + 2."""
    *batch, length, e = q
    s = length + 2
    return (*batch, s, e), (*batch, s, e + 2), (*batch, length, s)


def _sdpa_sample(rng, dtype, shape, fam, variant, hints):
    k_shape, v_shape, scores = _sdpa_shapes(shape)
    draw = FAMILIES[fam]
    out = {n: draw(rng, s, dtype, hints) for n, s in (("q", shape), ("k", k_shape), ("v", v_shape))}
    how = variant.sampling.get("mask")
    if how == "bool":  # (L, S), broadcast over the batch; True = takes part; one row fully masked
        out["attn_mask"] = _full_row(rng, rng.random(scores[-2:]) < 0.7, False)
    elif how == "float":  # (1, L, S): additive, with -inf entries and one row all -inf
        m = np.where(rng.random(scores[-2:]) < 0.2, -np.inf, rng.standard_normal(scores[-2:]))
        out["attn_mask"] = cast(_full_row(rng, m, -np.inf)[None], dtype)
    p = variant.options.get("dropout_p", 0.0)
    if 0 < p < 1:
        out["dropout_mask"] = rng.random(scores) >= p  # True = keep, with probability 1 - p
    return out


SDPA_SHAPES = {
    "": ((3, 4), (2, 3, 4), (2, 2, 5, 4), (0, 3, 4)),
    "mask=bool": ((2, 3, 4), (2, 2, 5, 4)),
    "mask=float": ((2, 3, 4), (2, 2, 5, 4)),
    "is_causal,scale=0.3": ((2, 2, 5, 4),),
    "dropout_p=0.3,mask=float": ((2, 3, 4), (2, 2, 5, 4)),
    "dropout_p=1": ((2, 3, 4),),
}
SDPA_VARIANTS = (
    Variant(""),
    Variant("mask=bool", sampling={"mask": "bool"}),
    Variant("mask=float", sampling={"mask": "float"}),
    Variant("is_causal,scale=0.3", {"is_causal": True, "scale": 0.3}),  # L < S: top-left aligned, i sees 0..i
    Variant("dropout_p=0.3,mask=float", {"dropout_p": 0.3}, {"mask": "float"}),
    Variant("dropout_p=1", {"dropout_p": 1.0}),
)


def _sdpa_call(q=(2, 3, 4), k=(2, 5, 4), v=(2, 5, 6), **options):
    return lambda rng: ((np.ones(q), np.ones(k), np.ones(v)), options)


SDPA = "scaled_dot_product_attention"


def _sdpa_typed(name: str, dtype):
    """Valid float64 shapes with the input ``name`` of another dtype."""
    return changing(_sdpa_call(), ("q", "k", "v"), name, lambda a: a.astype(dtype))


SDPA_BAD = (
    BadInput("qk_embedding", _sdpa_call(k=(2, 5, 3)), ValueError, r"embedding size.*\(2, 3, 4\).*\(2, 5, 3\)"),
    BadInput("kv_length", _sdpa_call(v=(2, 4, 6)), ValueError, r"sequence length.*\(2, 5, 4\).*\(2, 4, 6\)"),
    BadInput("batch", _sdpa_call(k=(3, 5, 4), v=(3, 5, 6)), ValueError, "batch dimensions"),
    BadInput("q_1d", _sdpa_call(q=(4,)), ValueError, r"2 or more dimensions"),
    BadInput("k_1d", _sdpa_call(q=(3, 4), k=(4,), v=(5, 6)), ValueError, r"2 or more dimensions.*\(4,\)"),
    BadInput("v_1d", _sdpa_call(q=(3, 4), k=(5, 4), v=(5,)), ValueError, r"2 or more dimensions.*\(5,\)"),
    *(BadInput(f"{n}_int64", _sdpa_typed(n, np.int64), TypeError, rf"^{SDPA}: {n} must be a floating") for n in "kv"),
    *(BadInput(f"{n}_dtype", _sdpa_typed(n, np.float32), TypeError, rf"share one dtype, got .*\b{n}: float32")
      for n in "qkv"),
    BadInput("mask_shape", _sdpa_call(attn_mask=np.ones((3, 4), bool)), ValueError, r"\(3, 4\).*\(2, 3, 5\)"),
    BadInput("mask_enlarges", _sdpa_call(q=(1, 3, 4), k=(1, 5, 4), v=(1, 5, 6), attn_mask=np.ones((2, 3, 5), bool)),
             ValueError, r"\(2, 3, 5\) does not broadcast to the scores' shape \(1, 3, 5\)"),
    BadInput("mask_dtype", _sdpa_call(attn_mask=np.ones((3, 5), np.float32)), TypeError,
             r"a float attn_mask must have the inputs' dtype float64, got float32"),
    BadInput("mask_int64", _sdpa_call(attn_mask=np.ones((3, 5), np.int64)), TypeError,
             r"attn_mask must be a floating-point array"),
    BadInput("causal_and_mask", _sdpa_call(attn_mask=np.ones((3, 5), bool), is_causal=True), ValueError, "not both"),
    BadInput("dropout_p", _sdpa_call(dropout_p=1.5), ValueError, "between 0 and 1, got 1.5"),
    BadInput("no_dropout_mask", _sdpa_call(dropout_p=0.5), ValueError, "keep-mask"),
    BadInput("dropout_mask_shape", _sdpa_call(dropout_p=0.5, dropout_mask=np.ones((3, 5), bool)), ValueError,
             r"dropout_mask has shape \(3, 5\).*\(2, 3, 5\)"),
)


def _math_kernel(ctx) -> None:
    """The dropout variant's reference, probed: (a) with dropout_p = 0 the math kernel equals
    F.scaled_dot_product_attention (3-D: math path, 4-D: flash path; with a fully masked row, which is 0
    in both); (b) with dropout_p > 0 and a keep-mask it computes ``(softmax * keep / (1 - p)) @ v`` and
    returns the masked unscaled weights."""
    kernel = torch.ops.aten._scaled_dot_product_attention_math
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        for q_shape in ((2, 3, 4), (2, 2, 5, 4)):
            k_shape, v_shape, scores = _sdpa_shapes(q_shape)
            q, k, v = (torch.from_numpy(ctx.rng.standard_normal(s)).to(dt.torch) for s in (q_shape, k_shape, v_shape))
            mask = torch.from_numpy(_full_row(ctx.rng, ctx.rng.random(scores[-2:]) < 0.7, False))
            for m, causal in ((None, False), (mask, False), (None, True)):
                want = F.scaled_dot_product_attention(q, k, v, m, is_causal=causal)
                bias = None if m is None else _bool_to_bias(m, dt.torch)
                got = kernel(q, k, v, bias, 0.0, causal, torch.ones(scores, dtype=torch.bool))[0]
                ctx.compare("math_kernel(p=0)", to_numpy(got), to_numpy(want), dt, dt.default_tol, {},
                            oracle=f"F.scaled_dot_product_attention {q_shape} mask={m is not None} causal={causal}")
            p = 0.3
            keep = torch.from_numpy(ctx.rng.random(scores) >= p)
            out, attn = kernel(q, k, v, None, p, False, keep)
            weights = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, -1)
            ctx.compare("math_kernel(p=0.3) out", to_numpy(out), to_numpy((weights * keep / (1 - p)) @ v), dt,
                        dt.default_tol, {}, oracle="(softmax * keep / (1 - p)) @ v")
            ctx.compare("math_kernel(p=0.3) attn", to_numpy(attn), to_numpy(weights * keep), dt, dt.default_tol, {},
                        oracle="softmax * keep")


def _dropout_rng(ctx) -> None:
    """Dropout drawn from a seeded Generator (no injected mask): the keep-mask is
    ``rng.random(scores) >= dropout_p``, so out and every gradient equal torch's math kernel given the
    mask drawn that way from the same seed, in float32 and float64."""
    fwd, bwd = ctx.impl.get(f"{SDPA}_forward"), ctx.impl.get(f"{SDPA}_backward")
    p = 0.3
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        for q_shape in ((2, 3, 4), (2, 2, 5, 4)):
            k_shape, v_shape, scores = _sdpa_shapes(q_shape)
            shapes = {"q": q_shape, "k": k_shape, "v": v_shape}
            arrays = {n: cast(ctx.rng.standard_normal(s), dt) for n, s in shapes.items()}
            seed = int(ctx.rng.integers(2**31))
            out, cache = fwd(**arrays, dropout_p=p, rng=np.random.default_rng(seed))
            dout = cast(ctx.rng.standard_normal(out.shape), dt)
            grads = bwd(cache, dout)
            keep = np.random.default_rng(seed).random(scores) >= p
            given = Variant("", {"dropout_p": p, "dropout_mask": torch.from_numpy(keep)})
            drawn = f"keep-mask = Generator({seed}).random({scores}) >= {p}"
            ctx.compare("out", out, torch_forward(REGISTRY[SDPA], given, arrays)["out"], dt, dt.default_tol, arrays,
                        signed_zeros=False, oracle=f"math kernel, {drawn}")
            for n, g in torch_grads(REGISTRY[SDPA], given, arrays, {"out": dout}).items():
                ctx.compare(f"d{n}", grads[f"d{n}"], g, dt, dt.default_tol, arrays, signed_zeros=False,
                            oracle=f"math kernel autograd, keep-mask drawn from Generator({seed})")


def _sdpa_infinite_dout(ctx) -> None:
    """A dout holding ±inf and 0 (the op's families are finite, so test_extreme does not reach it): every
    gradient against torch autograd, warning-free, without and with a float mask, in float32 and float64."""
    fwd, bwd = ctx.impl.get(f"{SDPA}_forward"), ctx.impl.get(f"{SDPA}_backward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        for variant in SDPA_VARIANTS[:3]:
            arrays = _sdpa_sample(ctx.rng, dt, (2, 3, 4), "normal", variant, None)
            out, cache = fwd(**arrays, **variant.options)
            dout = infinite(ctx.rng, out.shape, dt, None)
            grads = bwd(cache, dout)
            for k, g in torch_grads(REGISTRY[SDPA], variant, arrays, {"out": dout}).items():
                ctx.compare(f"d{k}", grads[f"d{k}"], g, dt, dt.default_tol, {**arrays, "dout": dout},
                            signed_zeros=False, oracle=f"torch autograd, dout holding ±inf and 0 ({variant.label})")


def _sdpa_nonfinite_inputs(ctx) -> None:
    """q, k and v holding NaN and ±inf (the op's families are finite, so test_extreme does not reach it):
    out against torch, warning-free (-inf + inf and inf * 0 in the scores), for each variant and shape in
    float32 and float64."""
    fwd = ctx.impl.get(f"{SDPA}_forward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        for variant in SDPA_VARIANTS:
            for shape in SDPA_SHAPES[variant.label]:
                arrays = _sdpa_sample(ctx.rng, dt, shape, "normal", variant, None)
                arrays |= {k: nonfinite(ctx.rng, arrays[k].shape, dt, None) for k in "qkv"}
                out, _ = fwd(**arrays, **variant.options)
                t = {k: to_torch(a) for k, a in arrays.items()}
                ctx.compare("out", out, to_numpy(torch_sdpa(**t, **variant.options)), dt, dt.default_tol, arrays,
                            signed_zeros=False, oracle=f"F.scaled_dot_product_attention, NaN/±inf in q, k, v "
                            f"({variant.label or 'default'}, {shape})")


def _one_max_facing(rng, a: np.ndarray, other: np.ndarray, dt) -> np.ndarray:
    """``a`` with one element at ±max, in a column e whose entries in ``other`` (the same batch) include
    one beyond ±1: the sums it takes part in (over e, against ``other``) each have exactly one huge term,
    which overflows against those entries, so their values do not depend on the order of summation."""
    a = a.copy()
    at = np.unravel_index(rng.integers(a.size), a.shape)
    columns = np.flatnonzero((np.abs(other[at[:-2]]) > 1).any(axis=0))
    a[(*at[:-1], rng.choice(columns))] = rng.choice([-1.0, 1.0]) * float(dt.finfo.max)
    return a


def _sdpa_one_max(ctx) -> None:
    """Finite overflows, warning-free: (a) q with one ±max element (scale 1: torch scales q and k by
    sqrt(scale) each before q k^T, the reference q k^T after, so only scale 1 overflows the same products),
    out against torch; (b) a dout with one ±max element, its products with v overflowing in dout v^T:
    every gradient against torch autograd. In float32 and float64, 2-D and 3-D (math kernel)."""
    fwd, bwd = ctx.impl.get(f"{SDPA}_forward"), ctx.impl.get(f"{SDPA}_backward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        for shape in ((3, 4), (2, 3, 4)):
            arrays = _sdpa_sample(ctx.rng, dt, shape, "normal", SDPA_VARIANTS[0], None)
            huge = arrays | {"q": _one_max_facing(ctx.rng, arrays["q"], arrays["k"], dt)}
            out, _ = fwd(**huge, scale=1.0)
            want = torch_sdpa(**{k: to_torch(a) for k, a in huge.items()}, scale=1.0)
            ctx.compare("out", out, to_numpy(want), dt, dt.default_tol, huge, signed_zeros=False,
                        oracle=f"F.scaled_dot_product_attention(scale=1), one ±max in q {shape}")
            out, cache = fwd(**arrays)
            dout = _one_max_facing(ctx.rng, cast(ctx.rng.standard_normal(out.shape), dt), arrays["v"], dt)
            grads = bwd(cache, dout)
            for k, g in torch_grads(REGISTRY[SDPA], Variant(), arrays, {"out": dout}).items():
                ctx.compare(f"d{k}", grads[f"d{k}"], g, dt, dt.default_tol, {**arrays, "dout": dout},
                            signed_zeros=False, oracle=f"torch autograd, one ±max in dout {shape}")


def _large_scores(ctx) -> None:
    """Scores just above 2^(mantissa + 1), where the dtype's spacing is 2, each 2 apart and exact (scale
    1, integer q and k; torch scales q and k by sqrt(scale) = 1): a boolean mask's kept entries must add
    exactly 0 (any other bias rounds them, and the weights of nearby scores move far beyond the
    tolerance). out against torch, in float32 and float64."""
    fwd = ctx.impl.get(f"{SDPA}_forward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        base = 2.0 ** (dt.finfo.nmant + 1)
        q = cast(np.array([[base + 2, 2.0], [base + 2, -2.0]]), dt)
        k = cast(np.array([[1.0, 0.0], [1.0, -1.0], [1.0, -2.0], [1.0, 1.0]]), dt)  # scores base + 2 - 2j ...
        v = cast(ctx.rng.standard_normal((4, 3)), dt)
        mask = np.array([[True, True, True, False]] * 2)
        out, _ = fwd(q, k, v, attn_mask=mask, scale=1.0)
        want = torch_sdpa(to_torch(q), to_torch(k), to_torch(v), torch.from_numpy(mask), scale=1.0)
        ctx.compare("out", out, to_numpy(want), dt, dt.default_tol, {"q": q, "k": k, "v": v},
                    oracle=f"F.scaled_dot_product_attention(scale=1), scores near 2^{dt.finfo.nmant + 1}")


def _mask_grads(ctx) -> None:
    """Only a float attn_mask is differentiated: with a boolean mask or is_causal the backward returns
    dq, dk and dv alone, as torch gives a boolean mask no gradient."""
    fwd, bwd = ctx.impl.get(f"{SDPA}_forward"), ctx.impl.get(f"{SDPA}_backward")
    q, k, v = (ctx.rng.standard_normal(s) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 6)))
    for options, want in (
        ({}, {"dq", "dk", "dv"}),
        ({"attn_mask": ctx.rng.random((3, 5)) < 0.7}, {"dq", "dk", "dv"}),
        ({"is_causal": True}, {"dq", "dk", "dv"}),
        ({"attn_mask": ctx.rng.standard_normal((3, 5))}, {"dq", "dk", "dv", "dattn_mask"}),
    ):
        out, cache = fwd(q, k, v, **options)
        got = set(bwd(cache, np.ones_like(out)))
        if got != want:
            what = {n: getattr(a, "dtype", a) for n, a in options.items()}
            ctx.fail("gradients", f"{what}: backward returned {sorted(got)}, expected {sorted(want)}")


register(
    OpSpec(
        name="scaled_dot_product_attention",
        inputs=("q", "k", "v"),
        grads=("q", "k", "v", "attn_mask"),  # attn_mask only when it is a float (additive) mask
        torch_fn=torch_sdpa,
        sample=_sdpa_sample,
        shapes=_shapes(SDPA_SHAPES),
        families=FAMILY_NAMES,
        variants=SDPA_VARIANTS,
        applies=_only(SDPA_SHAPES),
        fd_max_size=80,  # includes the 4-D (flash-kernel) shape
        reduces=True,
        bad_inputs=SDPA_BAD,
        relations=(per_sample("q", "k", "v", "out", shape=(2, 3, 4)),),
        properties=(
            Property("math_kernel", _math_kernel, "the dropout reference agrees with F.sdpa at p = 0"),
            Property("dropout_rng", _dropout_rng, "dropout drawn from a seeded Generator: rng.random(shape) >= p"),
            Property("mask_grads", _mask_grads, "a boolean mask or is_causal gets no gradient"),
            Property("infinite_dout", _sdpa_infinite_dout, "a dout holding ±inf and 0, warning-free"),
            Property("nonfinite_inputs", _sdpa_nonfinite_inputs, "NaN and ±inf in q, k and v"),
            Property("one_max", _sdpa_one_max, "one ±max in q or dout: finite overflows, warning-free"),
            Property("large_scores", _large_scores, "exact scores spaced 2 apart: a boolean mask adds exactly 0"),
        ),
        doc="F.scaled_dot_product_attention: boolean/additive broadcast masks (a fully masked row gives 0), "
        "is_causal, scale, dropout by an injected keep-mask (torch's math kernel); gradient for a float mask",
    )
)


# -- multi_head_attention ----------------------------------------------------------------------------

E = 6


def torch_mha(
    query, key, value, num_heads, in_proj_weight=None, in_proj_bias=None, out_proj_weight=None, out_proj_bias=None,
    q_proj_weight=None, k_proj_weight=None, v_proj_weight=None, key_padding_mask=None, attn_mask=None,
    need_weights=True, average_attn_weights=True, batch_first=False,
):
    """F.multi_head_attention_forward as nn.MultiheadAttention calls it (transposing batch_first inputs)."""
    swap = batch_first and query.dim() == 3
    if swap:
        query, key, value = (x.transpose(1, 0) for x in (query, key, value))
    out, weights = F.multi_head_attention_forward(
        query, key, value, query.shape[-1], num_heads, in_proj_weight, in_proj_bias, None, None, False, 0.0,
        out_proj_weight, out_proj_bias, training=True, key_padding_mask=key_padding_mask, need_weights=need_weights,
        attn_mask=attn_mask, use_separate_proj_weight=q_proj_weight is not None, q_proj_weight=q_proj_weight,
        k_proj_weight=k_proj_weight, v_proj_weight=v_proj_weight, average_attn_weights=average_attn_weights,
    )
    return (out.transpose(1, 0) if swap else out), weights


def _layout(shape: tuple[int, ...], batch_first: bool) -> tuple[int, int]:
    """(N, L) of a query of ``shape`` (N = 0 marks an unbatched (L, E) query)."""
    if len(shape) == 2:
        return 0, shape[0]
    return (shape[0], shape[1]) if batch_first else (shape[1], shape[0])


def _seq(n: int, length: int, dim: int, batch_first: bool) -> tuple[int, ...]:
    if n == 0:
        return (length, dim)
    return (n, length, dim) if batch_first else (length, n, dim)


def _weight(rng, shape, fam, values=False):
    """float64 weights of std 1/sqrt(fan_in). In the wide family (inputs in [-1000, 1000]) the query and
    key projections have std 0.1/sqrt(fan_in): projections ~60, scores ~3000 (at most ~15000, which
    float16 holds), a saturated softmax; the value projection has std 0.001/sqrt(fan_in), so values are
    O(1). With values of ~60, dout_proj_weight is a 32-term sum of ~60-sized terms that cancels to ~10,
    and its float32 rounding (~1e-4) exceeds atol in torch as in the reference (measured against
    float64: torch 1.3e-4, reference 7.3e-5)."""
    std = ((0.001 if values else 0.1) if fam == "wide" else 1.0) / np.sqrt(shape[-1])
    return rng.standard_normal(shape) * std


def _mha_masks(rng, dtype, n: int, length: int, s: int, h: int, how: str) -> dict[str, np.ndarray]:
    batch = max(n, 1)
    if how == "bool":  # True = masked; padding at the ends, key 0 always visible: no fully masked row
        keep = rng.integers(1, s + 1, size=batch)
        kpm = np.arange(s) >= keep[:, None]
        am = rng.random((length, s)) < 0.3
        am[:, 0] = False
        return {"key_padding_mask": kpm if n else kpm[0], "attn_mask": am}
    if how == "float":  # additive: a (N * H, L, S) attn_mask and a padding bias with -inf after key 0
        kpm = np.where(rng.random((batch, s)) < 0.3, -np.inf, 0.5 * rng.standard_normal((batch, s)))
        kpm[:, 0] = 0.0
        return {"key_padding_mask": cast(kpm if n else kpm[0], dtype),
                "attn_mask": cast(rng.standard_normal((batch * h, length, s)), dtype)}
    if how == "full":  # one query row masked for every key, one sample all padding: NaN as in torch
        kpm = np.zeros((batch, s), bool)
        kpm[0] = True
        return {"key_padding_mask": kpm, "attn_mask": _full_row(rng, rng.random((length, s)) < 0.3, True)}
    return {}


SATURATED = 1e-13  # exp(-30): the scores' top two are at least 30 apart


def _saturated(arrays: dict[str, np.ndarray], variant: Variant) -> bool:
    """Every row of attention weights one-hot to within SATURATED (or NaN, fully masked), in float64."""
    t = {k: torch.from_numpy(a.astype(np.float64) if a.dtype != bool else a) for k, a in arrays.items()}
    _, weights = torch_mha(**t, **{**variant.options, "average_attn_weights": False})
    second = torch.topk(weights, 2, dim=-1).values[..., 1] if weights.shape[-1] > 1 else weights[..., 0] * 0
    return bool(((second <= SATURATED) | second.isnan()).all())


def _mha_sample(rng, dtype, shape, fam, variant, hints):
    """The wide family is redrawn until the softmax saturates in every row: where two scores of ~3000 are
    within a few units, float32 rounding of the scores (~1e-3) moves the weights by ~1e-4 relative and
    torch's own error against float64 exceeds the float32 tolerance (measured: din_proj_weight 3e-5
    relative), so near-ties are left out of the family that means "saturated"."""
    for _ in range(100):  # in practice at most 3 draws
        arrays = _mha_draw(rng, dtype, shape, fam, variant, hints)
        if fam != "wide" or _saturated(arrays, variant):
            return arrays
    raise RuntimeError(f"multi_head_attention sampler: no saturated draw in 100 for {shape} {variant.label}")


def _mha_draw(rng, dtype, shape, fam, variant, hints):
    opts, smp = variant.options, variant.sampling
    h, batch_first = opts.get("num_heads", 2), opts.get("batch_first", False)
    n, length = _layout(shape, batch_first)
    s, kdim, vdim = length + 1, smp.get("kdim", E), smp.get("vdim", E)
    draw = FAMILIES[fam]
    out = {
        "query": draw(rng, shape, dtype, hints),
        "key": draw(rng, _seq(n, s, kdim, batch_first), dtype, hints),
        "value": draw(rng, _seq(n, s, vdim, batch_first), dtype, hints),
    }
    w = {f"{x}_proj_weight": _weight(rng, (E, d), fam, x == "v") for x, d in zip("qkv", (E, kdim, vdim), strict=True)}
    if kdim == vdim == E:
        w = {"in_proj_weight": np.concatenate(list(w.values()))}
    out |= {n: cast(a, dtype) for n, a in w.items()}
    out["out_proj_weight"] = cast(_weight(rng, (E, E), fam), dtype)
    if smp.get("bias", True):
        out["in_proj_bias"] = cast(0.1 * rng.standard_normal(3 * E), dtype)
        out["out_proj_bias"] = cast(0.1 * rng.standard_normal(E), dtype)
    return out | _mha_masks(rng, dtype, n, length, s, h, smp.get("masks"))


MHA_SHAPES = {
    "": ((3, 2, E), (4, E), (8, 4, E)),
    "num_heads=3,average=False": ((3, 2, E),),
    "batch_first,bias=False": ((2, 3, E),),
    "kdim=4,vdim=5": ((3, 2, E),),
    "masks=bool": ((3, 2, E), (4, E)),
    "masks=float,num_heads=3": ((3, 2, E),),
    "masks=full_rows": ((4, 3, E),),  # above fd_max_size: NaN losses are no finite-difference oracle
}
MHA_VARIANTS = (
    Variant("", {"num_heads": 2}),
    Variant("num_heads=3,average=False", {"num_heads": 3, "average_attn_weights": False}),
    Variant("batch_first,bias=False", {"num_heads": 2, "batch_first": True}, {"bias": False}),
    Variant("kdim=4,vdim=5", {"num_heads": 2}, {"kdim": 4, "vdim": 5}),
    Variant("masks=bool", {"num_heads": 2}, {"masks": "bool"}),
    Variant("masks=float,num_heads=3", {"num_heads": 3}, {"masks": "float"}),
    Variant("masks=full_rows", {"num_heads": 2}, {"masks": "full"}),
)
MHA_GRADS = (
    "query", "key", "value", "in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias",
    "q_proj_weight", "k_proj_weight", "v_proj_weight",
)


def _need_weights_false(ctx) -> None:
    """need_weights=False: the weights are None and torch runs F.sdpa (a fully masked row gives 0, not
    NaN): out and every gradient of <out, dout> against torch, with one query row and one sample fully
    masked, in float32 and float64."""
    fwd, bwd = ctx.impl.get("multi_head_attention_forward"), ctx.impl.get("multi_head_attention_backward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        variant = Variant("masks=full_rows", {"num_heads": 2, "need_weights": False}, {"masks": "full"})
        arrays = _mha_sample(ctx.rng, dt, (3, 2, E), "normal", variant, None)
        (out, weights), cache = fwd(**arrays, **variant.options)
        if weights is not None:
            ctx.fail("attn_weights", f"need_weights=False must return None weights, got {type(weights).__name__}")
        dout = cast(ctx.rng.standard_normal(out.shape), dt)
        grads = bwd(cache, (dout, None))
        t = {k: to_torch(a, requires_grad=a.dtype == dt.np) for k, a in arrays.items()}
        t_out, _ = torch_mha(**t, **variant.options)
        names = [k for k in MHA_GRADS if k in t]
        t_grads = torch.autograd.grad(t_out, [t[k] for k in names], to_torch(dout))
        ctx.compare("out", out, to_numpy(t_out), dt, dt.default_tol, arrays, signed_zeros=False,
                    oracle="F.multi_head_attention_forward(need_weights=False)")
        for k, g in zip(names, t_grads, strict=True):
            ctx.compare(f"d{k}", grads[f"d{k}"], to_numpy(g), dt, dt.default_tol, arrays, signed_zeros=False,
                        oracle="torch autograd, need_weights=False")


def _unused_weights(ctx) -> None:
    """need_weights=True with the weights unused: a backward given ``(dout, None)`` or ``dout`` alone
    differentiates <out, dout> only (torch autograd of out), in float32 and float64; a weights gradient
    of the wrong shape is rejected."""
    fwd, bwd = ctx.impl.get("multi_head_attention_forward"), ctx.impl.get("multi_head_attention_backward")
    variant = MHA_VARIANTS[0]
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        arrays = _mha_sample(ctx.rng, dt, (3, 2, E), "normal", variant, None)
        (out, weights), cache = fwd(**arrays, **variant.options)
        dout = cast(ctx.rng.standard_normal(out.shape), dt)
        want = torch_grads(REGISTRY["multi_head_attention"], variant, arrays, {"out": dout})
        for how, d in (("(dout, None)", (dout, None)), ("dout alone", dout)):
            grads = bwd(cache, d)
            for k, g in want.items():
                ctx.compare(f"d{k}", grads[f"d{k}"], g, dt, dt.default_tol, arrays,
                            signed_zeros=False, oracle=f"torch autograd of out only, backward given {how}")
        bad = np.zeros(weights.shape[:-1] + (weights.shape[-1] + 1,), weights.dtype)
        try:
            bwd(cache, (dout, bad))
        except ValueError as err:
            if not str(err).startswith("multi_head_attention: dout"):
                ctx.fail("dattn_weights", f"the error must start with 'multi_head_attention: dout', got {err}")
        else:
            ctx.fail("dattn_weights", f"a weights gradient {bad.shape} for weights {weights.shape} was accepted")


def _infinite_dout(ctx) -> None:
    """The extreme check's douts for multi_head_attention (its families hold no non-finite values, so
    test_extreme does not reach it): dout and the weights' gradient holding ±inf and 0, every gradient
    against torch autograd, warning-free, for each variant in float32 and float64."""
    fwd, bwd = ctx.impl.get("multi_head_attention_forward"), ctx.impl.get("multi_head_attention_backward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        for variant in MHA_VARIANTS:
            arrays = _mha_sample(ctx.rng, dt, MHA_SHAPES[variant.label][0], "normal", variant, None)
            (out, weights), cache = fwd(**arrays, **variant.options)
            douts = tuple(infinite(ctx.rng, a.shape, dt, None) for a in (out, weights))
            grads = bwd(cache, douts)
            want = torch_grads(REGISTRY["multi_head_attention"], variant, arrays,
                               dict(zip(("out", "attn_weights"), douts, strict=True)))
            shown = {**arrays, "dout": douts[0], "dout_attn_weights": douts[1]}
            for k, g in want.items():
                ctx.compare(f"d{k}", grads[f"d{k}"], g, dt, dt.default_tol, shown, signed_zeros=False,
                            oracle=f"torch autograd, douts holding ±inf and 0 ({variant.label or 'default'})")


def _one_mask(ctx) -> None:
    """One head, and each mask alone (the registry's masked variants give both): out and weights against
    torch, in float32 and float64, for an attn_mask alone and a key_padding_mask alone."""
    fwd = ctx.impl.get("multi_head_attention_forward")
    variant = Variant("masks=bool", {"num_heads": 1}, {"masks": "bool"})
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        arrays = _mha_sample(ctx.rng, dt, (3, 2, E), "normal", variant, None)
        for alone in ("attn_mask", "key_padding_mask"):
            one = {k: a for k, a in arrays.items() if k != ({"attn_mask", "key_padding_mask"} - {alone}).pop()}
            (out, weights), _ = fwd(**one, **variant.options)
            t_out, t_weights = torch_mha(**{k: to_torch(a) for k, a in one.items()}, **variant.options)
            for what, got, want in (("out", out, t_out), ("attn_weights", weights, t_weights)):
                ctx.compare(what, got, to_numpy(want), dt, dt.default_tol, one, signed_zeros=False,
                            oracle=f"F.multi_head_attention_forward, num_heads=1, {alone} alone")


def _nonfinite_inputs(ctx) -> None:
    """query, key and value holding NaN and ±inf (the op's families are finite): out and weights against
    torch, warning-free, for each variant in float32 and float64."""
    fwd = ctx.impl.get("multi_head_attention_forward")
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        for variant in MHA_VARIANTS:
            arrays = _mha_sample(ctx.rng, dt, MHA_SHAPES[variant.label][0], "normal", variant, None)
            arrays |= {k: nonfinite(ctx.rng, arrays[k].shape, dt, None) for k in ("query", "key", "value")}
            (out, weights), _ = fwd(**arrays, **variant.options)
            t_out, t_weights = torch_mha(**{k: to_torch(a) for k, a in arrays.items()}, **variant.options)
            for what, got, want in (("out", out, t_out), ("attn_weights", weights, t_weights)):
                ctx.compare(what, got, to_numpy(want), dt, dt.default_tol, arrays, signed_zeros=False,
                            oracle=f"F.multi_head_attention_forward, NaN/±inf inputs ({variant.label or 'default'})")


def _mha_one_max(ctx) -> None:
    """Finite overflows in the out-projection, warning-free, each overflowing sum with exactly one huge
    term, so its value does not depend on the order of summation. The value projection's bias is ±4, so
    every head output is beyond ±1 and each product of it with ±max overflows (a finite huge product
    would carry the heads' relative rounding error, which in float32 exceeds the tolerance where they
    cancel): (a) out_proj_weight with one ±max entry (the rest of its row 0): out and weights against
    torch; (b) out_proj_weight with a zero row and a dout with one ±max element in that row's output:
    dout_proj_weight overflows, every gradient against torch autograd. Default variant, float32 and
    float64."""
    fwd, bwd = ctx.impl.get("multi_head_attention_forward"), ctx.impl.get("multi_head_attention_backward")
    variant = MHA_VARIANTS[0]
    for name in ("float32", "float64"):
        dt = DTYPES[name]
        big = float(dt.finfo.max)
        for shape in MHA_SHAPES[""][:2]:
            arrays = _mha_sample(ctx.rng, dt, shape, "normal", variant, None)
            arrays["in_proj_bias"][2 * E :] = ctx.rng.choice([-4.0, 4.0], E)
            row = ctx.rng.integers(E)
            w = arrays["out_proj_weight"].copy()
            w[row] = 0
            w[row, ctx.rng.integers(E)] = ctx.rng.choice([-1.0, 1.0]) * big
            huge = arrays | {"out_proj_weight": w}
            (out, weights), _ = fwd(**huge, **variant.options)
            t_out, t_weights = torch_mha(**{k: to_torch(a) for k, a in huge.items()}, **variant.options)
            for what, got, want in (("out", out, t_out), ("attn_weights", weights, t_weights)):
                ctx.compare(what, got, to_numpy(want), dt, dt.default_tol, huge, signed_zeros=False,
                            oracle=f"F.multi_head_attention_forward, one ±max in out_proj_weight {shape}")
            w[row] = 0
            zero_row = arrays | {"out_proj_weight": w}
            (out, weights), cache = fwd(**zero_row, **variant.options)
            dout = cast(ctx.rng.standard_normal(out.shape), dt)
            dout[(*np.unravel_index(ctx.rng.integers(out.size // E), out.shape[:-1]), row)] = (
                ctx.rng.choice([-1.0, 1.0]) * big
            )
            grads = bwd(cache, (dout, None))
            for k, g in torch_grads(REGISTRY["multi_head_attention"], variant, zero_row, {"out": dout}).items():
                ctx.compare(f"d{k}", grads[f"d{k}"], g, dt, dt.default_tol, {**zero_row, "dout": dout},
                            signed_zeros=False, oracle=f"torch autograd, one ±max in dout {shape}")


def _mha_call(q=(3, 2, E), k=(4, 2, E), v=(4, 2, E), num_heads=2, **arrays):
    def build(rng):
        params = {"in_proj_weight": np.ones((3 * E, E)), "out_proj_weight": np.ones((E, E))}
        params |= arrays
        return (np.ones(q), np.ones(k), np.ones(v), num_heads), {n: a for n, a in params.items() if a is not None}

    return build


def _mha_typed(name: str, dtype):
    """``_mha_call()`` with the input ``name`` (query, key or value) of another dtype."""
    return changing(_mha_call(), ("query", "key", "value"), name, lambda a: a.astype(dtype))


def _separate(**given):
    """Separate projection weights for key and value of sizes 4 and 5 (no packed in_proj_weight)."""
    weights = {"q_proj_weight": np.ones((E, E)), "k_proj_weight": np.ones((E, 4)), "v_proj_weight": np.ones((E, 5))}
    return _mha_call(k=(4, 2, 4), v=(4, 2, 5), **({"in_proj_weight": None} | weights | given))


_PROJ = (("q_proj_weight", E), ("k_proj_weight", 4), ("v_proj_weight", 5))
MHA_BAD = (
    *(BadInput(f"{n}_int64", _mha_typed(n, np.int64), TypeError, rf"^multi_head_attention: {n} must be a floating")
      for n in ("key", "value")),
    *(BadInput(f"{n}_dtype", _mha_typed(n, np.float32), TypeError,
               rf"^multi_head_attention: inputs must share one dtype, got .*\b{n}: float32")
      for n in ("query", "key", "value")),
    BadInput("value_2d", _mha_call(v=(4, E)), ValueError, r"^multi_head_attention: expected query, key and value all"),
    BadInput("all_4d", _mha_call(q=(3, 2, 1, E), k=(4, 2, 1, E), v=(4, 2, 1, E)), ValueError,
             r"all 3-D \(batched\) or all 2-D \(unbatched\), got \(3, 2, 1, 6\)"),
    BadInput("num_heads_zero", _mha_call(num_heads=0), ValueError, "must be divisible by num_heads, got num_heads=0"),
    BadInput("value_length", _mha_call(v=(5, 2, E)), ValueError, "key and value in sequence length"),
    BadInput("packed_and_separate", _separate(in_proj_weight=np.ones((3 * E, E))), ValueError,
             r"^multi_head_attention: give in_proj_weight or q/k/v_proj_weight, not both$"),
    *(BadInput(f"no_{n}", _separate(**{n: None}), ValueError,
               rf"^multi_head_attention: {n} of shape \(6, {d}\) is required$") for n, d in _PROJ),
    BadInput("in_proj_bias_int64", _mha_call(in_proj_bias=np.zeros(3 * E, np.int64)), TypeError,
             r"^multi_head_attention: in_proj_bias must be a floating"),
    BadInput("in_proj_bias_shape", _mha_call(in_proj_bias=np.zeros(E)), ValueError,
             r"^multi_head_attention: in_proj_bias must have shape \(18,\), got \(6,\)"),
    BadInput("heads_not_divisor", _mha_call(num_heads=4), ValueError, "embed_dim 6 must be divisible by num_heads"),
    BadInput("qk_embedding", _mha_call(k=(4, 2, 5)), ValueError, r"kdim 5"),
    BadInput("key_padding_mask_shape", _mha_call(key_padding_mask=np.zeros((2, 3), bool)), ValueError,
             r"key_padding_mask must have shape \(2, 4\), got \(2, 3\)"),
    BadInput("attn_mask_shape", _mha_call(attn_mask=np.zeros((4, 4), bool)), ValueError,
             r"attn_mask must have shape \(3, 4\) or \(4, 3, 4\), got \(4, 4\)"),
    BadInput("in_proj_weight_shape", _mha_call(in_proj_weight=np.ones((3 * E, 5))), ValueError,
             r"in_proj_weight must have shape \(18, 6\)"),
    BadInput("no_out_proj_weight", _mha_call(out_proj_weight=None), ValueError,
             r"^multi_head_attention: out_proj_weight of shape \(6, 6\) is required$"),
    BadInput("out_proj_bias_shape", _mha_call(out_proj_bias=np.zeros(3 * E)), ValueError,
             r"^multi_head_attention: out_proj_bias must have shape \(6,\), got \(18,\)"),
    BadInput("batch", _mha_call(k=(4, 3, E), v=(4, 3, E)), ValueError, "batch size"),
    BadInput("weight_dtype", _mha_call(out_proj_weight=np.ones((E, E), np.float32)), TypeError,
             r"^multi_head_attention: out_proj_weight has dtype float32, but the query has dtype float64"),
    *(BadInput(f"{name}_dtype", _mha_call(**{name: np.zeros(shape, np.float32)}), TypeError,
               rf"^multi_head_attention: a float {name} must have the inputs' dtype float64, got float32")
      for name, shape in (("key_padding_mask", (2, 4)), ("attn_mask", (3, 4)))),
    *(BadInput(f"{name}_int64", _mha_call(**{name: np.zeros(shape, np.int64)}), TypeError,
               rf"^multi_head_attention: {name} must be a floating")
      for name, shape in (("key_padding_mask", (2, 4)), ("attn_mask", (3, 4)))),
)

register(
    OpSpec(
        name="multi_head_attention",
        inputs=("query", "key", "value"),
        grads=MHA_GRADS,
        torch_fn=torch_mha,
        sample=_mha_sample,
        shapes=_shapes(MHA_SHAPES),
        families=FAMILY_NAMES,
        variants=MHA_VARIANTS,
        applies=_only(MHA_SHAPES),
        outputs=("out", "attn_weights"),
        grad_outputs=2,  # torch differentiates the returned weights too
        allowance=Allowance(
            3.0, "in-projection, scaled product, softmax and out-projection chained: torch packs the projections "
            "in one product and scales q before q k^T; on single cases up to 2.04x torch's error (dquery 7.3 vs "
            "2.4 ULP), with equal maxima over all float32 cases",
        ),
        reduces=True,
        bad_inputs=MHA_BAD,
        relations=(Batch(axes={"query": 1, "key": 1, "value": 1, "out": 1, "attn_weights": 0}),),  # (L, N, E)
        properties=(
            Property("need_weights_false", _need_weights_false, "F.sdpa path: fully masked rows give 0"),
            Property("unused_weights", _unused_weights, "need_weights=True, backward without a weights gradient"),
            Property("infinite_dout", _infinite_dout, "douts holding ±inf and 0, warning-free"),
            Property("one_mask", _one_mask, "one head; attn_mask alone, key_padding_mask alone"),
            Property("nonfinite_inputs", _nonfinite_inputs, "NaN and ±inf in query, key and value"),
            Property("one_max", _mha_one_max, "one ±max in out_proj_weight or dout: finite overflows, warning-free"),
        ),
        doc="nn.MultiheadAttention (F.multi_head_attention_forward): packed or separate (kdim/vdim) "
        "in-projections, biases, key_padding_mask, attn_mask (bool or float, 2-D or per head), batch_first, "
        "unbatched input, weights averaged or per head (differentiated); fully masked rows are NaN as in torch",
    )
)


# -- sequence_cross_entropy --------------------------------------------------------------------------

def torch_sequence_cross_entropy(x, t, ignore_index=-100, reduction="mean"):
    loss = F.cross_entropy(x.reshape(-1, x.shape[-1]), t.reshape(-1), ignore_index=ignore_index, reduction=reduction)
    return loss.reshape(t.shape) if reduction == "none" else loss


def _padded(rng, t: np.ndarray, pad: int) -> np.ndarray:
    """Each sequence padded with ``pad`` after a random length of at least 1 (the first one not padded)."""
    n, steps = t.shape
    lengths = rng.integers(1, steps + 1, size=n)
    if n:
        lengths[0] = steps
    return np.where(np.arange(steps) >= lengths[:, None], pad, t)


def _sequence_sample(rng, dtype, shape, fam, variant, hints):
    x = FAMILIES[fam](rng, shape, dtype, hints)
    t = rng.integers(shape[-1], size=shape[:2])
    pad = variant.options.get("ignore_index", -100)
    how = variant.sampling.get("ignore")
    if how == "padding":
        t = _padded(rng, t, pad)
    elif how == "some":
        t = _ignoring(rng, t, "some", pad, shape[-1])
    return {"x": x, "t": t}


SEQ_SHAPES = {
    "": ((2, 5, 7), (4, 16, 33)),
    "padding": ((2, 5, 7),),
    "ignore_index=0,reduction=sum": ((2, 5, 7),),
    "reduction=none,padding": ((2, 5, 7), (0, 3, 4)),
}


def _seq_call(x=(2, 3, 4), t=((0, 1, 2), (3, 0, 1)), **options):
    return lambda rng: ((np.zeros(x), np.asarray(t)), options)


register(
    OpSpec(
        name="sequence_cross_entropy",
        inputs=("x", "t"),
        grads=("x",),
        torch_fn=torch_sequence_cross_entropy,
        sample=_sequence_sample,
        shapes=_shapes(SEQ_SHAPES),
        families=FAMILY_NAMES,
        variants=(
            Variant(""),
            Variant("padding", sampling={"ignore": "padding"}),
            Variant("ignore_index=0,reduction=sum", {"ignore_index": 0, "reduction": "sum"}, {"ignore": "some"}),
            Variant("reduction=none,padding", {"reduction": "none"}, {"ignore": "padding"}),
        ),
        applies=_only(SEQ_SHAPES),
        fd_max_size=70,
        reduces=True,
        bad_inputs=(
            BadInput("x_2d", _seq_call(x=(3, 4), t=(0, 1, 2)), ValueError, r"\(N, T, V\).*\(3, 4\)"),
            BadInput("t_shape", _seq_call(t=((0, 1), (2, 3))), ValueError, r"t \(2, 2\)"),
            BadInput("label_high", _seq_call(t=((0, 1, 4), (0, 0, 0))), ValueError, r"\[0, 4\)"),
            BadInput("reduction", _seq_call(reduction="avg"), ValueError, "'avg'"),
        ),
        relations=(ShiftInvariance(),),
        doc="language-model loss: F.cross_entropy over (N * T, V) rows, padding tokens = ignore_index; "
        "reduction='none' gives (N, T)",
        highprec=hp.sequence_cross_entropy,
    )
)
