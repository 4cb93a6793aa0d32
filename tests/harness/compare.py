"""Elementwise comparison of a result with the oracle's: what differs, by how much, and where.

Finite values must agree within ``|got - expected| <= atol + rtol * |expected|``; NaN and ±Inf must
sit at exactly the same positions; zeros must carry the same sign where the op defines it. In
float16/bfloat16 a value out of tolerance is still accepted when it is no farther from a float64
computation than torch's own value (the arbiter from conventions.md), and a zero of the other sign
when its sign is that of the float64 value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.dtypes import DType, Tol, ulp


@dataclass
class Comparison:
    size: int
    value_mismatches: int  # finite values out of tolerance (after arbitration)
    special_mismatches: int  # NaN/Inf in different places
    zero_sign_mismatches: int
    arbitrated: int  # low-precision values accepted by the float64 arbiter
    max_abs: float
    max_rel: float
    max_ulp: float
    headroom: float  # max |actual - expected| / (atol + rtol * size): the share of the tolerance used
    worst: tuple[int, ...] | None  # index of the worst element (mismatching one if any)

    @property
    def mismatches(self) -> int:
        return self.value_mismatches + self.special_mismatches + self.zero_sign_mismatches

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def metrics(self) -> dict[str, float | int]:
        return {
            "size": self.size,
            "mismatches": self.mismatches,
            "arbitrated": self.arbitrated,
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "max_ulp": self.max_ulp,
            "headroom": self.headroom,
        }


def _max(values: np.ndarray) -> float:
    return float(values.max()) if values.size else 0.0


def compare(
    actual: np.ndarray,
    expected: np.ndarray,
    dtype: DType,
    tol: Tol,
    signed_zeros: bool = True,
    reference64: Callable[[], np.ndarray] | None = None,
    scale: np.ndarray | None = None,
) -> Comparison:
    """``scale``: sum of |terms| per element for reductions; rtol then applies to max(|e|, scale)."""
    a = np.asarray(actual).astype(np.float64)
    e = np.asarray(expected).astype(np.float64)
    finite = np.isfinite(a) & np.isfinite(e)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # errors far beyond the dtype's range
        err = np.where(finite, np.abs(a - e), 0.0)
        rel = np.where(finite & (err > 0), err / np.abs(e), 0.0)
        ulps = np.where(finite, err / ulp(e, dtype), 0.0)
    size = np.abs(e) if scale is None else np.fmax(np.abs(e), np.asarray(scale, dtype=np.float64))
    with np.errstate(invalid="ignore"):  # rtol = 0 times an infinite expected value
        allowed = tol.atol + tol.rtol * size
        bad_value = finite & ~(err <= allowed)
        used = np.where(finite & (allowed > 0), err / np.where(allowed > 0, allowed, 1.0), 0.0)
    same_special = (np.isnan(a) & np.isnan(e)) | (a == e)
    bad_special = ~finite & ~same_special
    bad_zero = (a == 0) & (e == 0) & (np.signbit(a) != np.signbit(e)) if signed_zeros else np.zeros_like(finite)
    arbitrated = 0
    if (bad_value.any() or bad_zero.any()) and dtype.low_precision and reference64 is not None:
        # A value no farther from float64 than torch's, or a zero with the sign of the float64 value
        # (a tiny result that rounds to zero in the dtype keeps the sign of the exact one).
        r = np.asarray(reference64(), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            accept = (bad_value & (np.abs(a - r) <= np.abs(e - r))) | (bad_zero & (np.signbit(a) == np.signbit(r)))
        arbitrated = int(accept.sum())
        bad_value &= ~accept
        bad_zero &= ~accept

    worst = None
    bad = bad_value | bad_special | bad_zero
    if bad.any():
        score = np.where(bad_special, np.inf, np.where(bad, err, -1.0))
        worst = np.unravel_index(int(np.argmax(score)), a.shape)
    elif a.size:
        worst = np.unravel_index(int(np.argmax(ulps)), a.shape)
    return Comparison(
        size=int(a.size),
        value_mismatches=int(bad_value.sum()),
        special_mismatches=int(bad_special.sum()),
        zero_sign_mismatches=int(bad_zero.sum()),
        arbitrated=arbitrated,
        max_abs=_max(err),
        max_rel=_max(rel),
        max_ulp=_max(ulps),
        headroom=_max(used),
        worst=tuple(int(i) for i in worst) if worst is not None else None,
    )
