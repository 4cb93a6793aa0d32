"""group_norm: channel c goes to group c % G (interleaved) instead of consecutive blocks."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('group_norm',)
_m = mutant(
    "normalization",
    (
        'w = up(x).reshape(grouped)',
        'w = up(x).reshape(n, c // num_groups, num_groups, -1).transpose(0, 2, 1, 3)',
    ),
)
group_norm_forward = _m.group_norm_forward
group_norm_backward = _m.group_norm_backward
