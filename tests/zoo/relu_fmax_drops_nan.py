"""relu: np.fmax(x, 0), which turns NaN into 0 (torch propagates NaN)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('relu',)
_m = mutant(
    "activations",
    (
        'out = np.where(up(x) < 0, x.dtype.type(0), x)',
        'out = np.asarray(np.fmax(x, x.dtype.type(0)))',
    ),
)
relu_forward = _m.relu_forward
