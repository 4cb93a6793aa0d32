"""relu: forward caches the caller's x and backward clamps it in place to build its mask."""

import numpy as np

import reference as _ref
from reference import *  # noqa: F403

TARGETS = ("relu",)


def relu_forward(x):
    out, _ = _ref.relu_forward(x)
    return out, x  # the cache is the caller's array itself


def relu_backward(cache, dout):
    x = cache
    np.maximum(x, x.dtype.type(0), out=x)  # "saves memory": x <= 0 exactly where relu(x) <= 0
    return _ref.relu_backward(x, dout)
