"""avg_pool2d: always divides by the padded window size (count_include_pad ignored)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('avg_pool2d',)
_m = mutant(
    "pool",
    (
        '_divisor(g, x4.shape[2:], count_include_pad, wt)',
        '_divisor(g, x4.shape[2:], True, wt)',
    ),
)
avg_pool2d_forward = _m.avg_pool2d_forward
avg_pool2d_backward = _m.avg_pool2d_backward
