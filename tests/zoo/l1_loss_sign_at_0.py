"""l1_loss: the gradient at x == t is +1 (torch: sign(0) = 0)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('l1_loss',)
_m = mutant(
    "losses",
    (
        'return np.where(np.isnan(d), 0, np.sign(d))',
        'return np.where(np.isnan(d), 0, np.where(d >= 0, 1.0, -1.0))',
    ),
)
l1_loss_backward = _m.l1_loss_backward
