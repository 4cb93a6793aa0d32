"""softmax: exp(x) without subtracting the row maximum first (overflows)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('softmax',)
_m = mutant(
    "softmax",
    (
        'e = np.exp(_shifted(x, axis))',
        'e = np.exp(up(x))',
    ),
)
softmax_forward = _m.softmax_forward
