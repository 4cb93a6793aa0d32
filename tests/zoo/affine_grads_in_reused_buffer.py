"""affine: backward returns dW and db in module-level buffers that the next backward overwrites."""

import numpy as np

import reference as _ref
from reference import *  # noqa: F403

TARGETS = ("affine",)
_BUFFERS: dict = {}


def affine_backward(cache, dout):
    grads = _ref.affine_backward(cache, dout)
    for k in ("dW", "db"):
        g = grads[k]
        buf = _BUFFERS.setdefault((k, g.shape, g.dtype.str), np.empty_like(g))  # "avoids reallocating"
        buf[...] = g
        grads[k] = buf
    return grads
