"""Optimizer trajectories side by side with torch.optim, and the per-test context for the checks that
are not registry ops (optimizers, clipping, schedules, initialisers).

A trajectory runs one optimizer configuration for ``STEPS`` steps from the same initial parameter and
the same sequence of gradients in the implementation under test (its functional core, e.g. ``adam``)
and in torch (``torch.optim.Adam``, default CPU path), then compares the parameter and every state
entry after every step. The gradients mix magnitudes 1e-7 .. 1e2 with exact zeros in every step, and
one column never receives a gradient, so that epsilon placement, bias correction and step-count
off-by-ones show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from harness.compare import compare
from harness.context import Ctx, node_ctx, quiet, snapshot
from harness.dtypes import DTYPES, DType, Tol, to_numpy, to_torch

STEPS = 50
SHAPE = (7, 5)
EXACT = Tol(0.0, 0.0, "exact: a step count")


def make_ctx(request: pytest.FixtureRequest, op: str, dtype: str = "-") -> Ctx:
    """The registry tests' context for a test that is not a registry case: its failure headline names
    ``op``, and its result is filed under (op, check, dtype) in the report."""
    return node_ctx(request.node, op=op, dtype=dtype)


def expect_error(ctx: Ctx, what: str, error: type[Exception], expected: str, call: Callable) -> None:
    """``call()`` must raise ``error`` with exactly the message ``expected``."""
    try:
        call()
    except error as err:
        if str(err) != expected:
            ctx.fail(what, f"raised {error.__name__} with another message",
                     [f"  got       {err}", f"  expected  {expected}"])
        return
    except Exception as err:  # any other exception is the failure being reported
        ctx.fail(what, f"raised {type(err).__name__}: {err}; expected {error.__name__}: {expected}")
    ctx.fail(what, f"did not raise; expected {error.__name__}: {expected}")


@dataclass(frozen=True)
class Config:
    """One optimizer configuration: torch's class name and the options both sides get."""

    optimizer: str  # torch.optim class name; the functional core is its lower-case name
    label: str
    options: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.optimizer}-{self.label}"

    def __str__(self) -> str:
        return self.id

    @property
    def fn_name(self) -> str:
        return self.optimizer.lower()

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.optimizer}({opts})"


def _c(optimizer: str, label: str, **options: object) -> Config:
    return Config(optimizer, label, options)


