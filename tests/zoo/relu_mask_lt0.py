"""relu: backward masks x < 0 only, so the gradient passes at x == 0 (torch: relu'(0) = 0)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('relu',)
_m = mutant(
    "activations",
    (
        'return out, out\n\n\ndef relu_backward',
        'return out, x  # the mask is taken from x\n\n\ndef relu_backward',
    ),
    (
        'np.where(up(out) <= 0, out.dtype.type(0), dout)',
        'np.where(up(out) < 0, out.dtype.type(0), dout)',
    ),
)
relu_forward = _m.relu_forward
relu_backward = _m.relu_backward
