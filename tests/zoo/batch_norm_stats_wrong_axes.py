"""batch_norm: statistics per sample over the spatial axes, then averaged over the batch."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('batch_norm',)
_m = mutant(
    "normalization",
    (
        '        mean, var = _moments(w, axes)\n',
        '        mean, var = (s.mean(axis=0, keepdims=True) for s in _moments(w, axes[1:]))\n',
    ),
)
batch_norm_forward = _m.batch_norm_forward
batch_norm_backward = _m.batch_norm_backward
