"""sigmoid: float16/bfloat16 results are returned in float32 (never rounded back)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('sigmoid',)
_m = mutant(
    "activations",
    (
        'out = down(np.where(w >= 0, 1 / (1 + e), e / (1 + e)), x.dtype)',
        'out = np.where(w >= 0, 1 / (1 + e), e / (1 + e))',
    ),
)
sigmoid_forward = _m.sigmoid_forward
