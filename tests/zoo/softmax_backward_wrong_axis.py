"""softmax: backward's <dout, y> is summed over axis 0 instead of the softmax axis."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('softmax',)
_m = mutant(
    "softmax",
    (
        '(g * wy).sum(axis=axis, keepdims=True)',
        '(g * wy).sum(axis=0, keepdims=True)',
    ),
)
softmax_backward = _m.softmax_backward
