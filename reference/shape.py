"""Layers that gather, reshape or contract: embedding, flatten and broadcasting (batched) matmul."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, normalize_axis, same_dtype, unbroadcast, up

__all__ = [
    "embedding_backward",
    "embedding_forward",
    "flatten_backward",
    "flatten_forward",
    "matmul_backward",
    "matmul_forward",
]


# -- embedding -------------------------------------------------------------------------------------

class EmbeddingCache(NamedTuple):
    idx: Array
    W_shape: tuple[int, int]
    dtype: np.dtype
    padding_idx: int | None


def _indices(idx: object, num: int) -> Array:
    idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer array, got dtype {idx.dtype}")
    bad = np.flatnonzero((idx < 0) | (idx >= num))
    if bad.size:
        at = np.unravel_index(bad[0], idx.shape)
        raise ValueError(
            f"embedding: index {idx.flat[bad[0]]} at {tuple(map(int, at))} is out of range for {num} embeddings"
        )
    return idx


def _padding(padding_idx: int | None, num: int) -> int | None:
    if padding_idx is None:
        return None
    if not -num <= padding_idx < num:
        raise ValueError(f"embedding: padding_idx {padding_idx} must be within [-{num}, {num}) for {num} embeddings")
    return padding_idx % num


def embedding_forward(idx: Array, W: Array, padding_idx: int | None = None) -> tuple[Array, EmbeddingCache]:
    """``F.embedding(idx, W)``: row ``W[i]`` for every index; out has shape ``idx.shape + (D,)``."""
    W = floating("embedding", "W", W)
    if W.ndim != 2:
        raise ValueError(f"embedding: W must have shape (num_embeddings, embedding_dim), got {W.shape}")
    idx = _indices(idx, W.shape[0])
    return W[idx], EmbeddingCache(idx.copy(), W.shape, W.dtype, _padding(padding_idx, W.shape[0]))


def embedding_backward(cache: EmbeddingCache, dout: Array) -> dict[str, Array]:
    idx, (num, dim), dtype, padding_idx = cache
    g = up(check_dout("embedding", dout, idx.shape + (dim,), dtype))
    dW = np.zeros((num, dim), g.dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf and overflow in a row's sum, as in torch
        np.add.at(dW, idx.ravel(), g.reshape(-1, dim))  # a row used k times collects k gradients
    if padding_idx is not None:
        dW[padding_idx] = 0  # the padding row is never trained
    return {"dW": down(dW, dtype)}


# -- flatten ---------------------------------------------------------------------------------------

class FlattenCache(NamedTuple):
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    dtype: np.dtype


def flatten_forward(x: Array, start_dim: int = 0, end_dim: int = -1) -> tuple[Array, FlattenCache]:
    """``torch.flatten``: dims ``start_dim..end_dim`` merged into one (a 0-d x becomes shape (1,))."""
    x = floating("flatten", "x", x)
    start, end = normalize_axis("flatten", x.ndim, start_dim), normalize_axis("flatten", x.ndim, end_dim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for input shape {x.shape}")
    shape = x.shape[:start] + (int(np.prod(x.shape[start : end + 1])),) + x.shape[end + 1 :]
    out = x.reshape(shape).copy()
    return out, FlattenCache(x.shape, out.shape, x.dtype)


def flatten_backward(cache: FlattenCache, dout: Array) -> dict[str, Array]:
    in_shape, out_shape, dtype = cache
    return {"dx": check_dout("flatten", dout, out_shape, dtype).reshape(in_shape).copy()}


# -- matmul ----------------------------------------------------------------------------------------

class MatmulCache(NamedTuple):
    a: Array
    b: Array


def matmul_forward(a: Array, b: Array) -> tuple[Array, MatmulCache]:
    """``torch.matmul``: batch dimensions broadcast; a 1-D ``a`` (``b``) is a row (column) vector
    whose added dimension is removed from the result."""
    a, b = floating("matmul", "a", a), floating("matmul", "b", b)
    dtype = same_dtype("matmul", a=a, b=b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied (inner sizes differ)")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast") from None
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in a sum is NaN, overflow inf, as in torch
        return down(np.matmul(up(a), up(b)), dtype), MatmulCache(a, b)


def matmul_backward(cache: MatmulCache, dout: Array) -> dict[str, Array]:
    a, b = cache
    # Work with matrices: a 1-D a is (1, k), a 1-D b is (k, 1), and dout gets the same axes back.
    a2 = up(a)[None, :] if a.ndim == 1 else up(a)
    b2 = up(b)[:, None] if b.ndim == 1 else up(b)
    out_shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1])
    squeezed = tuple(n for i, n in enumerate(out_shape) if not (a.ndim == 1 and i == len(out_shape) - 2)
                     and not (b.ndim == 1 and i == len(out_shape) - 1))
    g = up(check_dout("matmul", dout, squeezed, a.dtype)).reshape(out_shape)
    with np.errstate(invalid="ignore", over="ignore"):  # as in matmul_forward
        da = unbroadcast(g @ np.swapaxes(b2, -1, -2), a2.shape)  # dL/da = dout b^T, summed over broadcast batch
        db = unbroadcast(np.swapaxes(a2, -1, -2) @ g, b2.shape)  # dL/db = a^T dout
    return {"da": down(da.reshape(a.shape), a.dtype), "db": down(db.reshape(b.shape), b.dtype)}
