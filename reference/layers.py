"""Stateful layers in the book's style, built on the functional core, and a ``Sequential`` container.

A layer owns its parameters (``params``), their gradients (``grads``, same names), its buffers
(``buffers``: batch norm's running statistics) and a mode (``train()`` / ``eval()``). ``forward(x)``
calls the op's ``<op>_forward`` and keeps the cache; ``backward(dout)`` calls ``<op>_backward`` on it,
adds each parameter's gradient into ``grads`` and returns ``dx``. No math lives here: every number
comes from the functional ops.

Gradients accumulate, as in torch, until ``zero_grad()`` sets them to zero (in place: a dict of
``grads`` taken once stays valid, and so does one of ``params`` for an optimizer that updates in place).
A parameter is named as its op's argument (``W`` and ``b`` for affine and conv2d, ``weight`` and
``bias`` for batch_norm, torch's ``weight_ih_l0``, ... for lstm), so a layer passes ``**params`` to
the op and reads ``d<name>`` back. A layer keeps one cache: it may appear once in a network.

Parameters are initialised with torch's default distributions (drawn from the NumPy ``Generator``
given) in the dtype given, float64 unless told otherwise. ``state_dict()`` holds parameters and
buffers by (dotted) name; ``save(path)`` / ``load(path)`` write and read it as ``.npz``, bit for bit.
Loading checks every array's name, shape and dtype before it changes anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from os import PathLike
from typing import Any

import numpy as np

from reference._core import Array
from reference.activations import relu_backward, relu_forward, sigmoid_backward, sigmoid_forward
from reference.classification import (
    cross_entropy_backward,
    cross_entropy_forward,
    sequence_cross_entropy_backward,
    sequence_cross_entropy_forward,
)
from reference.conv import conv2d_backward, conv2d_forward
from reference.dropout import dropout_backward, dropout_forward, keep_mask
from reference.linear import affine_backward, affine_forward
from reference.normalization import batch_norm_backward, batch_norm_forward
from reference.pool import max_pool2d_backward, max_pool2d_forward
from reference.recurrent import lstm_backward, lstm_forward
from reference.shape import embedding_backward, embedding_forward, flatten_backward, flatten_forward
from reference.smooth import tanh_backward, tanh_forward
from reference.softmax import softmax_with_loss_backward, softmax_with_loss_forward

__all__ = [
    "LSTM",
    "Affine",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "Layer",
    "MaxPool2d",
    "Module",
    "ReLU",
    "SequenceCrossEntropyLoss",
    "Sequential",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
    "TimeAffine",
]

KINDS = ("params", "grads", "buffers")


class Module:
    """What layers and containers share: the mode, ``zero_grad``, the state dict and ``.npz`` files."""

    training: bool = True

    def named(self, kind: str) -> dict[str, Array]:
        """The live arrays of one kind ("params", "grads" or "buffers") by (dotted) name."""
        raise NotImplementedError

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, dout: Array) -> Array | None:
        raise NotImplementedError

    def __call__(self, *args: Any) -> Any:
        return self.forward(*args)

    def train(self, mode: bool = True) -> Module:
        self.training = bool(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for g in self.named("grads").values():
            g[...] = 0

    def state_dict(self) -> dict[str, Array]:
        """Parameters and buffers by name (the live arrays, as torch's ``state_dict``)."""
        return {**self.named("params"), **self.named("buffers")}

    def load_state_dict(self, state: Mapping[str, Array]) -> None:
        """Copy every array of ``state`` into this module, bit for bit. Every name, shape and dtype is
        checked first: on any problem a ValueError lists them all and nothing is changed."""
        own = self.state_dict()
        problems = [f"missing {name}" for name in own if name not in state]
        problems += [f"unexpected {name}" for name in state if name not in own]
        for name in (n for n in own if n in state):
            got, want = np.asarray(state[name]), own[name]
            if got.shape != want.shape:
                problems.append(f"{name} has shape {got.shape}, expected {want.shape}")
            elif got.dtype != want.dtype:
                problems.append(f"{name} has dtype {got.dtype}, expected {want.dtype}")
        if problems:
            raise ValueError(f"load_state_dict: nothing was loaded: {'; '.join(problems)}")
        for name, a in own.items():
            a[...] = state[name]

    def save(self, path: str | PathLike) -> None:
        """Write ``state_dict()`` to an ``.npz`` file (NumPy adds the suffix if ``path`` lacks it)."""
        np.savez(path, **self.state_dict())

    def load(self, path: str | PathLike) -> None:
        """Read an ``.npz`` file written by ``save`` into this module (see ``load_state_dict``)."""
        with np.load(path, allow_pickle=False) as f:
            state = {name: _stored(f[name], self.state_dict().get(name)) for name in f.files}
        self.load_state_dict(state)


def _stored(a: Array, like: Array | None) -> Array:
    """An array as ``np.load`` gives it back: bfloat16 (ml_dtypes) is stored as raw 2-byte voids."""
    if like is not None and a.dtype.kind == "V" and like.dtype.kind == "V" and a.dtype.itemsize == like.dtype.itemsize:
        return a.view(like.dtype)
    return a


class Layer(Module):
    """One layer: ``params``, ``grads`` and ``buffers`` are dicts by name."""

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.buffers: dict[str, Array] = {}
        self.training = True

    def named(self, kind: str) -> dict[str, Array]:
        if kind not in KINDS:
            raise ValueError(f"named: kind must be one of {KINDS}, got {kind!r}")
        return dict(getattr(self, kind))

    def _param(self, name: str, value: Array, dtype: np.dtype) -> None:
        self.params[name] = np.asarray(value).astype(dtype)
        self.grads[name] = np.zeros_like(self.params[name])

    def _accumulate(self, grads: dict[str, Array]) -> None:
        for name, g in self.grads.items():
            g += grads[f"d{name}"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v.shape}' for k, v in self.params.items())})"


class _Op(Layer):
    """A layer over one functional pair: ``forward(x)`` is ``op_forward(x, **params, **options)``."""

    op: tuple[Callable, Callable]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options
        self.cache = None

    def forward(self, x: Array) -> Array:
        out, self.cache = self.op[0](x, **self.params, **self.options)
        return out

    def _grads(self, dout: Array) -> dict[str, Array]:
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward: call forward first")
        grads = self.op[1](self.cache, dout)
        self._accumulate(grads)
        return grads

    def backward(self, dout: Array) -> Array | None:
        return self._grads(dout).get("dx")


def _uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...]) -> Array:
    return rng.uniform(-bound, bound, shape)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, (int, np.integer)) else tuple(v)


