"""Accuracy against a higher-precision oracle: how far the implementation's result and torch's (same dtype)
are from the same computation done in higher precision, and the rule that the implementation is no less
accurate than torch beyond the entry's allowance.

The oracle is torch on float64 copies of the inputs (and douts) for float16, bfloat16 and float32, and the
entry's ``highprec`` oracle for float64 (ops without one get no float64 accuracy figures: the distance to
torch's float64 result is a comparison, not accuracy). ``checks.forward``/``checks.backward`` measure every
C-order case of the fixed grid; each measurement becomes an ``("accuracy", {...})`` user property that the
report aggregates per op × output × dtype × value family.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np

from harness.dtypes import DType, ulp
from harness.registry import ops

ORACLE_F64 = "torch float64"
ORACLE_HIGHPREC = "high precision"


@functools.cache
def measured_shape(op: str, variant: str) -> tuple[int, ...] | None:
    """The shape whose cases are measured, per op × variant: the largest one the variant applies to (the
    most elements, so the most chances to meet the worst rounding), crossed with every dtype and value
    family. Measuring every shape would cost about a sixth of the suite's time (the float64 reruns and
    the high-precision oracles) for maxima that the largest shape nearly always sets."""
    spec = ops()[op]
    var = next(v for v in spec.variants if v.label == variant)
    shapes = [s for s in spec.shapes if spec.applies(var, s)]
    return max(shapes, key=lambda s: (int(np.prod(s)), s)) if shapes else None


@dataclass(frozen=True)
class Error:
    ulp: float  # max over the measured elements
    rel: float
    worst: tuple[int, ...] | None  # index of the largest ULP error
    nonfinite: int  # elements whose NaN/±Inf differ from the oracle rounded to the dtype (not in ulp/rel)


def error(
    values: np.ndarray, oracle: np.ndarray, dtype: DType, magnitude: np.ndarray | None = None, normwise: bool = False
) -> Error:
    """The error of ``values`` (in ``dtype``) against ``oracle`` (float64, exact or nearly so).

    Each element's error is ``|v - o|`` in ULPs of ``dtype`` taken at the scale ``s = max(|o|, m)``, and
    relative as ``|v - o| / s``, where ``m`` is the sum of |terms| of the result (Higham's scale of a sum's
    rounding error) when the entry gives its ``magnitude``. A result of 1e-12 obtained by cancelling O(1)
    terms is thus measured against the O(1) terms that any rounding error is proportional to, not against
    its own size (which would read as ~1e9 ULPs for every implementation). An op that reduces but declares
    no magnitude is measured ``normwise``: ``m`` is the largest |o| of the result, the best scale of its
    terms available without them (a normalised or softmax output is O(1) while single elements may cancel
    to nothing). For an elementwise op (one term) ``s = |o|``: the usual ULP error. Below the smallest
    normal number the ULP is the subnormal spacing. An element whose oracle rounds to ±Inf or is NaN counts
    as exact when the value is the same special, else it is counted in ``nonfinite`` (as is a non-finite
    value where the oracle is finite); the maxima are over the rest. Empty arrays have error 0."""
    return errors([values], oracle, dtype, magnitude, normwise)[0]


def errors(
    values: list[np.ndarray], oracle: np.ndarray, dtype: DType, magnitude: np.ndarray | None = None,
    normwise: bool = False,
) -> list[Error]:
    """``error`` of each of ``values`` (same shape) against one oracle, sharing the work on the oracle."""
    o = np.asarray(oracle, dtype=np.float64)
    v = np.stack([np.asarray(a).astype(np.float64) for a in values]).reshape(len(values), -1)
    if not o.size:
        return [Error(0.0, 0.0, None, 0) for _ in values]
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = o.astype(dtype.np).astype(np.float64).ravel()  # what a correctly rounded result would be
    s = np.abs(o).ravel()
    if magnitude is not None:
        s = np.fmax(s, np.abs(np.asarray(magnitude, dtype=np.float64)).ravel())
    if normwise:
        s = np.fmax(s, np.max(np.where(np.isfinite(o), np.abs(o), 0.0)))
    finite = np.isfinite(v) & np.isfinite(rounded)
    nonfinite = np.zeros(len(values), dtype=np.int64)
    if not finite.all():
        special_ok = (np.isnan(v) & np.isnan(rounded)) | (~np.isfinite(rounded) & (v == rounded))
        nonfinite = (~finite & ~special_ok).sum(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(finite, np.abs(v - o.ravel()), 0.0)
        ulps = diff / ulp(np.where(np.isfinite(s), s, 0.0), dtype)
        rel = np.where(s > 0, diff / np.where(s > 0, s, 1.0), 0.0)
    worst = np.argmax(ulps, axis=1)
    return [
        Error(float(ulps[k, worst[k]]), float(rel[k].max()),
              tuple(int(i) for i in np.unravel_index(int(worst[k]), o.shape)), int(nonfinite[k]))
        for k in range(len(values))
    ]


def digest(a: np.ndarray) -> str:
    """A short hash of an array's dtype, shape and bytes: a bitwise change of torch's (or the
    implementation's) result shows in the report even when errors do not move."""
    a = np.ascontiguousarray(a)
    h = hashlib.blake2b(f"{a.dtype.str}{a.shape}".encode(), digest_size=8)
    h.update(a.tobytes())
    return h.hexdigest()


def measure(
    ctx,  # harness.context.Ctx
    what: str,
    got: np.ndarray,
    torch_same: np.ndarray,
    oracle_name: str | None,
    oracle: np.ndarray | None,
    headroom: float,
    inputs: dict[str, np.ndarray],
    magnitude: np.ndarray | None = None,
) -> None:
    """Record the accuracy of ``got`` (the implementation) and ``torch_same`` (torch in the same dtype) for
    result ``what`` against ``oracle`` (from ``oracle_name``; None: the case has no higher-precision oracle,
    only the headroom and digests are recorded), and fail when the implementation's ULP error exceeds
    torch's by more than the entry's allowance. ``headroom``: the share of the tolerance used against torch."""
    case = ctx.case
    record = {
        "op": case.op, "output": what, "dtype": case.dtype, "family": case.family, "case": case.id,
        "headroom": headroom, "ref_digest": digest(got), "torch_digest": digest(torch_same),
        "oracle": oracle_name if oracle is not None else None,
    }
    if oracle is None:
        ctx.properties.append(("accuracy", record))
        return
    normwise = magnitude is None and case.spec.reduces
    ref, tch = errors([got, torch_same], oracle, case.dt, magnitude, normwise)
    ctx.properties.append(("accuracy", {
        **record, "ref_ulp": ref.ulp, "ref_rel": ref.rel, "torch_ulp": tch.ulp, "torch_rel": tch.rel,
        "ref_nonfinite": ref.nonfinite, "torch_nonfinite": tch.nonfinite,
        "excess": (ref.ulp - tch.ulp) / max(1.0, tch.ulp),  # the allowance this case needs
    }))
    allowance = case.spec.allowance
    if ref.ulp > allowed(tch.ulp, allowance.ulps) or ref.nonfinite > tch.nonfinite:
        ctx.fail(what, f"less accurate than torch {case.dtype} against the {oracle_name} oracle",
                 _story(ref, tch, got, torch_same, oracle, allowance, inputs, magnitude is not None, normwise, case.dt))


def allowed(torch_ulp: float, allowance: float) -> float:
    """The largest error the rule accepts: torch's plus the allowance, the allowance scaled by torch's own
    error where that exceeds one ULP. An element on which torch errs by k ULPs is ill-conditioned at the
    measured scale (a cancellation the scale does not capture, e.g. 1 - tanh(x)^2 formed from a rounded
    tanh): every rounding, the reference's and torch's, is amplified about k-fold there."""
    return torch_ulp + allowance * max(1.0, torch_ulp)


def _story(ref: Error, tch: Error, got, torch_same, o, allowance, inputs, scaled: bool, normwise: bool, dt: DType
           ) -> list[str]:
    from harness.context import fmt

    idx = ref.worst
    at = f"[{', '.join(map(str, idx))}]" if idx else "[()]"
    there = [f"{n} = {fmt(a[idx])}" for n, a in inputs.items() if idx is not None and a.shape == got.shape]
    scale = "max(|oracle|, sum of |terms|)" if scaled else "max |oracle| of the result" if normwise else "|oracle|"
    lines = [
        f"  reference max {ref.ulp:.3g} ULP (rel {ref.rel:.3g}, {ref.nonfinite} NaN/Inf unlike the oracle)",
        f"  torch     max {tch.ulp:.3g} ULP (rel {tch.rel:.3g}, {tch.nonfinite} NaN/Inf unlike the oracle)",
        f"  rule      reference error <= torch error + allowance × max(1, torch error) = "
        f"{allowed(tch.ulp, allowance.ulps):.3g} ULP; allowance {allowance}",
        f"  measure   |result - oracle| in ULPs of {dt.name} at {scale} (harness.accuracy.error)",
    ]
    if idx is not None:
        lines.append(f"  worst     at {at}: got {fmt(got[idx])}, torch {fmt(torch_same[idx])}, oracle {fmt(o[idx])}"
                     + (f"; input there: {', '.join(there)}" if there else ""))
    return lines
