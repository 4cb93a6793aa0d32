"""max_pool2d: pads with 0 instead of -inf, so padding wins a window of negative values."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('max_pool2d',)
_m = mutant(
    "pool",
    (
        'pad(x4, g, -np.inf)',
        'pad(x4, g, 0.0)',
    ),
)
max_pool2d_forward = _m.max_pool2d_forward
max_pool2d_backward = _m.max_pool2d_backward
