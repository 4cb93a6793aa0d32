"""conv2d: padding='same' puts the odd extra row/column before instead of after."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('conv2d',)
_m = mutant(
    "conv",
    (
        'return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)',
        'return tuple(t - t // 2 for t in total), tuple(t // 2 for t in total)',
    ),
)
conv2d_forward = _m.conv2d_forward
conv2d_backward = _m.conv2d_backward
