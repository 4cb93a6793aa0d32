"""add: dy is dout itself, not summed back to y's broadcast shape."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('add',)
_m = mutant(
    "nodes",
    (
        '"dy": down(unbroadcast(g, y.shape), x.dtype)',
        '"dy": down(g, x.dtype)',
    ),
)
add_backward = _m.add_backward
