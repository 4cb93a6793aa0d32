"""relu: forward clamps x in place (the caller's input is modified)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('relu',)
_m = mutant(
    "activations",
    (
        'out = np.where(up(x) < 0, x.dtype.type(0), x)  #',
        'out = x\n    out[up(x) < 0] = 0  #',
    ),
)
relu_forward = _m.relu_forward