# One configuration per option value the issue names (plus torch's defaults and one combination);
# learning rates are raised above the defaults where those would move the parameters too little
# for a wrong update to show in the comparison.
CONFIGS = [
    _c("SGD", "defaults"),
    _c("SGD", "momentum", lr=0.05, momentum=0.9),
    _c("SGD", "dampening", lr=0.05, momentum=0.9, dampening=0.5),
    _c("SGD", "nesterov", lr=0.05, momentum=0.9, nesterov=True),
    _c("SGD", "weight_decay", lr=0.05, weight_decay=0.1),
    _c("SGD", "weight_decay=1", lr=0.05, weight_decay=1.0),
    _c("SGD", "maximize", lr=0.05, maximize=True),
    _c("SGD", "all", lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True, maximize=True),
    _c("Adagrad", "defaults"),
    _c("Adagrad", "lr_decay", lr=0.1, lr_decay=0.05),
    _c("Adagrad", "weight_decay", lr=0.1, weight_decay=0.1),
    _c("Adagrad", "initial_accumulator_value", lr=0.1, initial_accumulator_value=0.5),
    _c("Adagrad", "eps", lr=0.1, eps=1e-3),
    _c("Adagrad", "maximize", lr=0.1, maximize=True),
    _c("RMSprop", "defaults"),
    _c("RMSprop", "alpha", lr=0.05, alpha=0.5),
    _c("RMSprop", "eps", lr=0.05, eps=1e-3),
    _c("RMSprop", "weight_decay", lr=0.05, weight_decay=0.1),
    _c("RMSprop", "momentum", lr=0.05, momentum=0.9),
    _c("RMSprop", "centered", lr=0.05, centered=True),
    _c("RMSprop", "centered-momentum-maximize", lr=0.05, centered=True, momentum=0.5, maximize=True),
    _c("Adam", "defaults"),
    _c("Adam", "betas", lr=0.05, betas=(0.5, 0.8)),
    _c("Adam", "beta2=0", lr=0.05, betas=(0.5, 0.0), eps=0.1),  # beta2 at its lower end (eps: denom = |g| + eps)
    _c("Adam", "eps", lr=0.05, eps=1e-3),
    _c("Adam", "weight_decay", lr=0.05, weight_decay=0.1),
    _c("Adam", "amsgrad", lr=0.05, amsgrad=True),
    _c("Adam", "maximize", lr=0.05, maximize=True),
    _c("Adam", "decoupled_weight_decay", lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
    _c("AdamW", "defaults"),
    _c("AdamW", "weight_decay-amsgrad", lr=0.05, weight_decay=0.5, amsgrad=True),
    _c("AdamW", "weight_decay=1", lr=0.05, weight_decay=1.0),
    _c("AdamW", "maximize-betas", lr=0.05, betas=(0.8, 0.9), maximize=True),
    _c("Adadelta", "defaults"),
    _c("Adadelta", "rho-lr", lr=0.5, rho=0.5),
    _c("Adadelta", "eps", eps=1e-2),
    _c("Adadelta", "weight_decay-maximize", weight_decay=0.1, maximize=True),
    _c("Adadelta", "rho=0", rho=0.0),  # the ends of rho's valid range [0, 1]
    _c("Adadelta", "rho=1", rho=1.0),
    _c("Adamax", "defaults"),
    _c("Adamax", "betas", lr=0.05, betas=(0.5, 0.8)),
    _c("Adamax", "eps", lr=0.05, eps=1e-3),
    _c("Adamax", "weight_decay-maximize", lr=0.05, weight_decay=0.1, maximize=True),
    _c("NAdam", "defaults"),
    _c("NAdam", "betas-eps", lr=0.05, betas=(0.5, 0.8), eps=1e-3),
    _c("NAdam", "momentum_decay", lr=0.05, momentum_decay=0.05),
    _c("NAdam", "weight_decay", lr=0.05, weight_decay=0.1),
    _c("NAdam", "decoupled_weight_decay", lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
    _c("NAdam", "decoupled_weight_decay=1", lr=0.05, weight_decay=1.0, decoupled_weight_decay=True),
    _c("NAdam", "maximize", lr=0.05, maximize=True),
]
DTYPE_NAMES = ("float32", "float64")


def gradients(rng: np.random.Generator, dtype: DType, steps: int = STEPS, shape: tuple = SHAPE) -> np.ndarray:
    """``steps`` gradients: random signs times 10^U(-7, 2), a sixth of the entries exactly zero, and
    the last column zero throughout (a parameter that never gets a gradient)."""
    mags = 10.0 ** rng.uniform(-7, 2, (steps, *shape))
    g = rng.choice([-1.0, 1.0], (steps, *shape)) * mags * (rng.random((steps, *shape)) >= 1 / 6)
    g[..., -1] = 0.0
    return g.astype(dtype.np)


def torch_trajectory(cfg: Config, param0: np.ndarray, grads: np.ndarray) -> list[dict[str, np.ndarray]]:
    """After every step: ``{"param": ..., <each entry of optimizer.state[p]>: ...}``."""
    p = torch.nn.Parameter(to_torch(param0))
    opt = getattr(torch.optim, cfg.optimizer)([p], **cfg.options)
    out = []
    for g in grads:
        p.grad = to_torch(g)
        opt.step()
        out.append({"param": to_numpy(p), **{k: to_numpy(v) for k, v in opt.state[p].items()}})
    return out


def reference_trajectory(ctx: Ctx, cfg: Config, param0: np.ndarray, grads: np.ndarray) -> list[dict[str, np.ndarray]]:
    """The same steps through the implementation's functional core, checking it never mutates its
    inputs (parameter, gradient, state arrays)."""
    fn = ctx.impl.get(cfg.fn_name)
    param, state, out = param0.copy(), {}, []
    for k, g in enumerate(grads, 1):
        inputs = {"param": param, "grad": g, **{f"state[{n!r}]": np.asarray(a) for n, a in state.items()}}
        before = snapshot(inputs)
        given, entries = state, dict(state)
        try:
            param, state = quiet(ctx, f"step {k}", lambda: fn(param, g, state, **cfg.options))  # noqa: B023
        except (ArithmeticError, ValueError, TypeError) as err:
            ctx.fail(f"step {k}", f"{cfg.fn_name}(...) raised {type(err).__name__}: {err}", _story(cfg, param.dtype))
        ctx.unchanged(inputs, before, f"{cfg.fn_name}(...) at step {k}")
        if given.keys() != entries.keys() or any(given[n] is not a for n, a in entries.items()):
            ctx.fail(f"state dict given at step {k}", f"{cfg.fn_name}(...) changed it (it must return a new dict)",
                     [f"  before    {sorted(entries)}", f"  after     {sorted(given)}"])
        out.append({"param": param, **state})
    return out


def compare_trajectories(ctx: Ctx, cfg: Config, dtype: DType, grads: np.ndarray, param0: np.ndarray,
                         ours: list[dict], theirs: list[dict]) -> None:
    """Same state entries after every step, then each entry over all steps at once; on a mismatch the
    first step out of tolerance is reported."""
    oracle = f"torch.optim.{cfg.optimizer}"
    for k, (a, e) in enumerate(zip(ours, theirs, strict=True), 1):
        if sorted(a) != sorted(e):
            ctx.fail(f"state after step {k}", f"holds {sorted(a)}, {oracle} holds {sorted(e)}", _story(cfg, dtype))
    for name in theirs[0]:
        a = [np.asarray(step[name]) for step in ours]
        e = np.stack([step[name] for step in theirs])
        what = "param" if name == "param" else f"state[{name!r}]"
        for k, x in enumerate(a, 1):
            if x.shape != e.shape[1:] or x.dtype != e.dtype:
                ctx.fail(f"{what} after step {k}", f"is {x.dtype} {x.shape}, {oracle} gives {e.dtype} {e.shape[1:]}",
                         _story(cfg, dtype))
        a = np.stack(a)
        tol = EXACT if name == "step" else DTYPES[e.dtype.name].default_tol
        cmp = compare(a, e, DTYPES[e.dtype.name], tol)
        ctx.record(what, dtype.name, cmp.metrics())
        if cmp.ok:
            continue
        k = next(k for k in range(len(a)) if not compare(a[k], e[k], DTYPES[e.dtype.name], tol).ok)
        previous = theirs[k - 1] if k else {"param": param0}
        there = {"grad": grads[k], "param before (torch)": previous["param"]}
        if name != "param" and name in previous:
            there[f"{name} before (torch)"] = previous[name]
        step_cmp = compare(a[k], e[k], DTYPES[e.dtype.name], tol)
        lines = Ctx._mismatch_lines(step_cmp, a[k], e[k], there, tol)
        lines.append(f"  later     {cmp.mismatches} mismatches over all {len(a)} steps")
        ctx.fail(f"{what} after step {k + 1} of {len(a)}", f"does not match {oracle} (first step out of tolerance)",
                 lines + _story(cfg, dtype))


def _story(cfg: Config, dtype: DType | np.dtype) -> list[str]:
    return [
        f"  config    {cfg.describe()} · param {SHAPE} {dtype.name} ~ N(0, 1) · {STEPS} steps",
        "  grads     random signs × 10^U(-7, 2), 1/6 exact zeros, last column zero throughout",
        f"  core      {cfg.fn_name}(param, grad, state, **options) vs {cfg.optimizer}'s default CPU path"
        " (single-tensor)",
    ]

