"""softmax: np.nan_to_num on the output, so NaN inputs give finite probabilities."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('softmax',)
_m = mutant(
    "softmax",
    (
        'out = down(e / e.sum(axis=axis, keepdims=True), x.dtype)',
        'out = down(np.nan_to_num(e / e.sum(axis=axis, keepdims=True)), x.dtype)',
    ),
)
softmax_forward = _m.softmax_forward
