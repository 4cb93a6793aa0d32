"""batch_norm: 1 / (sqrt(var) + eps) instead of 1 / sqrt(var + eps)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('batch_norm',)
_m = mutant(
    "normalization",
    (
        'invstd = 1 / np.sqrt(var + eps)',
        'invstd = 1 / (np.sqrt(var) + eps)',
    ),
)
batch_norm_forward = _m.batch_norm_forward
batch_norm_backward = _m.batch_norm_backward
