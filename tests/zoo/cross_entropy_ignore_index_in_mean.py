"""cross_entropy: ignored targets still count in the mean's divisor."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('cross_entropy',)
_m = mutant(
    "classification",
    (
        '    red = _reduction(how, lay, tg.weight, tg.valid, dtype)\n    out, target = red.forward(',
        '    red = _reduction(how, lay, w[tg.index], tg.valid, dtype)\n    out, target = red.forward(',
    ),
)
cross_entropy_forward = _m.cross_entropy_forward
cross_entropy_backward = _m.cross_entropy_backward
