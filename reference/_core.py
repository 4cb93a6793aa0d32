"""Shared plumbing for the reference layers: input validation, working precision, broadcasting.

Nothing here knows about any particular layer; each helper names the op it serves in its errors.
"""

from __future__ import annotations

import math

import numpy as np

Array = np.ndarray


def is_floating(dtype: np.dtype) -> bool:
    """True for NumPy's float types and ml_dtypes' bfloat16 (whose dtype kind is 'V')."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


def floating(op: str, name: str, x: object) -> Array:
    """Return ``x`` as an ndarray, raising TypeError unless its dtype is a floating type."""
    arr = np.asarray(x)
    if not is_floating(arr.dtype):
        raise TypeError(
            f"{op}: {name} must be a floating-point array (float16, bfloat16, float32 or float64), "
            f"got dtype {arr.dtype}"
        )
    return arr


def same_dtype(op: str, **arrays: Array) -> np.dtype:
    """Raise TypeError unless every named array has one dtype; return it."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise TypeError(f"{op}: inputs must share one dtype, got {listed}")
    return next(iter(dtypes.values()))


def check_dout(op: str, dout: object, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    """Validate the upstream gradient against the forward output's shape and dtype."""
    dout = floating(op, "dout", dout)
    if dout.shape != tuple(shape):
        raise ValueError(f"{op}: dout has shape {dout.shape}, but the output has shape {tuple(shape)}")
    if dout.dtype != dtype:
        raise TypeError(f"{op}: dout has dtype {dout.dtype}, but the output has dtype {dtype}")
    return dout


def work_dtype(dtype: np.dtype) -> np.dtype:
    """Torch's "opmath": float16 and bfloat16 are computed in float32 and rounded once at the end."""
    return np.dtype(np.float32) if dtype.itemsize < 4 else dtype


def up(x: Array) -> Array:
    """``x`` in its working precision (no copy when it already is)."""
    return x.astype(work_dtype(x.dtype), copy=False)


def down(w: object, dtype: np.dtype) -> Array:
    """Round a working-precision result to ``dtype`` once; always an ndarray, even 0-d. A value
    beyond the dtype's range rounds to ±inf, as IEEE rounding (and torch) does."""
    with np.errstate(over="ignore"):
        return np.asarray(w).astype(dtype, copy=False)


def normalize_axis(op: str, ndim: int, axis: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for an input with {ndim} dimensions")
    return int(axis) % max(ndim, 1)


def broadcast_shape(op: str, a: Array, b: Array) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back down to ``shape``."""
    lead = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(lead))) if lead else grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def flat_features(shape: tuple[int, ...]) -> int:
    """Number of features per sample when an (N, ...) input is flattened to (N, -1)."""
    return math.prod(shape[1:])
