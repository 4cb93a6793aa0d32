"""relu: x <= 0 maps to +0.0, so relu(-0.0) loses its sign (torch keeps -0.0)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('relu',)
_m = mutant(
    "activations",
    (
        'out = np.where(up(x) < 0, x.dtype.type(0), x)',
        'out = np.where(up(x) <= 0, x.dtype.type(0), x)',
    ),
)
relu_forward = _m.relu_forward
