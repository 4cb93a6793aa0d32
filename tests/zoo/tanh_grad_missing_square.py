"""tanh: backward uses 1 - y instead of 1 - y^2."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('tanh',)
_m = mutant(
    "smooth",
    (
        'return {"dx": down(g * (1 - wy * wy), y.dtype)}',
        'return {"dx": down(g * (1 - wy), y.dtype)}',
    ),
)
tanh_backward = _m.tanh_backward
