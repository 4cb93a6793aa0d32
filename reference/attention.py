"""Attention: ``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention``, with torch's semantics.

Both share one core, ``_attend``: scores ``S = scale * Q K^T + bias`` over batched matrices, a softmax
over the keys, optional dropout of the attention weights by an injected keep-mask, and ``P V``. The
backward is the usual chain: ``dV = P^T dO``, ``dP = dO V^T``, ``dS = P * (dP - sum(dP * P))`` (the
softmax Jacobian-vector product), ``dQ = scale * dS K`` and ``dK = scale * dS^T Q``; an additive float
mask receives ``dS`` summed over the axes it was broadcast along, as torch differentiates it.

A row whose every score is masked (-inf) is where the two torch entry points differ, and each is
matched: ``F.scaled_dot_product_attention`` (and ``nn.MultiheadAttention`` with ``need_weights=False``,
which calls it) uses a "safe" softmax that gives such a row zero weights, so its output and gradients
are 0; ``nn.MultiheadAttention`` with ``need_weights=True`` uses a plain softmax, 0 / 0 = NaN, which
then spreads through the output projection.

float16/bfloat16 are computed in float32 and rounded once.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, same_dtype, unbroadcast, up, work_dtype
from reference.dropout import keep_mask
from reference.softmax import log_probs

__all__ = [
    "multi_head_attention_backward",
    "multi_head_attention_forward",
    "scaled_dot_product_attention_backward",
    "scaled_dot_product_attention_forward",
]


# -- the shared core ---------------------------------------------------------------------------------

def _softmax(s: Array, safe: bool) -> Array:
    """Softmax over the keys (last axis) through the project's log-sum-exp. ``safe``: a fully masked
    row (all -inf) gets zero weights, as torch's ``_safe_softmax``; otherwise it is NaN, as ``softmax``."""
    with np.errstate(invalid="ignore"):
        p = np.exp(log_probs(s, axis=-1))
    if safe:
        p = np.where(np.all(s == -np.inf, axis=-1, keepdims=True), p.dtype.type(0), p)
    return p


def _mask_bias(op: str, name: str, mask: object, dtype: np.dtype, keep_if: bool) -> Array | None:
    """A mask as an additive bias on the scores, in working precision: a boolean mask is -inf where an
    entry does not take part (``mask != keep_if``), a float mask is added as it is (it must have the
    inputs' dtype, as in torch)."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return np.where(mask == keep_if, 0.0, -np.inf).astype(work_dtype(dtype))
    mask = floating(op, name, mask)
    if mask.dtype != dtype:
        raise TypeError(f"{op}: a float {name} must have the inputs' dtype {dtype}, got {mask.dtype}")
    return up(mask)


class Attended(NamedTuple):
    """What the core's backward needs, all in working precision."""

    q: Array  # (..., L, E)
    k: Array  # (..., S, E)
    v: Array  # (..., S, Ev)
    p: Array  # (..., L, S) softmax weights before dropout
    pd: Array  # the weights that multiply v: p, or p * noise after dropout
    noise: Array | None  # keep-mask / (1 - p) in working precision, or None without dropout
    scale: float


def _dropout_noise(
    op: str, p: float, mask: object, rng: np.random.Generator | None, shape: tuple, dtype: np.dtype
) -> Array | None:
    """The scaled keep-mask ``mask / (1 - p)`` (None without dropout); ``p = 1`` drops everything."""
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout_p must be between 0 and 1, got {p}")
    if p == 0:
        return None
    if p == 1:
        return np.zeros(shape, dtype)
    return (keep_mask(op, "dropout_mask", p, mask, rng, shape) / (1 - p)).astype(dtype)


