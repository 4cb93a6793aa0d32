"""dropout: kept values are not scaled by 1 / (1 - p)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('dropout',)
_m = mutant(
    "dropout",
    (
        'keep_mask(op, "mask", p, mask, rng, shape) / (1 - p)',
        'keep_mask(op, "mask", p, mask, rng, shape) / 1',
    ),
)
dropout_forward = _m.dropout_forward
dropout_backward = _m.dropout_backward
