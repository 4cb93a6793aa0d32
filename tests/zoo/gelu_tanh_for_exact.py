"""gelu: the forward uses the tanh approximation when approximate='none'."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('gelu',)
_m = mutant(
    "smooth",
    (
        'out = w * 0.5 * (1 + _erf(w * w.dtype.type(SQRT1_2)))',
        'out = w * 0.5 * (1 + _gelu_tanh_inner(w)[1])',
    ),
)
gelu_forward = _m.gelu_forward
