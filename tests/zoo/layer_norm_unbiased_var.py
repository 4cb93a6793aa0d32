"""layer_norm: normalises with the unbiased variance (n - 1) instead of the biased one."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('layer_norm',)
_EXTRA = """

def _unbiased(w, axes):
    mean, var = _moments(w, axes)
    n = math.prod(w.shape[a] for a in axes)
    return mean, var * (n / max(n - 1, 1))
"""
_m = mutant(
    "normalization",
    (
        '_scale_and_shift(op, x, w, _moments(w, axes), eps, p, shape, shape,',
        '_scale_and_shift(op, x, w, _unbiased(w, axes), eps, p, shape, shape,',
    ),
    extra=_EXTRA,
)
layer_norm_forward = _m.layer_norm_forward
layer_norm_backward = _m.layer_norm_backward
