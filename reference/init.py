"""Weight initialisers with torch.nn.init's formulas: Xavier/Glorot and Kaiming/He, uniform and normal.

Each returns a new array of ``shape`` drawn from the given NumPy ``Generator`` (``rng``; there is no
hidden global RNG) in ``dtype`` (float64 by default). Fans follow torch's
``_calculate_fan_in_and_fan_out``: ``shape[1]`` and ``shape[0]`` times the receptive field (the product
of the trailing dimensions), so a linear weight is ``(out_features, in_features)`` and a convolution
weight ``(C_out, C_in / groups, *kernel)``. For the seed's Affine ``W`` of shape ``(in, out)`` pass
``mode="fan_out"`` or the transposed shape. Uniform draws lie in ``[-bound, bound]``, normal ones have
standard deviation ``std``:

- xavier: ``std = gain * sqrt(2 / (fan_in + fan_out))``, ``bound = sqrt(3) * std``;
- kaiming: ``std = calculate_gain(nonlinearity, a) / sqrt(fan)``, ``bound = sqrt(3) * std``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "kaiming_normal",
    "kaiming_uniform",
    "xavier_normal",
    "xavier_uniform",
]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch.nn.init.calculate_gain: the recommended gain for a nonlinearity (``param`` is
    leaky_relu's negative slope, 0.01 when None)."""
    return _gain("calculate_gain", nonlinearity, param)


def _gain(op: str, nonlinearity: str, param: float | None) -> float:
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            slope = param
        else:
            raise ValueError(f"{op}: negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"{op}: Unsupported nonlinearity {nonlinearity}")


def calculate_fan_in_and_fan_out(shape: tuple[int, ...], op: str = "calculate_fan_in_and_fan_out") -> tuple[int, int]:
    """``(shape[1] * receptive, shape[0] * receptive)`` with ``receptive = prod(shape[2:])``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"{op}: Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(op: str, shape: tuple[int, ...], mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape, op)
    return fan_in if mode == "fan_in" else fan_out


def _generator(op: str, rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{op}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def _uniform(op: str, shape: tuple[int, ...], bound: float, rng: object, dtype: object) -> np.ndarray:
    """U(-bound, bound) rounded to ``dtype``, clamped to the largest value of the dtype not above ``bound``
    (rounding could otherwise carry a draw just past it)."""
    limit = np.asarray(bound).astype(dtype)
    if float(limit) > bound:  # compared exactly (NumPy 2 would round bound to the dtype first)
        limit = np.nextafter(limit, limit.dtype.type(0))
    return np.clip(_generator(op, rng).uniform(-bound, bound, size=shape).astype(dtype), -limit, limit)


def _normal(op: str, shape: tuple[int, ...], std: float, rng: object, dtype: object) -> np.ndarray:
    return _generator(op, rng).normal(0.0, std, size=shape).astype(dtype)


def _xavier_std(op: str, shape: tuple[int, ...], gain: float) -> float:
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape, op)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def _kaiming_std(op: str, shape: tuple[int, ...], a: float, mode: str, nonlinearity: str) -> float:
    fan = _fan(op, shape, mode)
    return _gain(op, nonlinearity, a) / math.sqrt(fan)


def xavier_uniform(shape: tuple[int, ...], gain: float = 1.0, rng: np.random.Generator | None = None,
                   dtype: object = np.float64) -> np.ndarray:
    """U(-bound, bound) with ``bound = gain * sqrt(6 / (fan_in + fan_out))`` (torch's xavier_uniform_)."""
    std = _xavier_std("xavier_uniform", shape, gain)
    return _uniform("xavier_uniform", shape, math.sqrt(3.0) * std, rng, dtype)


def xavier_normal(shape: tuple[int, ...], gain: float = 1.0, rng: np.random.Generator | None = None,
                  dtype: object = np.float64) -> np.ndarray:
    """N(0, std²) with ``std = gain * sqrt(2 / (fan_in + fan_out))`` (torch's xavier_normal_)."""
    return _normal("xavier_normal", shape, _xavier_std("xavier_normal", shape, gain), rng, dtype)


def kaiming_uniform(shape: tuple[int, ...], a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    rng: np.random.Generator | None = None, dtype: object = np.float64) -> np.ndarray:
    """U(-bound, bound) with ``bound = gain * sqrt(3 / fan)`` (torch's kaiming_uniform_). A shape with a
    zero dimension gives an empty array (torch warns and leaves the tensor)."""
    if 0 in tuple(shape):
        return np.empty(shape, dtype=dtype)
    std = _kaiming_std("kaiming_uniform", shape, a, mode, nonlinearity)
    return _uniform("kaiming_uniform", shape, math.sqrt(3.0) * std, rng, dtype)


def kaiming_normal(shape: tuple[int, ...], a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                   rng: np.random.Generator | None = None, dtype: object = np.float64) -> np.ndarray:
    """N(0, std²) with ``std = gain / sqrt(fan)`` (torch's kaiming_normal_)."""
    if 0 in tuple(shape):
        return np.empty(shape, dtype=dtype)
    return _normal("kaiming_normal", shape, _kaiming_std("kaiming_normal", shape, a, mode, nonlinearity), rng, dtype)
