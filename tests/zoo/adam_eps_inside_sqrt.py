"""adam: sqrt(v_hat + eps) instead of sqrt(v_hat) + eps."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('optim:Adam',)
_m = mutant(
    "optim",
    (
        'denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps',
        'denom = np.sqrt(exp_avg_sq / bias_correction2_sqrt**2 + eps)',
    ),
)
adam = _m.adam
