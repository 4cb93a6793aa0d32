"""max_pool2d: a tie routes the gradient to the last maximum of the window (torch: the first)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('max_pool2d',)
_m = mutant(
    "pool",
    (
        'arg = np.argmax(flat == best[:, :, None], axis=2)',
        'arg = k - 1 - np.argmax((flat == best[:, :, None])[:, :, ::-1], axis=2)',
    ),
)
max_pool2d_forward = _m.max_pool2d_forward
max_pool2d_backward = _m.max_pool2d_backward
