"""mul: dy = dout * x, not summed back to y's broadcast shape."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('mul',)
_m = mutant(
    "nodes",
    (
        '"dy": down(unbroadcast(up(down(g * up(x), x.dtype)), y.shape), x.dtype)',
        '"dy": down(g * up(x), x.dtype)',
    ),
)
mul_backward = _m.mul_backward
