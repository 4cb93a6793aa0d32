"""affine: backward accumulates dW/db into arrays kept in the cache and returns those arrays themselves."""

import numpy as np

import reference as _ref
from reference import *  # noqa: F403

TARGETS = ("affine",)


def affine_forward(x, W, b):
    out, cache = _ref.affine_forward(x, W, b)
    return out, (cache, {"dW": np.zeros_like(W), "db": np.zeros_like(b)})  # "ready for gradient accumulation"


def affine_backward(cache, dout):
    inner, acc = cache
    grads = _ref.affine_backward(inner, dout)
    acc["dW"] += grads["dW"]
    acc["db"] += grads["db"]
    return {"dx": grads["dx"], "dW": acc["dW"], "db": acc["db"]}
