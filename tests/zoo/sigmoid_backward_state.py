"""sigmoid: backward multiplies the cached output in place, so a second backward differs."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('sigmoid',)
_m = mutant(
    "activations",
    (
        'return {"dx": down(up(dout) * (1 - wy) * wy, y.dtype)}',
        'wy *= 1 - wy\n    return {"dx": down(up(dout) * wy, y.dtype)}',
    ),
)
sigmoid_backward = _m.sigmoid_backward