# -- affine ---------------------------------------------------------------------------------------

class Affine(_Op):
    """The seed's Affine: ``x @ W + b``, W (in, out); x (N, ...) is flattened to (N, in). Initialised as
    ``nn.Linear``: W and b uniform in ±1/sqrt(in)."""

    op = (affine_forward, affine_backward)

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator,
                 dtype: np.dtype | type = np.float64) -> None:
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self._param("W", _uniform(rng, bound, (in_features, out_features)), dtype)
        self._param("b", _uniform(rng, bound, (out_features,)), dtype)


class TimeAffine(Affine):
    """The book's TimeAffine: Affine on the last axis of (N, T, D) (torch's ``nn.Linear`` on 3-D input)."""

    def forward(self, x: Array) -> Array:
        x = np.asarray(x)
        self.lead = x.shape[:-1]
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(*self.lead, -1)

    def backward(self, dout: Array) -> Array:
        dout = np.asarray(dout)
        return super().backward(dout.reshape(-1, dout.shape[-1])).reshape(*self.lead, -1)


# -- activations and shape ------------------------------------------------------------------------

class ReLU(_Op):
    op = (relu_forward, relu_backward)


class Sigmoid(_Op):
    op = (sigmoid_forward, sigmoid_backward)


class Tanh(_Op):
    op = (tanh_forward, tanh_backward)


class Flatten(_Op):
    """``nn.Flatten``: dims ``start_dim..end_dim`` merged (the batch axis kept by default)."""

    op = (flatten_forward, flatten_backward)

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__(start_dim=start_dim, end_dim=end_dim)


class MaxPool2d(_Op):
    op = (max_pool2d_forward, max_pool2d_backward)

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1,
                 ceil_mode: bool = False) -> None:
        super().__init__(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                         ceil_mode=ceil_mode)


