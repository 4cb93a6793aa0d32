"""batch_norm: the running variance is updated with the biased batch variance."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('batch_norm',)
_m = mutant(
    "normalization",
    (
        'unbiased = var * (n / (n - 1))',
        'unbiased = var',
    ),
)
batch_norm_forward = _m.batch_norm_forward
