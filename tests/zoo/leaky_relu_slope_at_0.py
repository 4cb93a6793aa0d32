"""leaky_relu: backward gives slope 1 at x == 0 (torch: the negative slope)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('leaky_relu',)
_m = mutant(
    "piecewise",
    (
        '_where(up(x) > 0, g, g * slope, x.dtype)',
        '_where(up(x) >= 0, g, g * slope, x.dtype)',
    ),
)
leaky_relu_backward = _m.leaky_relu_backward
