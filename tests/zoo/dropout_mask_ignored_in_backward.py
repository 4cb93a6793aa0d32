"""dropout: backward passes dout through unmasked and unscaled."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('dropout',)
_m = mutant(
    "dropout",
    (
        'down(up(g) * up(noise), dtype)',
        'down(up(g), dtype)',
    ),
)
dropout_backward = _m.dropout_backward