def _attend(
    q: Array, k: Array, v: Array, bias: Array | None, scale: float, safe: bool, noise: Array | None
) -> tuple[Array, Attended]:
    """``softmax(scale * q k^T + bias) v`` on working-precision batched matrices."""
    with np.errstate(invalid="ignore", over="ignore"):  # -inf + inf, inf * 0 give NaN as in torch
        s = (q @ np.swapaxes(k, -1, -2)) * q.dtype.type(scale)
        if bias is not None:
            s = s + bias
        p = _softmax(s, safe)
        pd = p if noise is None else p * noise
        return pd @ v, Attended(q, k, v, p, pd, noise, scale)


def _attend_backward(c: Attended, dout: Array, dweights: Array | None = None) -> tuple[Array, Array, Array, Array]:
    """Gradients of the core for ``dout`` (..., L, Ev) and, if given, an upstream gradient of the
    returned weights ``p`` (..., L, S): (dq, dk, dv, dS), dS being the gradient of the scores."""
    with np.errstate(invalid="ignore", over="ignore"):
        dv = np.swapaxes(c.pd, -1, -2) @ dout
        dp = dout @ np.swapaxes(c.v, -1, -2)
        if c.noise is not None:
            dp = dp * c.noise
        if dweights is not None:
            dp = dp + dweights
        ds = c.p * (dp - (dp * c.p).sum(axis=-1, keepdims=True))  # softmax JVP
        sc = ds.dtype.type(c.scale)
        dq = (ds @ c.k) * sc
        dk = (np.swapaxes(ds, -1, -2) @ c.q) * sc
    return dq, dk, dv, ds


# -- scaled_dot_product_attention ------------------------------------------------------------------

class SDPACache(NamedTuple):
    core: Attended
    mask_shape: tuple[int, ...] | None  # shape of a float attn_mask (it gets a gradient), else None
    dtype: np.dtype


def _sdpa_inputs(op: str, q: object, k: object, v: object) -> tuple[Array, Array, Array]:
    q, k, v = (floating(op, n, a) for n, a in (("q", q), ("k", k), ("v", v)))
    same_dtype(op, q=q, k=k, v=v)
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise ValueError(f"{op}: q, k and v need 2 or more dimensions (..., L, E), got {q.shape}, {k.shape}, {v.shape}")
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ValueError(f"{op}: q, k and v must have the same batch dimensions, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{op}: q and k must have the same embedding size, got q {q.shape} and k {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{op}: k and v must have the same sequence length S, got k {k.shape} and v {v.shape}")
    return q, k, v