class Dropout(_Op):
    """Inverted dropout in training, the identity in eval. The keep-mask of the last forward is
    ``self.mask`` (True = keep; None when nothing was dropped), drawn from ``rng``."""

    op = (dropout_forward, dropout_backward)

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: probability p must be between 0 and 1, got {p}")
        super().__init__(p=p)
        self.p, self.rng, self.mask = p, rng, None

    def forward(self, x: Array) -> Array:
        x = np.asarray(x)
        drops = self.training and 0 < self.p < 1
        if drops and self.rng is None:
            raise ValueError("Dropout: training with 0 < p < 1 draws a keep-mask, which needs a Generator: "
                             "Dropout(p, rng=np.random.default_rng(seed))")
        self.mask = keep_mask("Dropout", "mask", self.p, None, self.rng, x.shape) if drops else None
        out, self.cache = dropout_forward(x, self.p, self.training, mask=self.mask)
        return out


# -- layers with parameters -----------------------------------------------------------------------

class Conv2d(_Op):
    """``nn.Conv2d``: W (C_out, C_in / groups, kH, kW) and b (C_out,), both uniform in ±1/sqrt(fan_in)."""

    op = (conv2d_forward, conv2d_backward)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 rng: np.random.Generator, stride: int | tuple[int, int] = 1, padding: int | tuple | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True,
                 dtype: np.dtype | type = np.float64) -> None:
        super().__init__(stride=stride, padding=padding, dilation=dilation, groups=groups)
        shape = (out_channels, in_channels // groups, *_pair(kernel_size))
        bound = 1 / math.sqrt(math.prod(shape[1:]))
        self._param("W", _uniform(rng, bound, shape), dtype)
        if bias:
            self._param("b", _uniform(rng, bound, (out_channels,)), dtype)


class Embedding(_Op):
    """``nn.Embedding``: W (num_embeddings, embedding_dim) drawn from N(0, 1), the padding row zero.
    Its input is indices, so ``backward`` returns None."""

    op = (embedding_forward, embedding_backward)

    def __init__(self, num_embeddings: int, embedding_dim: int, rng: np.random.Generator,
                 padding_idx: int | None = None, dtype: np.dtype | type = np.float64) -> None:
        super().__init__(padding_idx=padding_idx)
        W = rng.standard_normal((num_embeddings, embedding_dim))
        if padding_idx is not None:
            W[padding_idx] = 0
        self._param("W", W, dtype)


class _BatchNorm(Layer):
    """``nn.BatchNorm``: weight 1 and bias 0; buffers running_mean 0, running_var 1 and
    num_batches_tracked, updated from what ``batch_norm_forward`` returns in training."""

    dims: tuple[int, ...]

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 dtype: np.dtype | type = np.float64) -> None:
        super().__init__()
        self.eps, self.momentum, self.cache = eps, momentum, None
        self._param("weight", np.ones(num_features), dtype)
        self._param("bias", np.zeros(num_features), dtype)
        self.buffers = {
            "running_mean": np.zeros(num_features, dtype),
            "running_var": np.ones(num_features, dtype),
            "num_batches_tracked": np.zeros((), np.int64),
        }

    def forward(self, x: Array) -> Array:
        x = np.asarray(x)
        if x.ndim not in self.dims:
            raise ValueError(f"{type(self).__name__}: expected {' or '.join(f'{d}-D' for d in self.dims)} input, "
                             f"got shape {x.shape}")
        b = self.buffers
        (out, mean, var), self.cache = batch_norm_forward(
            x, **self.params, running_mean=b["running_mean"], running_var=b["running_var"], training=self.training,
            momentum=self.momentum, eps=self.eps, num_batches_tracked=int(b["num_batches_tracked"]),
        )
        if self.training:
            b["running_mean"][...], b["running_var"][...] = mean, var
            b["num_batches_tracked"] += 1
        return out

    def backward(self, dout: Array) -> Array:
        if self.cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward: call forward first")
        grads = batch_norm_backward(self.cache, dout)
        self._accumulate(grads)
        return grads["dx"]


