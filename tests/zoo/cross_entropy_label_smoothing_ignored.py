"""cross_entropy: label_smoothing is validated but never applied."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('cross_entropy',)
_m = mutant(
    "classification",
    (
        'eps = _smoothing(label_smoothing)',
        'eps = 0.0 * _smoothing(label_smoothing)',
    ),
)
cross_entropy_forward = _m.cross_entropy_forward
cross_entropy_backward = _m.cross_entropy_backward