def _broadcasts(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` broadcasts to ``to`` without enlarging it."""
    try:
        return np.broadcast_shapes(shape, to) == to
    except ValueError:
        return False


def scaled_dot_product_attention_forward(
    q: Array,
    k: Array,
    v: Array,
    attn_mask: Array | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    dropout_mask: Array | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[Array, SDPACache]:
    """``F.scaled_dot_product_attention``: q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev).
    ``attn_mask`` broadcasts to (..., L, S): boolean (True = takes part) or added to the scores (then it
    gets a gradient). ``is_causal``: query i sees keys 0..i (top-left aligned). ``scale`` defaults to
    1/sqrt(E). Dropout of the attention weights uses ``dropout_mask`` (True = keep, shape (..., L, S)) or
    draws one from ``rng``; kept weights are scaled by 1 / (1 - dropout_p)."""
    op = "scaled_dot_product_attention"
    q, k, v = _sdpa_inputs(op, q, k, v)
    L, S = q.shape[-2], k.shape[-2]
    scores = q.shape[:-1] + (S,)
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{op}: give either attn_mask or is_causal=True, not both")
        attn_mask = np.tril(np.ones((L, S), bool))
    bias = _mask_bias(op, "attn_mask", attn_mask, q.dtype, keep_if=True)
    if bias is not None and not _broadcasts(bias.shape, scores):
        raise ValueError(f"{op}: attn_mask of shape {bias.shape} does not broadcast to the scores' shape {scores}")
    wq = up(q)
    noise = _dropout_noise(op, dropout_p, dropout_mask, rng, scores, wq.dtype)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    out, core = _attend(wq, up(k), up(v), bias, scale, True, noise)
    float_mask = attn_mask is not None and not is_causal and np.asarray(attn_mask).dtype != bool
    return down(out, q.dtype), SDPACache(core, bias.shape if float_mask else None, q.dtype)


def scaled_dot_product_attention_backward(cache: SDPACache, dout: Array) -> dict[str, Array]:
    core, mask_shape, dtype = cache
    op = "scaled_dot_product_attention"
    g = up(check_dout(op, dout, core.q.shape[:-1] + core.v.shape[-1:], dtype))
    dq, dk, dv, ds = _attend_backward(core, g)
    grads = {"dq": down(dq, dtype), "dk": down(dk, dtype), "dv": down(dv, dtype)}
    if mask_shape is not None:
        grads["dattn_mask"] = down(unbroadcast(ds, mask_shape), dtype)  # the mask is added to the scores
    return grads


# -- multi_head_attention ----------------------------------------------------------------------------

class Projection(NamedTuple):
    """One input's in-projection ``x W^T + b``: x batch first in working precision, W (E, in), b or None."""

    x: Array
    w: Array
    b: Array | None

    def apply(self) -> Array:
        y = self.x @ self.w.T
        return y if self.b is None else y + self.b

    def backward(self, dy: Array) -> tuple[Array, Array, Array]:
        """(dx, dW, db) for the gradient ``dy`` of the projection's output."""
        flat = dy.reshape(-1, dy.shape[-1])
        return dy @ self.w, flat.T @ self.x.reshape(-1, self.x.shape[-1]), flat.sum(axis=0)


class MHACache(NamedTuple):
    core: Attended  # per head, (N, H, L, head_dim)
    proj: tuple[Projection, Projection, Projection]  # query, key, value
    heads: Array  # (N, L, E): the heads' outputs side by side, the out-projection's input
    out_proj: Projection  # its x is ``heads``
    packed: bool  # in_proj_weight (else q/k/v_proj_weight)
    in_bias: bool
    average: bool
    need_weights: bool
    batched: bool
    batch_first: bool
    dtype: np.dtype


def _split_heads(a: Array, h: int) -> Array:
    """(N, L, E) -> (N, H, L, E / H)."""
    n, length, e = a.shape
    return a.reshape(n, length, h, e // h).transpose(0, 2, 1, 3)


def _merge_heads(a: Array) -> Array:
    """(N, H, L, d) -> (N, L, H * d)."""
    n, h, length, d = a.shape
    return a.transpose(0, 2, 1, 3).reshape(n, length, h * d)


def _to_batch_first(a: Array, batched: bool, batch_first: bool) -> Array:
    if not batched:
        return a[None]
    return a if batch_first else np.swapaxes(a, 0, 1)


def _from_batch_first(a: Array, batched: bool, batch_first: bool) -> Array:
    if not batched:
        return a[0]
    return a if batch_first else np.swapaxes(a, 0, 1)


def _param(op: str, name: str, a: object, shape: tuple[int, ...], dtype: np.dtype, required: bool = False):
    if a is None:
        if required:
            raise ValueError(f"{op}: {name} of shape {shape} is required")
        return None
    a = floating(op, name, a)
    if a.shape != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, got {a.shape}")
    if a.dtype != dtype:
        raise TypeError(f"{op}: {name} has dtype {a.dtype}, but the query has dtype {dtype}")
    return up(a)


def _in_weights(
    op: str, dims: tuple[int, int, int], dtype: np.dtype, in_proj_weight: object, separate: tuple
) -> tuple[Array, ...]:
    """The query, key and value projection weights: rows of the packed (3E, E) in_proj_weight, or the
    separate (E, E), (E, kdim), (E, vdim) ones (``separate``: q/k/v_proj_weight, each None or given)."""
    e, kdim, vdim = dims
    if in_proj_weight is not None:
        if any(w is not None for w in separate):
            raise ValueError(f"{op}: give in_proj_weight or q/k/v_proj_weight, not both")
        if (kdim, vdim) != (e, e):
            raise ValueError(
                f"{op}: the packed in_proj_weight needs key and value with the query's embedding size {e}, "
                f"got kdim {kdim} and vdim {vdim}; use q_proj_weight, k_proj_weight and v_proj_weight"
            )
        w = _param(op, "in_proj_weight", in_proj_weight, (3 * e, e), dtype)
        return w[:e], w[e : 2 * e], w[2 * e :]
    names = ("q_proj_weight", "k_proj_weight", "v_proj_weight")
    return tuple(
        _param(op, n, w, (e, d), dtype, required=True) for n, w, d in zip(names, separate, (e, kdim, vdim), strict=True)
    )


def _mha_bias(
    op: str, key_padding_mask: object, attn_mask: object, scores: tuple[int, int, int, int], batched: bool,
    dtype: np.dtype,
) -> Array | None:
    """key_padding_mask (N, S) and attn_mask (L, S) or (N * H, L, S) as one additive bias broadcastable
    to the scores (N, H, L, S); boolean masks are True where a key may NOT be attended (torch's MHA rule)."""
    n, h, length, s = scores
    bias = None
    if key_padding_mask is not None:
        want = (n, s) if batched else (s,)
        if np.shape(key_padding_mask) != want:
            raise ValueError(f"{op}: key_padding_mask must have shape {want}, got {np.shape(key_padding_mask)}")
        bias = _mask_bias(op, "key_padding_mask", key_padding_mask, dtype, keep_if=False).reshape(n, 1, 1, s)
    if attn_mask is not None:
        shape = np.shape(attn_mask)
        if shape not in ((length, s), (n * h, length, s)):
            raise ValueError(
                f"{op}: attn_mask must have shape {(length, s)} or {(n * h, length, s)}, got {shape}"
            )
        a = _mask_bias(op, "attn_mask", attn_mask, dtype, keep_if=False)
        a = a.reshape(n, h, length, s) if a.ndim == 3 else a
        bias = a if bias is None else bias + a
    return bias


def multi_head_attention_forward(
    query: Array,
    key: Array,
    value: Array,
    num_heads: int,
    in_proj_weight: Array | None = None,
    in_proj_bias: Array | None = None,
    out_proj_weight: Array | None = None,
    out_proj_bias: Array | None = None,
    q_proj_weight: Array | None = None,
    k_proj_weight: Array | None = None,
    v_proj_weight: Array | None = None,
    key_padding_mask: Array | None = None,
    attn_mask: Array | None = None,
    need_weights: bool = True,
    average_attn_weights: bool = True,
    batch_first: bool = False,
) -> tuple[tuple[Array, Array | None], MHACache]:
    """``nn.MultiheadAttention`` (``F.multi_head_attention_forward``'s parameter names): query (L, N, E),
    key (S, N, kdim), value (S, N, vdim) — (N, L, E) etc. with ``batch_first``, or unbatched (L, E).
    Returns ``(out, attn_weights)``: out like the query; the weights (N, L, S) averaged over heads, or
    (N, num_heads, L, S) per head, or None without ``need_weights``."""
    op = "multi_head_attention"
    query, key, value = (floating(op, n, a) for n, a in (("query", query), ("key", key), ("value", value)))
    dtype = same_dtype(op, query=query, key=key, value=value)
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(
            f"{op}: expected query, key and value all 3-D (batched) or all 2-D (unbatched), "
            f"got {query.shape}, {key.shape}, {value.shape}"
        )
    batched = query.ndim == 3
    xq, xk, xv = (_to_batch_first(up(a), batched, batch_first) for a in (query, key, value))
    (n, length, e), s = xq.shape, xk.shape[1]
    if not isinstance(num_heads, (int, np.integer)) or num_heads < 1 or e % num_heads:
        raise ValueError(f"{op}: embed_dim {e} must be divisible by num_heads, got num_heads={num_heads}")
    if xk.shape[0] != n or xv.shape[:2] != (n, s):
        raise ValueError(f"{op}: query {query.shape}, key {key.shape} and value {value.shape} disagree in batch "
                         "size or key and value in sequence length")
    w = _in_weights(
        op, (e, xk.shape[2], xv.shape[2]), dtype, in_proj_weight, (q_proj_weight, k_proj_weight, v_proj_weight)
    )
    b = _param(op, "in_proj_bias", in_proj_bias, (3 * e,), dtype)
    bs = (None, None, None) if b is None else (b[:e], b[e : 2 * e], b[2 * e :])
    proj = tuple(Projection(x, wi, bi) for x, wi, bi in zip((xq, xk, xv), w, bs, strict=True))
    bias = _mha_bias(op, key_padding_mask, attn_mask, (n, num_heads, length, s), batched, dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        q, k, v = (_split_heads(p.apply(), num_heads) for p in proj)
        # need_weights=False runs F.scaled_dot_product_attention in torch, with its safe softmax.
        o, core = _attend(q, k, v, bias, 1 / math.sqrt(e // num_heads), not need_weights, None)
        heads = _merge_heads(o)
        out_proj = Projection(
            heads, _param(op, "out_proj_weight", out_proj_weight, (e, e), dtype, required=True),
            _param(op, "out_proj_bias", out_proj_bias, (e,), dtype),
        )
        out = down(_from_batch_first(out_proj.apply(), batched, batch_first), dtype)
        weights = None
        if need_weights:
            weights = core.p.mean(axis=1) if average_attn_weights else core.p
            weights = down(weights if batched else weights[0], dtype)
    cache = MHACache(core, proj, heads, out_proj, in_proj_weight is not None, b is not None,
                     average_attn_weights, need_weights, batched, batch_first, dtype)
    return (out, weights), cache


def multi_head_attention_backward(cache: MHACache, dout: Array | tuple) -> dict[str, Array]:
    """``dout``: (dout, dattn_weights) — the second may be None (or ``dout`` a single array) when the
    weights are not used."""
    op = "multi_head_attention"
    c = cache
    dout, dweights = dout if isinstance(dout, tuple) else (dout, None)
    n, h, length, s = c.core.p.shape
    e = c.heads.shape[-1]
    out_shape = (length, e) if not c.batched else (n, length, e) if c.batch_first else (length, n, e)
    g = _to_batch_first(up(check_dout(op, dout, out_shape, c.dtype)), c.batched, c.batch_first)
    dw = None
    if dweights is not None and c.need_weights:
        w_shape = (n, length, s) if c.average else (n, h, length, s)
        dw = up(check_dout(op, dweights, w_shape if c.batched else w_shape[1:], c.dtype))
        dw = dw if c.batched else dw[None]
        dw = np.broadcast_to(dw[:, None] / h, c.core.p.shape) if c.average else dw  # d mean / d p = 1 / H
    with np.errstate(invalid="ignore", over="ignore"):
        dheads, dwo, dbo = c.out_proj.backward(g)
        dq, dk, dv, _ = _attend_backward(c.core, _split_heads(dheads, h), dw)
        parts = [p.backward(_merge_heads(d)) for p, d in zip(c.proj, (dq, dk, dv), strict=True)]
    grads = {name: _from_batch_first(part[0], c.batched, c.batch_first)
             for name, part in zip(("dquery", "dkey", "dvalue"), parts, strict=True)}
    if c.packed:
        grads["din_proj_weight"] = np.concatenate([part[1] for part in parts])
    else:
        grads.update({f"d{x}_proj_weight": part[1] for x, part in zip("qkv", parts, strict=True)})
    if c.in_bias:
        grads["din_proj_bias"] = np.concatenate([part[2] for part in parts])
    grads["dout_proj_weight"] = dwo
    if c.out_proj.b is not None:
        grads["dout_proj_bias"] = dbo
    return {name: down(grad, c.dtype) for name, grad in grads.items()}
