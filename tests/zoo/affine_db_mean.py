"""affine: db averages dout over the batch instead of summing it."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('affine',)
_m = mutant(
    "linear",
    (
        '"db": down(g.sum(axis=0), W.dtype)',
        '"db": down(g.mean(axis=0), W.dtype)',
    ),
)
affine_backward = _m.affine_backward
