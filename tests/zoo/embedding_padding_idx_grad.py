"""embedding: the padding_idx row receives a gradient."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('embedding',)
_m = mutant(
    "shape",
    (
        'dW[padding_idx] = 0  # the padding row is never trained',
        'pass',
    ),
)
embedding_backward = _m.embedding_backward
