"""batch_norm: eval mode normalises with the batch statistics, not the running ones."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('batch_norm',)
_m = mutant(
    "normalization",
    (
        'batch = training and n > 0',
        'batch = n > 0',
    ),
)
batch_norm_forward = _m.batch_norm_forward
batch_norm_backward = _m.batch_norm_backward
