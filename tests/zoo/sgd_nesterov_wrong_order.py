"""sgd: the Nesterov look-ahead uses the momentum buffer from before this step's update."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('optim:SGD',)
_m = mutant(
    "optim",
    (
        '        buf = g.copy() if buf is None else momentum * buf',
        '        old = g.copy() if buf is None else buf\n        buf = g.copy() if buf is None else momentum * buf',
    ),
    (
        'g = g + momentum * buf if nesterov else buf',
        'g = g + momentum * old if nesterov else buf',
    ),
)
sgd = _m.sgd
