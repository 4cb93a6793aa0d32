"""Optimizers, gradient clipping and learning-rate schedules with torch.optim's semantics.

The functional core is one pure function per optimizer: ``adam(param, grad, state, **options) ->
(new_param, new_state)``. ``state`` is a dict, empty before the first step, holding exactly the
entries torch keeps in ``optimizer.state[p]`` (``step``, ``exp_avg``, ``momentum_buffer`` ...);
inputs and the given state are never mutated. Each function follows torch's default CPU path (the
single-tensor one) operation by operation, in the parameter's dtype, with the scalars (``1 - beta2``,
the bias-corrected step size ...) computed in Python floats as torch computes them. ``step`` and
NAdam's ``mu_product`` are 0-d float32 arrays, as torch keeps them (float32 tensors under torch's
default dtype), so NAdam's momentum product is rounded to float32 at every step exactly like torch's.

The classes (``SGD`` ... ``NAdam``) are thin, torch-like wrappers: they take a dict of named parameter
arrays, ``step(grads)`` overwrites each array's contents in place and keeps ``opt.state[name]``;
``opt.lr`` may be changed between steps (the schedules do). Parameters without a gradient in
``grads`` are skipped, as torch skips a parameter whose ``grad`` is None.

Invalid hyper-parameters raise ``ValueError`` with torch's message, prefixed by the function or class
name (``"adam: Invalid beta parameter at index 0: 1.0"``). Parameters must be float32 or float64: the
only dtypes verified against torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LinearLR",
    "LinearWarmup",
    "NAdam",
    "Optimizer",
    "RMSprop",
    "StepLR",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "clip_grad_norm_",
    "clip_grad_value_",
    "nadam",
    "rmsprop",
    "sgd",
]

Array = np.ndarray
State = dict[str, Array]


# ---------------------------------------------------------------------------------------------------
# Validation


def _at_least_zero(op: str, **values: float) -> None:
    """torch's ``if not 0.0 <= value: raise ValueError("Invalid <name> value: ...")`` checks."""
    for name, value in values.items():
        if not 0.0 <= value:
            what = {"lr": "learning rate", "eps": "epsilon value"}.get(name, f"{name} value")
            raise ValueError(f"{op}: Invalid {what}: {value}")


def _betas(op: str, betas: tuple[float, float]) -> tuple[float, float]:
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{op}: Invalid beta parameter at index {i}: {beta}")
    beta1, beta2 = betas
    return float(beta1), float(beta2)


