"""relu: backward zeroes dout in place and returns it as dx."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('relu',)
_m = mutant(
    "activations",
    (
        'return {"dx": np.where(up(out) <= 0, out.dtype.type(0), dout)}',
        'dout[up(out) <= 0] = 0\n    return {"dx": dout}',
    ),
)
relu_backward = _m.relu_backward
