# ruff: noqa: ANN001, ANN201
"""Textbook layers that build their parameters on the first forward (``params`` / ``grads``
dictionaries, weights laid out (out, in) as in torch's ``nn.Linear``), the style of Keras-like
frameworks written from scratch. The formulas are those commonly taught, on purpose:
``pytest --impl examples/adapter_lazy.py`` shows where they differ from torch."""

import numpy as np


class Dense:
    def __init__(self, units):
        self.units = units
        self.params = {}
        self.grads = {}
        self.x = None

    def build(self, n_in):
        self.params["W"] = np.random.randn(self.units, n_in) * np.sqrt(2.0 / n_in)  # He initialisation
        self.params["b"] = np.zeros(self.units)

    def forward(self, x):
        if not self.params:
            self.build(x.shape[1])
        self.x = x
        return x @ self.params["W"].T + self.params["b"]

    def backward(self, dout):
        self.grads["W"] = dout.T @ self.x
        self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"]


class ReLU:
    def __init__(self):
        self.params, self.grads = {}, {}
        self.x = None

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * (self.x >= 0)


class Sigmoid:
    def __init__(self):
        self.params, self.grads = {}, {}
        self.out = None

    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out)


class SoftmaxCrossEntropy:
    def __init__(self):
        self.params, self.grads = {}, {}
        self.y = self.t = None

    def forward(self, logits, t):
        if t.ndim == 1:
            t = np.eye(logits.shape[1])[t]
        exps = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.y = exps / exps.sum(axis=1, keepdims=True)
        self.t = t
        return -np.mean(np.sum(t * np.log(self.y + 1e-7), axis=1))

    def backward(self, dout=1.0):
        return dout * (self.y - self.t) / self.y.shape[0]
