"""cross_entropy: -log(softmax + 1e-7), which caps the loss at about 16.1 per target."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('cross_entropy',)
_m = mutant(
    "classification",
    (
        'logp = log_probs(lay.rows(x), axis=1)',
        'logp = np.log(np.exp(log_probs(lay.rows(x), axis=1)) + 1e-7)',
    ),
)
cross_entropy_forward = _m.cross_entropy_forward
