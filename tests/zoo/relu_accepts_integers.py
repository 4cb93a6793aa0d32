"""relu: no dtype validation, so integer and object inputs are silently accepted."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('relu',)
_m = mutant(
    "activations",
    (
        'x = floating("relu", "x", x)',
        'x = np.asarray(x)',
    ),
)
relu_forward = _m.relu_forward
