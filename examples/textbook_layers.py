# ruff: noqa: ANN001, ANN201
"""Textbook layers as classes with ``forward(x)`` / ``backward(dout)``, parameter gradients left in
attributes (``dW``, ``db``), as in "Deep Learning from Scratch" (``common/layers.py``). The formulas are
those commonly taught, on purpose: ``pytest --impl examples/adapter_layers.py`` shows where they differ
from torch."""

import numpy as np


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    if t.size == y.size:  # one-hot to class indices
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x < 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        dx = dout
        return dx


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        out = 1 / (1 + np.exp(-x))
        self.out = out
        return out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            dx = (self.y - self.t) / batch_size
        else:
            dx = self.y.copy()
            dx[np.arange(batch_size), self.t] -= 1
            dx = dx / batch_size
        return dx * dout


class Dropout:
    """Non-inverted dropout: training keeps units unscaled, evaluation scales by ``1 - dropout_ratio``."""

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


class BatchNormalization:
    """Batch normalisation per channel as the book teaches it: running statistics are attributes updated in
    place with ``momentum`` = the fraction KEPT (0.9), the running variance takes the biased batch variance."""

    def __init__(self, gamma, beta, momentum=0.9, eps=1e-5):
        self.gamma, self.beta, self.momentum, self.eps = gamma, beta, momentum, eps
        self.running_mean, self.running_var = None, None
        self.dgamma, self.dbeta = None, None

    def forward(self, x, train_flg=True):
        axes = (0, *range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if self.running_mean is None:
            self.running_mean, self.running_var = np.zeros(x.shape[1]), np.ones(x.shape[1])
        if train_flg:
            mu = x.mean(axis=axes)
            var = x.var(axis=axes)
            self.running_mean[...] = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var[...] = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            mu, var = self.running_mean, self.running_var
        self.axes, self.std = axes, np.sqrt(var.reshape(shape) + self.eps)
        self.xn = (x - mu.reshape(shape)) / self.std
        return self.gamma.reshape(shape) * self.xn + self.beta.reshape(shape)

    def backward(self, dout):
        axes, n = self.axes, dout.size // dout.shape[1]
        self.dbeta = dout.sum(axis=axes)
        self.dgamma = (self.xn * dout).sum(axis=axes)
        dxn = self.gamma.reshape(self.std.shape) * dout
        return (dxn - dxn.mean(axis=axes, keepdims=True)
                - self.xn * (dxn * self.xn).sum(axis=axes, keepdims=True) / n) / self.std


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class LSTMCell:
    """An LSTM cell with its gate blocks stacked i, f, o, g (the "IFOG" layout of many tutorials; torch
    stacks i, f, g, o); weights (4H, in) and (4H, H), two biases, gradients in attributes."""

    def __init__(self, W_ih, W_hh, b_ih, b_hh):
        self.W_ih, self.W_hh, self.b_ih, self.b_hh = W_ih, W_hh, b_ih, b_hh

    def forward(self, x, h, c):
        H = h.shape[1]
        a = x @ self.W_ih.T + self.b_ih + h @ self.W_hh.T + self.b_hh
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H])
        g = np.tanh(a[:, 3 * H:])
        c_next = f * c + i * g
        h_next = o * np.tanh(c_next)
        self.cache = (x, h, c, i, f, o, g, c_next)
        return h_next, c_next

    def backward(self, dout):
        dh_next, dc_next = dout
        x, h, c, i, f, o, g, c_next = self.cache
        tc = np.tanh(c_next)
        dc = dc_next + dh_next * o * (1 - tc ** 2)
        da = np.hstack([dc * g * i * (1 - i), dc * c * f * (1 - f), dh_next * tc * o * (1 - o), dc * i * (1 - g ** 2)])
        self.dW_ih, self.dW_hh = da.T @ x, da.T @ h
        self.db_ih = self.db_hh = da.sum(axis=0)
        return da @ self.W_ih, da @ self.W_hh, dc * f


class Adam:
    """The book's Adam: ``update(params, grads)`` in place; eps added to sqrt(v) without bias correction."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter, self.m, self.v = 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m, self.v = {}, {}
            for key, val in params.items():
                self.m[key] = np.zeros_like(val)
                self.v[key] = np.zeros_like(val)
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)