def _check_sgd(op: str, lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool) -> None:
    _at_least_zero(op, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(f"{op}: Nesterov momentum requires a momentum and zero dampening")


def _check_adagrad(op: str, lr: float, lr_decay: float, weight_decay: float, initial_accumulator_value: float,
                   eps: float) -> None:
    _at_least_zero(op, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                   initial_accumulator_value=initial_accumulator_value, eps=eps)


def _check_rmsprop(op: str, lr: float, alpha: float, eps: float, weight_decay: float, momentum: float) -> None:
    _at_least_zero(op, lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)


def _check_adam(op: str, lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    _at_least_zero(op, lr=lr, eps=eps)
    _betas(op, betas)
    _at_least_zero(op, weight_decay=weight_decay)


def _check_adadelta(op: str, lr: float, rho: float, eps: float, weight_decay: float) -> None:
    _at_least_zero(op, lr=lr)
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"{op}: Invalid rho value: {rho}")
    _at_least_zero(op, eps=eps, weight_decay=weight_decay)


def _check_nadam(op: str, lr: float, betas: tuple[float, float], eps: float, weight_decay: float,
                 momentum_decay: float) -> None:
    _check_adam(op, lr, betas, eps, weight_decay)
    _at_least_zero(op, momentum_decay=momentum_decay)


def _begin(op: str, param: object, grad: object, state: State, maximize: bool) -> tuple[Array, Array, State]:
    """Checked param and grad (negated when maximizing) and a shallow copy of the state."""
    param, grad = np.asarray(param), np.asarray(grad)
    if param.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: param must be a float32 or float64 array, got dtype {param.dtype}")
    if grad.dtype != param.dtype:
        raise TypeError(f"{op}: grad has dtype {grad.dtype}, but param has dtype {param.dtype}")
    if grad.shape != param.shape:
        raise ValueError(f"{op}: grad has shape {grad.shape}, but param has shape {param.shape}")
    return param, -grad if maximize else grad, dict(state)


def _count(state: State) -> tuple[Array, float]:
    """The incremented step counter (a float32 0-d array, like torch's) and its value."""
    step = np.asarray(np.float32(state.get("step", 0.0)) + np.float32(1))
    return step, float(step)


def _lerp(start: Array, end: Array, weight: float) -> Array:
    """torch.lerp: ``start + w (end - start)`` for |w| < 0.5, else ``end - (end - start)(1 - w)``."""
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        return start + w * (end - start)
    return end - (end - start) * (start.dtype.type(1) - w)


def _decay(grad: Array, param: Array, weight_decay: float) -> Array:
    """L2 penalty folded into the gradient: ``grad + weight_decay * param``."""
    return grad + weight_decay * param if weight_decay != 0 else grad


# ---------------------------------------------------------------------------------------------------
# Functional core


def sgd(param: Array, grad: Array, state: State, *, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
        weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False) -> tuple[Array, State]:
    """One step of torch.optim.SGD; ``state`` holds ``momentum_buffer`` once momentum is used."""
    _check_sgd("sgd", lr, momentum, dampening, weight_decay, nesterov)
    param, g, state = _begin("sgd", param, grad, state, maximize)
    g = _decay(g, param, weight_decay)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g  # the first step takes g as is
        state["momentum_buffer"] = buf
        g = g + momentum * buf if nesterov else buf
    return param - lr * g, state


def adagrad(param: Array, grad: Array, state: State, *, lr: float = 1e-2, lr_decay: float = 0.0,
            weight_decay: float = 0.0, initial_accumulator_value: float = 0.0, eps: float = 1e-10,
            maximize: bool = False) -> tuple[Array, State]:
    """One step of torch.optim.Adagrad: ``sum += g²``, ``param -= clr g / (sqrt(sum) + eps)``."""
    _check_adagrad("adagrad", lr, lr_decay, weight_decay, initial_accumulator_value, eps)
    param, g, state = _begin("adagrad", param, grad, state, maximize)
    state["step"], step = _count(state)
    g = _decay(g, param, weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    total = state.get("sum", np.full_like(param, initial_accumulator_value)) + g * g
    state["sum"] = total
    return param + (-clr * g) / (np.sqrt(total) + eps), state


def rmsprop(param: Array, grad: Array, state: State, *, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
            weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
            maximize: bool = False) -> tuple[Array, State]:
    """One step of torch.optim.RMSprop; ``centered`` divides by the gradient's running standard
    deviation ``sqrt(E[g²] - E[g]²)`` instead of its root mean square."""
    _check_rmsprop("rmsprop", lr, alpha, eps, weight_decay, momentum)
    param, g, state = _begin("rmsprop", param, grad, state, maximize)
    state["step"], _ = _count(state)
    g = _decay(g, param, weight_decay)
    zeros = np.zeros_like(param)
    square_avg = alpha * state.get("square_avg", zeros) + (1 - alpha) * g * g
    state["square_avg"] = square_avg
    with np.errstate(invalid="ignore"):  # a variance rounded below zero gives NaN, as in torch
        if centered:
            grad_avg = _lerp(state.get("grad_avg", zeros), g, 1 - alpha)
            state["grad_avg"] = grad_avg
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        buf = momentum * state.get("momentum_buffer", zeros) + g / avg
        state["momentum_buffer"] = buf
        return param - lr * buf, state
    return param + (-lr * g) / avg, state


def adam(param: Array, grad: Array, state: State, *, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
         eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
         decoupled_weight_decay: bool = False) -> tuple[Array, State]:
    """One step of torch.optim.Adam (AdamW with ``decoupled_weight_decay``): bias-corrected moments,
    ``param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``; ``amsgrad`` uses the
    running maximum of ``v``."""
    return _adam("adam", param, grad, state, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay)


def adamw(param: Array, grad: Array, state: State, *, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
          eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False,
          maximize: bool = False) -> tuple[Array, State]:
    """One step of torch.optim.AdamW: Adam whose weight decay scales the parameter by
    ``1 - lr * weight_decay`` instead of entering the gradient."""
    return _adam("adamw", param, grad, state, lr, betas, eps, weight_decay, amsgrad, maximize, True)


def _adam(op: str, param: Array, grad: Array, state: State, lr: float, betas: tuple[float, float], eps: float,
          weight_decay: float, amsgrad: bool, maximize: bool, decoupled: bool) -> tuple[Array, State]:
    _check_adam(op, lr, betas, eps, weight_decay)
    beta1, beta2 = _betas(op, betas)
    param, g, state = _begin(op, param, grad, state, maximize)
    state["step"], step = _count(state)
    if weight_decay != 0 and decoupled:
        param = param * (1 - lr * weight_decay)
    elif not decoupled:
        g = _decay(g, param, weight_decay)
    zeros = np.zeros_like(param)
    exp_avg = _lerp(state.get("exp_avg", zeros), g, 1 - beta1)
    exp_avg_sq = beta2 * state.get("exp_avg_sq", zeros) + (1 - beta2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = exp_avg, exp_avg_sq
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    if amsgrad:
        exp_avg_sq = np.maximum(state.get("max_exp_avg_sq", zeros), exp_avg_sq)
        state["max_exp_avg_sq"] = exp_avg_sq
    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
    return param + (-step_size * exp_avg) / denom, state


def adadelta(param: Array, grad: Array, state: State, *, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
             weight_decay: float = 0.0, maximize: bool = False) -> tuple[Array, State]:
    """One step of torch.optim.Adadelta: ``delta = sqrt(E[Δ²] + eps) / sqrt(E[g²] + eps) * g``."""
    _check_adadelta("adadelta", lr, rho, eps, weight_decay)
    param, g, state = _begin("adadelta", param, grad, state, maximize)
    state["step"], _ = _count(state)
    g = _decay(g, param, weight_decay)
    zeros = np.zeros_like(param)
    square_avg = rho * state.get("square_avg", zeros) + (1 - rho) * g * g
    acc_delta = state.get("acc_delta", zeros)
    delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
    state["square_avg"] = square_avg
    state["acc_delta"] = rho * acc_delta + (1 - rho) * delta * delta
    return param - lr * delta, state


def adamax(param: Array, grad: Array, state: State, *, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
           eps: float = 1e-8, weight_decay: float = 0.0, maximize: bool = False) -> tuple[Array, State]:
    """One step of torch.optim.Adamax: the second moment is the decayed infinity norm
    ``max(beta2 u, |g| + eps)``."""
    _check_adam("adamax", lr, betas, eps, weight_decay)
    beta1, beta2 = _betas("adamax", betas)
    param, g, state = _begin("adamax", param, grad, state, maximize)
    state["step"], step = _count(state)
    g = _decay(g, param, weight_decay)
    zeros = np.zeros_like(param)
    exp_avg = _lerp(state.get("exp_avg", zeros), g, 1 - beta1)
    exp_inf = np.maximum(beta2 * state.get("exp_inf", zeros), np.abs(g) + eps)
    state["exp_avg"], state["exp_inf"] = exp_avg, exp_inf
    clr = lr / (1 - beta1**step)
    return param + (-clr * exp_avg) / exp_inf, state


def nadam(param: Array, grad: Array, state: State, *, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
          eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
          decoupled_weight_decay: bool = False, maximize: bool = False) -> tuple[Array, State]:
    """One step of torch.optim.NAdam: Adam with Nesterov momentum whose coefficient
    ``mu_t = beta1 (1 - 0.96^(t momentum_decay) / 2)`` warms up; ``mu_product`` is their product."""
    _check_nadam("nadam", lr, betas, eps, weight_decay, momentum_decay)
    beta1, beta2 = _betas("nadam", betas)
    param, g, state = _begin("nadam", param, grad, state, maximize)
    state["step"], step = _count(state)
    bias_correction2 = 1 - beta2**step
    if weight_decay != 0 and decoupled_weight_decay:
        param = param * (1 - lr * weight_decay)
    elif not decoupled_weight_decay:
        g = _decay(g, param, weight_decay)
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product = np.asarray(np.float32(state.get("mu_product", 1.0)) * np.float32(mu))  # float32, as torch's
    state["mu_product"] = mu_product
    zeros = np.zeros_like(param)
    exp_avg = _lerp(state.get("exp_avg", zeros), g, 1 - beta1)
    exp_avg_sq = beta2 * state.get("exp_avg_sq", zeros) + (1 - beta2) * g * g
    state["exp_avg"], state["exp_avg_sq"] = exp_avg, exp_avg_sq
    denom = np.sqrt(exp_avg_sq / bias_correction2) + eps
    mu_product_next = float(mu_product) * mu_next
    param = param + (-lr * (1.0 - mu) / (1.0 - float(mu_product))) * g / denom
    return param + ((-lr * mu_next) / (1.0 - mu_product_next)) * exp_avg / denom, state


# ---------------------------------------------------------------------------------------------------
# Classes


class Optimizer:
    """A torch-like optimizer over named arrays, stepping each with the functional core ``_fn``."""

    _fn: Callable[..., tuple[Array, State]]

    def __init__(self, params: dict[str, Array], lr: float, **options: object) -> None:
        for name, p in params.items():
            if not isinstance(p, np.ndarray):
                raise TypeError(f"{type(self).__name__}: parameter {name!r} must be an ndarray, got {type(p).__name__}")
        self.params = params
        self.lr = lr
        self.options = options
        self.state: dict[str, State] = {name: {} for name in params}

    def step(self, grads: dict[str, Array]) -> None:
        """Update every parameter that has a gradient in ``grads``, in place."""
        unknown = sorted(set(grads) - set(self.params))
        if unknown:
            raise KeyError(f"{type(self).__name__}: gradients for unknown parameters {unknown}")
        fn = type(self)._fn
        for name, grad in grads.items():
            if grad is None:
                continue
            new, self.state[name] = fn(self.params[name], grad, self.state[name], lr=self.lr, **self.options)
            self.params[name][...] = new


class SGD(Optimizer):
    _fn = staticmethod(sgd)

    def __init__(self, params: dict[str, Array], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        _check_sgd("SGD", lr, momentum, dampening, weight_decay, nesterov)
        super().__init__(params, lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov, maximize=maximize)


class Adagrad(Optimizer):
    _fn = staticmethod(adagrad)

    def __init__(self, params: dict[str, Array], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        _check_adagrad("Adagrad", lr, lr_decay, weight_decay, initial_accumulator_value, eps)
        super().__init__(params, lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)


class RMSprop(Optimizer):
    _fn = staticmethod(rmsprop)

    def __init__(self, params: dict[str, Array], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        _check_rmsprop("RMSprop", lr, alpha, eps, weight_decay, momentum)
        super().__init__(params, lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                         centered=centered, maximize=maximize)


class Adam(Optimizer):
    _fn = staticmethod(adam)

    def __init__(self, params: dict[str, Array], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        _check_adam("Adam", lr, betas, eps, weight_decay)
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)


class AdamW(Optimizer):
    _fn = staticmethod(adamw)

    def __init__(self, params: dict[str, Array], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        _check_adam("AdamW", lr, betas, eps, weight_decay)
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


class Adadelta(Optimizer):
    _fn = staticmethod(adadelta)

    def __init__(self, params: dict[str, Array], lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False) -> None:
        _check_adadelta("Adadelta", lr, rho, eps, weight_decay)
        super().__init__(params, lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)


class Adamax(Optimizer):
    _fn = staticmethod(adamax)

    def __init__(self, params: dict[str, Array], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False) -> None:
        _check_adam("Adamax", lr, betas, eps, weight_decay)
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)


class NAdam(Optimizer):
    _fn = staticmethod(nadam)

    def __init__(self, params: dict[str, Array], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False) -> None:
        _check_nadam("NAdam", lr, betas, eps, weight_decay, momentum_decay)
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)


# ---------------------------------------------------------------------------------------------------
# Gradient clipping


def _vector_norm(x: Array, p: float) -> Array:
    """torch.linalg.vector_norm of the flattened array, computed in its dtype as torch does (so in
    float32 the 2-norm of 1e20 overflows to inf and that of 1e-30 underflows to 0, like torch's)."""
    a = np.abs(x).ravel()
    if a.size == 0:
        return np.zeros((), dtype=x.dtype)
    if p == math.inf:
        return a.max()
    if p == -math.inf:
        return a.min()
    if p == 0:
        return np.asarray(np.count_nonzero(a), dtype=x.dtype)
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        return np.sum(a**p) ** x.dtype.type(1.0 / p)


def clip_grad_norm_(grads: dict[str, Array], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Array:
    """Scale every gradient in place by ``min(max_norm / (total_norm + 1e-6), 1)``, where
    ``total_norm`` is the ``norm_type``-norm of all gradients taken as one vector (the norm of the
    per-array norms, as torch computes it). Returns ``total_norm`` as a 0-d array of the gradients'
    dtype; an empty ``grads`` gives 0.0 (float32), as torch's ``tensor(0.0)``."""
    arrays = [g for g in grads.values() if g is not None]
    norm_type = float(norm_type)
    if not arrays:
        return np.asarray(0.0, dtype=np.float32)
    if math.isinf(norm_type) and any(g.size == 0 for g in arrays):  # max/min of nothing, as torch refuses
        raise RuntimeError(f"clip_grad_norm_: cannot compute the {norm_type} norm of an empty gradient (no identity)")
    dtype = np.result_type(*arrays)
    norms = np.array([_vector_norm(g, norm_type) for g in arrays], dtype=dtype)
    total = np.asarray(_vector_norm(norms, norm_type), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
            "anyway, set `error_if_nonfinite=False`"
        )
    coef = np.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    with np.errstate(invalid="ignore"):  # an infinite gradient times a zero coefficient is NaN, as in torch
        for g in arrays:
            g *= coef.astype(g.dtype)
    return total


def clip_grad_value_(grads: dict[str, Array], clip_value: float) -> None:
    """Clamp every gradient in place to ``[-clip_value, clip_value]`` (NaN stays NaN)."""
    clip_value = float(clip_value)
    for g in grads.values():
        if g is not None:
            np.clip(g, -clip_value, clip_value, out=g)


# ---------------------------------------------------------------------------------------------------
# Learning-rate schedules


class _Schedule:
    """torch's LRScheduler for one parameter group: construction performs the initial step (epoch 0),
    each ``step()`` advances the epoch and sets ``optimizer.lr`` by the recursive rule ``get_lr``
    (torch's ``step()`` path; the closed forms are only used by the deprecated ``step(epoch)``)."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        if getattr(optimizer, "initial_lr", None) is None:  # torch: group.setdefault("initial_lr", lr)
            optimizer.initial_lr = optimizer.lr
        self.base_lr = optimizer.initial_lr
        self.last_epoch = -1
        self._initial = True
        self.step()
        self._initial = False

    def _next_lr(self, lr: float) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self._next_lr(self.optimizer.lr)
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)


class StepLR(_Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if not step_size >= 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def _next_lr(self, lr: float) -> float:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class ExponentialLR(_Schedule):
    """Multiply the learning rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(optimizer)

    def _next_lr(self, lr: float) -> float:
        return lr if self._initial else lr * self.gamma


class CosineAnnealingLR(_Schedule):
    """Cosine annealing from the base rate to ``eta_min`` over ``T_max`` epochs (and back up, as
    torch's recursive rule continues past ``T_max``)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if not T_max >= 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def _next_lr(self, lr: float) -> float:
        epoch, T, eta = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return lr
        if (epoch - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - eta) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * epoch / T)) / (1 + math.cos(math.pi * (epoch - 1) / T)) * (lr - eta) + eta


class LinearLR(_Schedule):
    """Linear warm-up: the rate goes from ``start_factor`` to ``end_factor`` times the base rate over
    ``total_iters`` epochs, then stays."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                "LinearLR: Starting multiplicative factor expected to be greater than 0 and less or equal to 1."
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("LinearLR: Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer)

    def _next_lr(self, lr: float) -> float:
        start, end = self.start_factor, self.end_factor
        if self.last_epoch == 0:
            return lr * start
        if self._initial or self.last_epoch > self.total_iters:
            return lr
        return lr * (1.0 + (end - start) / (self.total_iters * start + (self.last_epoch - 1) * (end - start)))


LinearWarmup = LinearLR
