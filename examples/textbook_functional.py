# ruff: noqa: ANN001, ANN201, RUF059
"""Textbook layers in the functional style (cs231n): ``forward(x, ...) -> (out, cache)`` and
``backward(dout, cache) -> grads``, hyper-parameters in dicts. The formulas are those commonly taught,
on purpose: ``pytest --impl examples/adapter_functional.py`` shows where they differ from torch."""

import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    out = np.maximum(0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    x = cache
    dx = dout.copy()
    dx[x < 0] = 0
    return dx


def sigmoid_forward(x):
    out = 1 / (1 + np.exp(-x))
    return out, out


def sigmoid_backward(dout, cache):
    out = cache
    return dout * out * (1 - out)


def softmax_loss_forward(x, t):
    """Softmax then cross-entropy; ``t`` is one-hot (or class indices, turned one-hot)."""
    if t.ndim == 1:
        t = np.eye(x.shape[1], dtype=x.dtype)[t]
    shifted = x - np.max(x, axis=1, keepdims=True)
    y = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    loss = -np.sum(t * np.log(y + 1e-7)) / x.shape[0]
    return loss, (y, t)


def softmax_loss_backward(dout, cache):
    y, t = cache
    return dout * (y - t) / y.shape[0]


def dropout_forward(x, dropout_param):
    """Inverted dropout; ``dropout_param["p"]`` is the probability of KEEPING a unit."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    mask = None
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    else:
        out = x
    out = out.astype(x.dtype, copy=False)
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * mask
    return dout


def adam(w, dw, config=None):
    """cs231n's Adam: ``(w, dw, config) -> (next_w, config)``; m, v and the step t live in the config."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    config["t"] += 1
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw ** 2
    mt = config["m"] / (1 - config["beta1"] ** config["t"])
    vt = config["v"] / (1 - config["beta2"] ** config["t"])
    next_w = w - config["learning_rate"] * mt / (np.sqrt(vt) + config["epsilon"])
    return next_w, config
