"""Statistical checks that draws follow U(-bound, bound) or N(0, std²), for the initialisers
(tests/test_init.py) and the layers' default initialisation (tests/test_layers.py):
- the sample mean and the mean of squares each within 5 standard errors (two-sided false alarm
  5.7e-7 each, normal approximation);
- the Kolmogorov–Smirnov statistic D_N below c / sqrt(N) with Q_KS(c) = 1e-6 (c ≈ 2.69);
- uniform ones: every value within ±bound, and the largest |value| above (1 - top) bound (top = 1e-3
  by default: a false alarm (1 - 1e-3)^N < e^-100 for N >= 10^5; smaller samples pass their own)."""

from __future__ import annotations

import math

import numpy as np

SIGMAS = 5.0
KS_FALSE_ALARM = 1e-6
TOP = 1e-3  # the largest |value| of a uniform draw must be within this fraction of the bound


def kolmogorov_threshold(alpha: float) -> float:
    """c with Q_KS(c) = 2 sum_k (-1)^(k-1) exp(-2 k² c²) = alpha, by bisection."""

    def q(c: float) -> float:
        return 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * c * c) for k in range(1, 101))

    lo, hi = 0.5, 5.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if q(mid) > alpha else (lo, mid)
    return hi


KS_C = kolmogorov_threshold(KS_FALSE_ALARM)
_erf = np.frompyfunc(math.erf, 1, 1)


def distribution_problems(x: np.ndarray, uniform: bool, scale: float, top: float = TOP) -> list[str]:
    """The statistical checks of the module docstring, the largest |value| of a uniform draw within the
    fraction ``top`` of the bound; one line per failed check."""
    v = np.sort(x.astype(np.float64).ravel())
    n = v.size
    var, m4 = (scale**2 / 3, scale**4 / 5) if uniform else (scale**2, 3 * scale**4)
    problems = []
    if not np.isfinite(v).all():  # NaN would pass every comparison below
        return [f"{np.count_nonzero(~np.isfinite(v))} of {n} values are not finite"]
    mean, mean_sq = float(v.mean()), float(np.mean(v * v))
    if abs(mean) > SIGMAS * math.sqrt(var / n):
        problems.append(f"mean {mean:.4g}: more than {SIGMAS:g} standard errors ({math.sqrt(var / n):.3g}) from 0")
    se_sq = math.sqrt((m4 - var**2) / n)
    if abs(mean_sq - var) > SIGMAS * se_sq:
        problems.append(f"mean of squares {mean_sq:.5g}, expected {var:.5g} ± {SIGMAS:g} × {se_sq:.3g}")
    if uniform:
        cdf = np.clip((v + scale) / (2 * scale), 0.0, 1.0)
    else:
        cdf = 0.5 * (1.0 + _erf(v / (scale * math.sqrt(2.0))).astype(np.float64))
    i = np.arange(1, n + 1)
    d = float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))
    if d > KS_C / math.sqrt(n):
        problems.append(f"Kolmogorov–Smirnov D = {d:.4g} > {KS_C:.3f}/sqrt({n}) = {KS_C / math.sqrt(n):.4g}")
    if uniform:
        outside = int(np.sum(np.abs(v) > scale))
        if outside:
            problems.append(f"{outside} values outside ±bound {scale!r}: extremes {v[0]!r}, {v[-1]!r}")
        if max(-v[0], v[-1]) < (1 - top) * scale:
            problems.append(f"largest |value| {max(-v[0], v[-1])!r} < (1 - {top:g}) × bound {scale!r}: bound too small")
    return problems
