"""affine: dW = (dout^T x) reshaped to W's shape instead of x^T dout (wrong transpose)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('affine',)
_m = mutant(
    "linear",
    (
        '"dW": down(up(x2d).T @ g, W.dtype)',
        '"dW": down((g.T @ up(x2d)).reshape(W.shape), W.dtype)',
    ),
)
affine_backward = _m.affine_backward
