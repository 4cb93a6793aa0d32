"""softmax: the normaliser sums over axis 0 instead of the softmax axis."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('softmax',)
_m = mutant(
    "softmax",
    (
        'e / e.sum(axis=axis, keepdims=True)',
        'e / e.sum(axis=0, keepdims=True)',
    ),
)
softmax_forward = _m.softmax_forward
