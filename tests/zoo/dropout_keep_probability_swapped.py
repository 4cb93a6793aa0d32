"""dropout: a drawn mask keeps an element with probability p instead of 1 - p."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('dropout',)
_m = mutant(
    "dropout",
    (
        'return rng.random(shape) >= p',
        'return rng.random(shape) < p',
    ),
)
dropout_forward = _m.dropout_forward
