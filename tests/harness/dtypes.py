"""The dtypes the harness runs, their default tolerances, and exact conversion to and from torch."""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np
import torch


@dataclass(frozen=True)
class Tol:
    """A tolerance and where it comes from (shown in every failure message)."""

    rtol: float
    atol: float
    source: str

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g} ({self.source})"


@dataclass(frozen=True)
class DType:
    name: str
    np: np.dtype
    torch: torch.dtype
    default_tol: Tol

    @property
    def low_precision(self) -> bool:
        return self.np.itemsize < 4

    @property
    def finfo(self) -> ml_dtypes.finfo:
        return ml_dtypes.finfo(self.np)


def _dtype(name: str, np_dtype: object, torch_dtype: torch.dtype, rtol: float, atol: float) -> DType:
    source = f"torch.testing.assert_close default for {name}"
    return DType(name, np.dtype(np_dtype), torch_dtype, Tol(rtol, atol, source))


# torch.testing.assert_close's per-dtype defaults (rtol, atol); tests/test_harness.py checks them
# against torch's own table so an upgrade that changes them is noticed.
DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        _dtype("float16", np.float16, torch.float16, 1e-3, 1e-5),
        _dtype("bfloat16", ml_dtypes.bfloat16, torch.bfloat16, 1.6e-2, 1e-5),
        _dtype("float32", np.float32, torch.float32, 1.3e-6, 1e-5),
        _dtype("float64", np.float64, torch.float64, 1e-7, 1e-7),
    )
}
ALL_DTYPES = tuple(DTYPES)


def dtype_of(array: np.ndarray) -> DType:
    return DTYPES[array.dtype.name]


def to_torch(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A contiguous torch copy of ``a`` holding exactly the same values (bfloat16 goes via float32)."""
    a = np.asarray(a)
    if a.dtype.name == "bfloat16":
        t = torch.from_numpy(np.array(a, dtype=np.float32, order="C")).to(torch.bfloat16)
    else:
        t = torch.from_numpy(np.array(a, order="C", copy=True))
    return t.requires_grad_(requires_grad)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.float().numpy().astype(ml_dtypes.bfloat16)
    return t.numpy().copy()


def ulp(x: np.ndarray, dtype: DType) -> np.ndarray:
    """Unit in the last place of each value of ``x`` as a float64 array, for ``dtype``'s format
    (subnormal spacing below the smallest normal). ``frexp`` gives the exponent exactly (``log2`` rounds
    up just below a power of two); non-finite values get the spacing at 1."""
    fi = dtype.finfo
    mag = np.abs(np.asarray(x, dtype=np.float64))
    exponent = np.frexp(np.where(np.isfinite(mag), mag, 1.0))[1] - 1  # mag = m 2^e, m in [0.5, 1): floor(log2)
    return np.ldexp(1.0, np.maximum(np.where(mag > 0, exponent, fi.minexp), fi.minexp) - fi.nmant)
