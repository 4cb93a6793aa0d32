"""sigmoid: 1 / (1 + exp(-x)), which overflows in exp for large negative x."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('sigmoid',)
_m = mutant(
    "activations",
    (
        'e = np.exp(-np.abs(w))\n    out = down(np.where(w >= 0, 1 / (1 + e), e / (1 + e)), x.dtype)',
        'out = down(1 / (1 + np.exp(-w)), x.dtype)',
    ),
)
sigmoid_forward = _m.sigmoid_forward
