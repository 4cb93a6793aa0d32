"""hardtanh: the gradient passes at x == min_val and x == max_val (torch: 0 there)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('hardtanh',)
_m = mutant(
    "piecewise",
    (
        '(w <= min_val) | (w >= max_val)',
        '(w < min_val) | (w > max_val)',
    ),
)
hardtanh_backward = _m.hardtanh_backward
