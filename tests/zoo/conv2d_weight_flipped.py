"""conv2d: the kernel is flipped (true convolution instead of torch's cross-correlation)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('conv2d',)
_m = mutant(
    "conv",
    (
        'out = _first(cols @ _by_group(W, groups)',
        'out = _first(cols @ _by_group(W[:, :, ::-1, ::-1], groups)',
    ),
)
conv2d_forward = _m.conv2d_forward
