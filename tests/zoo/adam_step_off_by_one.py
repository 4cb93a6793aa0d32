"""adam: bias corrections use step + 1 (off by one in the step count)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('optim:Adam',)
_m = mutant(
    "optim",
    (
        'step_size = lr / (1 - beta1**step)\n    bias_correction2_sqrt = (1 - beta2**step) ** 0.5',
        'step_size = lr / (1 - beta1 ** (step + 1))\n    bias_correction2_sqrt = (1 - beta2 ** (step + 1)) ** 0.5',
    ),
)
adam = _m.adam