class BatchNorm1d(_BatchNorm):
    """On (N, C) or (N, C, L)."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """On (N, C, H, W)."""

    dims = (4,)


class LSTM(_Op):
    """``nn.LSTM`` with torch's parameter names, all uniform in ±1/sqrt(hidden_size). ``forward(x)``
    returns the output sequence from zero initial states and keeps ``h_n``, ``c_n``; ``backward(dout)``
    takes the gradient of the output sequence only."""

    op = (lstm_forward, lstm_backward)

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, bidirectional: bool = False,
                 dtype: np.dtype | type = np.float64) -> None:
        super().__init__(num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
        dirs, bound, gates = 2 if bidirectional else 1, 1 / math.sqrt(hidden_size), 4 * hidden_size
        for layer in range(num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = {"weight_ih": (gates, input_size if layer == 0 else dirs * hidden_size),
                          "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for name, shape in shapes.items():  # torch's order of initialisation
                    self._param(name + sfx, _uniform(rng, bound, shape), dtype)
        self.h_n = self.c_n = None

    def forward(self, x: Array) -> Array:
        (out, self.h_n, self.c_n), self.cache = lstm_forward(x, **self.params, **self.options)
        return out

    def backward(self, dout: Array) -> Array:
        return self._grads((dout, np.zeros_like(self.h_n), np.zeros_like(self.c_n)))["dx"]


# -- losses ---------------------------------------------------------------------------------------

class _Loss(_Op):
    """``forward(x, t)`` returns the loss; ``backward()`` starts from ``dout = 1`` (a reduced loss)."""

    def forward(self, x: Array, t: Array) -> Array:
        out, self.cache = self.op[0](x, t, **self.options)
        self.out = out
        return out

    def backward(self, dout: Array | None = None) -> Array:
        if dout is None and self.cache is not None:
            dout = np.ones(self.out.shape, self.out.dtype)
        return self._grads(dout)["dx"]


class SoftmaxWithLoss(_Loss):
    """The book's last layer: softmax, then cross-entropy with class indices or one-hot targets."""

    op = (softmax_with_loss_forward, softmax_with_loss_backward)


class CrossEntropyLoss(_Loss):
    """``nn.CrossEntropyLoss`` (no class weights)."""

    op = (cross_entropy_forward, cross_entropy_backward)

    def __init__(self, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)


class SequenceCrossEntropyLoss(_Loss):
    """A language model's loss (the book's TimeSoftmaxWithLoss): logits (N, T, V), tokens (N, T)."""

    op = (sequence_cross_entropy_forward, sequence_cross_entropy_backward)

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction)


# -- the container --------------------------------------------------------------------------------

class Sequential(Module):
    """Layers applied in order: ``Sequential(a, b, c)`` names them "0", "1", "2" (as torch), or
    ``Sequential({"conv": a, "relu": b})``. ``params()``, ``grads()`` and ``buffers()`` are flat dicts
    with dotted names ("0.W", "conv.b", "1.running_mean"); ``train``/``eval`` reach every layer."""

    def __init__(self, *layers: Module | Mapping[str, Module]) -> None:
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            named = dict(layers[0])
        else:
            named = {str(i): layer for i, layer in enumerate(layers)}
        for name, layer in named.items():
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"Sequential: a layer name must be a non-empty string without '.', got {name!r}")
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {name!r} is a {type(layer).__name__}, not a Layer or Sequential")
        if len({id(layer) for layer in named.values()}) != len(named):
            raise ValueError("Sequential: a layer appears twice (it keeps one cache, so it cannot)")
        self.layers = named
        self.training = True

    def __getitem__(self, key: int | str) -> Module:
        return list(self.layers.values())[key] if isinstance(key, int) else self.layers[key]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers.values())

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({name}): " + repr(layer).replace("\n", "\n  ") for name, layer in self.layers.items())
        return f"Sequential({inner}\n)"

    def named(self, kind: str) -> dict[str, Array]:
        return {f"{name}.{k}": v for name, layer in self.layers.items() for k, v in layer.named(kind).items()}

    def params(self) -> dict[str, Array]:
        return self.named("params")

    def grads(self) -> dict[str, Array]:
        return self.named("grads")

    def buffers(self) -> dict[str, Array]:
        return self.named("buffers")

    def train(self, mode: bool = True) -> Sequential:
        self.training = bool(mode)
        for layer in self.layers.values():
            layer.train(mode)
        return self

    def forward(self, x: Array) -> Array:
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def backward(self, dout: Array) -> Array | None:
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        return dout
