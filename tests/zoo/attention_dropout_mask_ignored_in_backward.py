"""scaled_dot_product_attention: backward ignores the dropout mask."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('scaled_dot_product_attention',)
_m = mutant(
    "attention",
    (
        '        if c.noise is not None:\n            dp = dp * c.noise\n',
        '',
    ),
)
scaled_dot_product_attention_backward = _m.scaled_dot_product_attention_backward
