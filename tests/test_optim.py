"""Optimizers, gradient clipping and learning-rate schedules against torch.optim / torch.nn.utils.

- trajectory: every configuration of ``harness.optim.CONFIGS`` for 50 steps in float32 and float64;
  parameter and every state entry compared with torch's after every step.
- optimizer_class: the torch-like classes on two named parameters with an lr change and a skipped
  gradient, against torch's classes; parameters updated in place.
- invalid_optimizer / invalid_schedule: each invalid hyper-parameter raises ValueError with torch's
  message behind the class or function name; core_bad_arguments: param/grad dtype and shape errors.
- clip_grad_norm / clip_grad_value: against torch.nn.utils' functions, in place, including
  non-finite gradients and ``error_if_nonfinite``.
- schedule: 30 epochs of optimizer step + schedule step; learning rates equal to torch's exactly and
  parameters within tolerance (the optimizer sees the scheduled rates)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from harness.checks import BITWISE
from harness.context import snapshot
from harness.dtypes import DTYPES, Tol, to_numpy, to_torch
from harness.optim import (
    CONFIGS,
    DTYPE_NAMES,
    EXACT,
    SHAPE,
    compare_trajectories,
    expect_error,
    gradients,
    make_ctx,
    quiet,
    reference_trajectory,
    torch_trajectory,
)

# --------------------------------------------------------------------------------------------------
# Trajectories


@pytest.mark.parametrize(
    ("cfg", "dtype"), [pytest.param(c, d, id=f"{c.id}-{d}") for c in CONFIGS for d in DTYPE_NAMES]
)
def test_trajectory(cfg, dtype, request):
    ctx, dt, grads, param0, ours, theirs = _both_trajectories(cfg, dtype, request)
    compare_trajectories(ctx, cfg, dt, grads, param0, ours, theirs)


def _both_trajectories(cfg, dtype, request):
    """The case's context and dtype, the gradients, the start, and both trajectories (ours, torch's)."""
    ctx = make_ctx(request, cfg.optimizer, dtype)
    dt = DTYPES[dtype]
    param0 = ctx.rng.standard_normal(SHAPE).astype(dt.np)
    grads = gradients(ctx.rng, dt)
    theirs = torch_trajectory(cfg, param0, grads)
    return ctx, dt, grads, param0, reference_trajectory(ctx, cfg, param0, grads), theirs


# At weight 0.5 torch's lerp, ``end + (w - 1)(end - start)`` (one FMA, vectorised or not), rounds once
# after an exact product, as the reference's ``end - (end - start)(1 - w)`` does: the first moment of a
# beta1 = 0.5 run is torch's bit for bit (the other form, ``start + w (end - start)``, differs in the last
# bit where ``end - start`` rounds). Other weights leave last-bit differences (FMA), compared within tolerance.
HALF_LERP = [c for c in CONFIGS if c.options.get("betas", (0.9,))[0] == 0.5]


@pytest.mark.parametrize(
    ("cfg", "dtype"), [pytest.param(c, d, id=f"{c.id}-{d}") for c in HALF_LERP for d in DTYPE_NAMES]
)
def test_half_lerp_bitwise(cfg, dtype, request):
    ctx, dt, grads, _, ours, theirs = _both_trajectories(cfg, dtype, request)
    for k, (mine, want) in enumerate(zip(ours, theirs, strict=True), 1):
        ctx.compare(f"exp_avg after step {k}", np.asarray(mine["exp_avg"]), want["exp_avg"], dt, BITWISE,
                    {"grad": grads[k - 1]}, oracle=f"torch.optim.{cfg.optimizer} (lerp weight 0.5)")


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_rmsprop_negative_variance(dtype, request):
    """Centered RMSprop from a state whose ``square_avg`` is below ``grad_avg ** 2`` (as rounding leaves it
    after many steps of a near-constant gradient): ``sqrt`` of the negative variance is NaN, in the parameter
    too, as in torch, and without a RuntimeWarning; elements with a positive variance step normally."""
    ctx = make_ctx(request, "RMSprop", dtype)
    dt = DTYPES[dtype]
    options = {"lr": 0.05, "alpha": 0.5, "centered": True}
    param = np.array([1.0, -2.0, 0.5, 3.0], dt.np)
    grad = np.array([0.5, 0.0, -1.0, 0.25], dt.np)
    state = {"step": np.asarray(np.float32(7)), "square_avg": np.array([1.0, 0.25, 4.0, 0.5], dt.np),
             "grad_avg": np.array([2.0, 1.0, 1.0, -0.5], dt.np)}  # after the step, variance < 0 on the first two
    p = torch.nn.Parameter(to_torch(param))
    opt = torch.optim.RMSprop([p], **options)
    opt.state[p] = {n: torch.tensor(a) for n, a in state.items()}
    p.grad = to_torch(grad)
    opt.step()
    new_param, new_state = quiet(ctx, "step", lambda: ctx.impl.get("rmsprop")(param, grad, state, **options))
    expected = {"param": to_numpy(p), **{n: to_numpy(t) for n, t in opt.state[p].items()}}
    for n, e in expected.items():
        got = new_param if n == "param" else new_state[n]
        ctx.compare(n, np.asarray(got), e, DTYPES[e.dtype.name], EXACT if n == "step" else dt.default_tol,
                    {"grad": grad}, oracle="torch.optim.RMSprop (injected state)")


# --------------------------------------------------------------------------------------------------
# The classes

# Per class: torch's defaults (``cls(params)``: the class's own default options), and one case with
# every option away from its default (an option the class did not pass on to the core shows).
CLASS_CASES = [
    ("SGD", "defaults", {}),
    ("SGD", "all", dict(lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True, maximize=True)),
    ("SGD", "dampening", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("Adagrad", "defaults", {}),
    ("Adagrad", "all",
     dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-3, maximize=True)),
    ("RMSprop", "defaults", {}),
    ("RMSprop", "all",
     dict(lr=0.05, alpha=0.5, eps=1e-3, weight_decay=0.1, momentum=0.5, centered=True, maximize=True)),
    ("Adam", "defaults", {}),
    ("Adam", "amsgrad-weight_decay", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    ("Adam", "all", dict(lr=0.05, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.1, amsgrad=True, maximize=True,
                         decoupled_weight_decay=True)),
    ("AdamW", "defaults", {}),
    ("AdamW", "all", dict(lr=0.05, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.5, amsgrad=True, maximize=True)),
    ("Adadelta", "defaults", {}),
    ("Adadelta", "all", dict(lr=0.5, rho=0.5, eps=1e-2, weight_decay=0.1, maximize=True)),
    ("Adamax", "defaults", {}),
    ("Adamax", "all", dict(lr=0.05, betas=(0.5, 0.8), eps=1e-3, weight_decay=0.1, maximize=True)),
    ("NAdam", "defaults", {}),
    ("NAdam", "weight_decay", dict(lr=0.05, weight_decay=0.1)),  # L2 penalty: decoupled_weight_decay's default
    ("NAdam", "all", dict(lr=0.05, betas=(0.5, 0.8), eps=1e-3, weight_decay=0.1, momentum_decay=0.05,
                          decoupled_weight_decay=True, maximize=True)),
]
OPTIMIZERS = list(dict.fromkeys(name for name, _, _ in CLASS_CASES))
CLASS_STEPS = 8  # the lr halves before step 4; "b" has no gradient at step 6, "w" the gradient None at step 7


@pytest.mark.parametrize(("name", "options"), [pytest.param(n, o, id=f"{n}-{label}") for n, label, o in CLASS_CASES])
def test_optimizer_class(name, options, request):
    ctx = make_ctx(request, name, "float64")
    cls = ctx.impl.get(name)
    shapes = {"w": (7, 5), "b": (5,)}
    params = {n: ctx.rng.standard_normal(s) for n, s in shapes.items()}
    tparams = {n: torch.nn.Parameter(to_torch(p)) for n, p in params.items()}
    arrays = dict(params)  # the very objects, to check the update is in place
    opt = cls(params, **options)
    topt = getattr(torch.optim, name)(list(tparams.values()), **options)
    tol = DTYPES["float64"].default_tol
    for k in range(1, CLASS_STEPS + 1):
        if k == 4:
            opt.lr = topt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] / 2
        grads = {n: gradients(ctx.rng, DTYPES["float64"], 1, s)[0] for n, s in shapes.items()}
        if k == 6:
            del grads["b"]
        if k == 7:
            grads["w"] = None  # skipped, as torch skips a grad None; "b", after it, still steps
        given = {n: g for n, g in grads.items() if g is not None}
        for n, t in tparams.items():
            t.grad = to_torch(given[n]) if n in given else None
        topt.step()
        before = snapshot(given)
        quiet(ctx, f"step {k}", lambda: opt.step(grads))  # noqa: B023
        ctx.unchanged(given, before, f"{name}.step()")
        for n, t in tparams.items():
            if params[n] is not arrays[n]:
                ctx.fail(f"params[{n!r}]", f"was replaced at step {k}; step() must update the array in place")
            expected = {"param": to_numpy(t), **{s: to_numpy(v) for s, v in topt.state[t].items()}}
            got = {"param": params[n], **opt.state[n]}
            if sorted(got) != sorted(expected):
                ctx.fail(f"state[{n!r}] after step {k}", f"holds {sorted(got)}, torch holds {sorted(expected)}")
            for s, e in expected.items():
                ctx.compare(f"{s} of {n!r} after step {k} (lr {opt.lr:g})", np.asarray(got[s]), e,
                            DTYPES[e.dtype.name], EXACT if s == "step" else tol, {"grad": given.get(n, e)})


# --------------------------------------------------------------------------------------------------
# Invalid hyper-parameters

# torch's SGD checks ``lr < 0.0`` and so lets a NaN learning rate through (its other optimizers check
# ``not 0.0 <= lr`` and reject it); the reference rejects NaN everywhere, with the same message.
NAN_LR = {"SGD-lr=nan": "Invalid learning rate: nan"}
INVALID = [
    ("SGD", dict(lr=-0.01)),
    ("SGD", dict(lr=math.nan)),
    ("SGD", dict(momentum=-0.5)),
    ("SGD", dict(weight_decay=-1.0)),
    ("SGD", dict(nesterov=True)),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True)),
    ("Adagrad", dict(lr=-1.0)),
    ("Adagrad", dict(lr_decay=-1.0)),
    ("Adagrad", dict(weight_decay=-1.0)),
    ("Adagrad", dict(initial_accumulator_value=-0.1)),
    ("Adagrad", dict(eps=-1e-10)),
    ("RMSprop", dict(lr=-1.0)),
    ("RMSprop", dict(alpha=-0.1)),
    ("RMSprop", dict(eps=-1.0)),
    ("RMSprop", dict(momentum=-0.1)),
    ("RMSprop", dict(weight_decay=-0.1)),
    ("Adam", dict(lr=-1e-3)),
    ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(-0.1, 0.999))),
    ("Adam", dict(betas=(0.9, 1.0))),
    ("Adam", dict(eps=-1e-8)),
    ("Adam", dict(weight_decay=-1.0)),
    ("AdamW", dict(lr=-1.0)),
    ("AdamW", dict(betas=(0.9, 1.5))),
    ("Adadelta", dict(lr=-1.0)),
    ("Adadelta", dict(rho=1.5)),
    ("Adadelta", dict(rho=-0.1)),
    ("Adadelta", dict(eps=-1.0)),
    ("Adadelta", dict(weight_decay=-1.0)),
    ("Adamax", dict(betas=(1.0, 0.9))),
    ("Adamax", dict(eps=-1.0)),
    ("Adamax", dict(weight_decay=-1.0)),
    ("NAdam", dict(betas=(0.9, 1.0))),
    ("NAdam", dict(momentum_decay=-1.0)),
    ("NAdam", dict(weight_decay=-1.0)),
]
INVALID_SCHEDULES = [
    ("LinearLR", dict(start_factor=0.0)),
    ("LinearLR", dict(start_factor=1.5)),
    ("LinearLR", dict(end_factor=-0.1)),
    ("LinearLR", dict(end_factor=1.5)),
]


def _label(name: str, kwargs: dict) -> str:
    return name + "-" + ",".join(f"{k}={v}" for k, v in kwargs.items()).replace(" ", "")


def _torch_message(call) -> str:
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize(("name", "kwargs"), [pytest.param(n, k, id=_label(n, k)) for n, k in INVALID])
def test_invalid_optimizer(name, kwargs, request):
    ctx = make_ctx(request, name)
    build = lambda: getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(3))], **kwargs)  # noqa: E731
    if _label(name, kwargs) in NAN_LR:
        build()  # torch accepts it: if this raises, NAN_LR is obsolete
        message = NAN_LR[_label(name, kwargs)]
    else:
        message = _torch_message(build)
    cls, fn = ctx.impl.get(name), ctx.impl.get(name.lower())
    expect_error(ctx, f"{name}(params, {kwargs})", ValueError, f"{name}: {message}",
                 lambda: cls({"w": np.zeros(3)}, **kwargs))
    expect_error(ctx, f"{name.lower()}(param, grad, {{}}, {kwargs})", ValueError, f"{name.lower()}: {message}",
                 lambda: fn(np.zeros(3), np.zeros(3), {}, **kwargs))


@pytest.mark.parametrize(("name", "kwargs"), [pytest.param(n, k, id=_label(n, k)) for n, k in INVALID_SCHEDULES])
def test_invalid_schedule(name, kwargs, request):
    ctx = make_ctx(request, name)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=0.1)
    message = _torch_message(lambda: getattr(torch.optim.lr_scheduler, name)(topt, **kwargs))
    opt = ctx.impl.get("SGD")({"w": np.zeros(3)}, lr=0.1)
    expect_error(ctx, f"{name}(optimizer, {kwargs})", ValueError, f"{name}: {message}",
                 lambda: ctx.impl.get(name)(opt, **kwargs))


# torch creates these and fails at the first step() with ZeroDivisionError; the reference rejects them
# when created, with its own message (README: deliberate differences).
SCHEDULES_REJECTED = [
    ("StepLR", dict(step_size=0), "StepLR: step_size must be a positive integer, got 0"),
    ("CosineAnnealingLR", dict(T_max=0), "CosineAnnealingLR: T_max must be a positive integer, got 0"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"),
                         [pytest.param(*r, id=_label(r[0], r[1])) for r in SCHEDULES_REJECTED])
def test_schedule_rejected_at_creation(name, kwargs, message, request):
    ctx = make_ctx(request, name)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=0.1)
    schedule = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    topt.step()
    with pytest.raises(ZeroDivisionError):  # if torch starts rejecting it, compare with its message instead
        schedule.step()
    opt = ctx.impl.get("SGD")({"w": np.zeros(3)}, lr=0.1)
    expect_error(ctx, f"{name}(optimizer, {kwargs})", ValueError, message, lambda: ctx.impl.get(name)(opt, **kwargs))


BAD_ARGUMENTS = [
    ("float16 param", TypeError, "param must be a float32 or float64 array, got dtype float16",
     lambda: (np.zeros(3, np.float16), np.zeros(3, np.float16))),
    ("grad dtype", TypeError, "grad has dtype float32, but param has dtype float64",
     lambda: (np.zeros(3), np.zeros(3, np.float32))),
    ("grad shape", ValueError, "grad has shape (3, 1), but param has shape (3,)",
     lambda: (np.zeros(3), np.zeros((3, 1)))),
]


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize(("label", "error", "message", "build"), [pytest.param(*b, id=b[0]) for b in BAD_ARGUMENTS])
def test_core_bad_arguments(name, label, error, message, build, request):
    ctx = make_ctx(request, name)
    fn = ctx.impl.get(name.lower())
    param, grad = build()
    expect_error(ctx, f"{name.lower()}(param, grad, {{}}) with a {label}", error, f"{name.lower()}: {message}",
                 lambda: fn(param, grad, {}))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_class_bad_arguments(name, request):
    """The classes' own contract (named arrays, no torch counterpart): a parameter that is not an
    ndarray raises TypeError, a gradient for a name that is not a parameter KeyError."""
    ctx = make_ctx(request, name)
    cls = ctx.impl.get(name)
    expect_error(ctx, f"{name}({{'w': [0.0, 1.0]}})", TypeError, f"{name}: parameter 'w' must be an ndarray, got list",
                 lambda: cls({"w": [0.0, 1.0]}))
    opt = cls({"w": np.zeros(3)})
    message = f"{name}: gradients for unknown parameters ['v', 'x']"
    expect_error(ctx, f"{name}.step() with gradients for 'x' and 'v'", KeyError, repr(message),
                 lambda: opt.step({"x": np.zeros(3), "w": np.zeros(3), "v": np.zeros(3)}))
    if opt.params["w"].any() or opt.state["w"]:
        ctx.fail(f"{name}.step() that raised KeyError", "updated 'w' (it must check every name first)")


# --------------------------------------------------------------------------------------------------
# Gradient clipping

GRAD_SHAPES = {"w": (7, 5), "b": (5,), "k": (3, 2, 2)}
CLIP_NORM = [(p, m, "mixed") for p in (1.0, 2.0, 3.5, math.inf) for m in (1.0, 1e6)] + [
    (0.5, 1.0, "mixed"),
    (0.0, 1.0, "mixed"),  # vector_norm's ord 0 counts nonzeros: the total is the number of nonzero gradients
    (-math.inf, 1.0, "mixed"),
    (-2.0, 1.0, "mixed"),  # a negative order: the zero entries' 0 ** -2 = inf, so the norm is 0
    (2.0, 1.0, "zeros"),
    (2.0, 1.0, "inf"),
    (math.inf, 1.0, "inf"),
    (2.0, 1.0, "nan"),
    (2.0, 1.0, "huge"),  # float32: torch squares in float32, so the norm overflows to inf
    (2.0, 1.0, "tiny"),  # float32: ... and underflows to 0
    (2.0, 1.0, "empty"),  # one more gradient with no elements (torch raises for an empty one with p = ±inf)
    (2.0, 1.0, "single"),  # one gradient: the total is the norm of one norm
]


def _grad_dict(rng: np.random.Generator, dtype: str, values: str) -> dict[str, np.ndarray]:
    """Gradients for three arrays: "mixed" magnitudes as in the trajectories, all scaled ("zeros",
    "huge" 1e20, "tiny" 1e-30), mixed with one -inf or NaN entry, mixed and an empty (0, 3) array
    ("empty"), or only the first array, mixed ("single")."""
    out = {n: gradients(rng, DTYPES[dtype], 1, s)[0] for n, s in GRAD_SHAPES.items()}
    if values == "empty":
        out["e"] = np.zeros((0, 3), DTYPES[dtype].np)
    if values == "single":
        out = {"w": out["w"]}
    scale = {"zeros": 0.0, "huge": 1e20, "tiny": 1e-30}.get(values)
    if scale is not None:
        out = {n: (g * scale).astype(g.dtype) for n, g in out.items()}
    special = {"inf": -np.inf, "nan": np.nan}.get(values)
    if special is not None:
        out["w"][2, 3] = special
    return out


@pytest.mark.parametrize(
    ("norm_type", "max_norm", "values", "dtype"),
    [pytest.param(p, m, v, d, id=f"p={p:g}-max_norm={m:g}-{v}-{d}") for p, m, v in CLIP_NORM for d in DTYPE_NAMES],
)
def test_clip_grad_norm(norm_type, max_norm, values, dtype, request):
    ctx = make_ctx(request, "clip_grad_norm_", dtype)
    grads = _grad_dict(ctx.rng, dtype, values)
    before = {n: g.copy() for n, g in grads.items()}
    tparams = [torch.nn.Parameter(to_torch(g)) for g in grads.values()]
    for t, g in zip(tparams, grads.values(), strict=True):
        t.grad = to_torch(g)
    total_t = to_numpy(torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type))
    arrays = dict(grads)
    total = quiet(ctx, "clip_grad_norm_", lambda: ctx.impl.get("clip_grad_norm_")(grads, max_norm, norm_type))
    dt = DTYPES[dtype]
    ctx.compare("total norm", np.asarray(total), total_t, dt, dt.default_tol, {})
    for (n, g), t in zip(grads.items(), tparams, strict=True):
        if g is not arrays[n]:
            ctx.fail(f"grads[{n!r}]", "was replaced; clip_grad_norm_ must scale the arrays in place")
        ctx.compare(f"grads[{n!r}] after clipping", g, to_numpy(t.grad), dt, dt.default_tol, {"before": before[n]})


@pytest.mark.parametrize("dtypes", [("float32", "float64", "float32"), ("float64", "float32", "float64")],
                         ids=lambda d: "-".join(d))
def test_clip_grad_norm_mixed_dtypes(dtypes, request):
    """float32 and float64 gradients together, p = inf: the total (the largest |g|, exact in any order) and
    so the float64 coefficient are torch's bit for bit, and each float32 gradient is scaled by the
    coefficient rounded to float32, as torch multiplies a float32 tensor by a 0-d float64 one. Bitwise."""
    ctx = make_ctx(request, "clip_grad_norm_", "float64")
    grads = {n: gradients(ctx.rng, DTYPES[d], 1, s)[0] for (n, s), d in zip(GRAD_SHAPES.items(), dtypes, strict=True)}
    tparams = [torch.nn.Parameter(to_torch(g)) for g in grads.values()]
    for t, g in zip(tparams, grads.values(), strict=True):
        t.grad = to_torch(g.copy())
    total_t = to_numpy(torch.nn.utils.clip_grad_norm_(tparams, 1.0, math.inf))
    total = quiet(ctx, "clip_grad_norm_", lambda: ctx.impl.get("clip_grad_norm_")(grads, 1.0, math.inf))
    ctx.compare("total norm", np.asarray(total), total_t, DTYPES["float64"], BITWISE, {})
    for (n, g), t in zip(grads.items(), tparams, strict=True):
        ctx.compare(f"grads[{n!r}] after clipping", g, to_numpy(t.grad), DTYPES[g.dtype.name], BITWISE, {})


@pytest.mark.parametrize("grads", [{}, {"w": None}], ids=["empty", "no-grad"])
def test_clip_grad_norm_no_gradients(grads, request):
    ctx = make_ctx(request, "clip_grad_norm_")
    tparam = torch.nn.Parameter(torch.ones(3))  # its grad is None
    total_t = to_numpy(torch.nn.utils.clip_grad_norm_([tparam] if grads else [], 1.0))
    total = quiet(ctx, "clip_grad_norm_", lambda: ctx.impl.get("clip_grad_norm_")(grads, 1.0))
    ctx.compare("total norm without gradients", np.asarray(total), total_t, DTYPES["float32"],
                Tol(0.0, 0.0, "exact: torch's tensor(0.0)"), {})


@pytest.mark.parametrize("norm_type", [math.inf, -math.inf], ids=["inf", "-inf"])
def test_clip_grad_norm_empty_infinity_norm(norm_type, request):
    """An empty gradient has no ±inf norm (max/min of nothing): torch raises, and so must the implementation."""
    ctx = make_ctx(request, "clip_grad_norm_")
    grads = {"w": np.ones(3), "b": np.ones(0)}
    tparams = [torch.nn.Parameter(to_torch(g)) for g in grads.values()]
    for t, g in zip(tparams, grads.values(), strict=True):
        t.grad = to_torch(g)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(tparams, 1.0, norm_type)
    expect_error(ctx, f"clip_grad_norm_(an empty gradient, 1.0, {norm_type})", RuntimeError,
                 f"clip_grad_norm_: cannot compute the {norm_type} norm of an empty gradient (no identity)",
                 lambda: ctx.impl.get("clip_grad_norm_")(grads, 1.0, norm_type))


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_clip_grad_norm_nonfinite_error(dtype, request):
    ctx = make_ctx(request, "clip_grad_norm_", dtype)
    grads = _grad_dict(ctx.rng, dtype, "inf")
    before = {n: g.copy() for n, g in grads.items()}
    tparams = [torch.nn.Parameter(to_torch(g)) for g in grads.values()]
    for t, g in zip(tparams, grads.values(), strict=True):
        t.grad = to_torch(g)
    with pytest.raises(RuntimeError) as torch_err:
        torch.nn.utils.clip_grad_norm_(tparams, 1.0, error_if_nonfinite=True)
    expect_error(ctx, "clip_grad_norm_(grads with -inf, 1.0, error_if_nonfinite=True)", RuntimeError,
                 f"clip_grad_norm_: {torch_err.value}",
                 lambda: ctx.impl.get("clip_grad_norm_")(grads, 1.0, error_if_nonfinite=True))
    for n, g in grads.items():
        if g.tobytes() != before[n].tobytes():
            ctx.fail(f"grads[{n!r}]", "changed although clipping raised (torch leaves them as they were)")


@pytest.mark.parametrize(
    ("clip_value", "dtype"), [pytest.param(c, d, id=f"clip_value={c:g}-{d}") for c in (0.5, 1e-3) for d in DTYPE_NAMES]
)
def test_clip_grad_value(clip_value, dtype, request):
    ctx = make_ctx(request, "clip_grad_value_", dtype)
    grads = _grad_dict(ctx.rng, dtype, "mixed")
    grads["b"][:3] = [np.nan, np.inf, -np.inf]
    before = {n: g.copy() for n, g in grads.items()}
    tparams = [torch.nn.Parameter(to_torch(g)) for g in grads.values()]
    for t, g in zip(tparams, grads.values(), strict=True):
        t.grad = to_torch(g)
    torch.nn.utils.clip_grad_value_(tparams, clip_value)
    quiet(ctx, "clip_grad_value_", lambda: ctx.impl.get("clip_grad_value_")(grads, clip_value))
    exact = Tol(0.0, 0.0, "exact: clamping rounds nothing")
    for (n, g), t in zip(grads.items(), tparams, strict=True):
        ctx.compare(f"grads[{n!r}] after clipping", g, to_numpy(t.grad), DTYPES[dtype], exact, {"before": before[n]})


# --------------------------------------------------------------------------------------------------
# Learning-rate schedules

EPOCHS = 30
SCHEDULES = [
    ("StepLR", "SGD", dict(lr=0.1, momentum=0.9), [("StepLR", dict(step_size=7, gamma=0.5))]),
    ("StepLR-step_size=1-defaults", "SGD", dict(lr=0.1), [("StepLR", dict(step_size=1))]),
    ("ExponentialLR", "Adam", dict(lr=0.05), [("ExponentialLR", dict(gamma=0.9))]),
    ("CosineAnnealingLR-T_max=10-eta_min", "SGD", dict(lr=0.1), [("CosineAnnealingLR", dict(T_max=10, eta_min=1e-3))]),
    ("CosineAnnealingLR-T_max=30", "Adam", dict(lr=0.05), [("CosineAnnealingLR", dict(T_max=30))]),
    ("CosineAnnealingLR-T_max=3", "SGD", dict(lr=0.1), [("CosineAnnealingLR", dict(T_max=3))]),  # several restarts
    ("CosineAnnealingLR-T_max=1", "SGD", dict(lr=0.1), [("CosineAnnealingLR", dict(T_max=1))]),
    ("LinearLR", "AdamW", dict(lr=0.05), [("LinearLR", dict(start_factor=0.25, total_iters=8))]),
    ("LinearLR-decay-to-zero", "SGD", dict(lr=0.1),
     [("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=10))]),
    ("LinearLR-end_factor", "SGD", dict(lr=0.1),
     [("LinearLR", dict(start_factor=0.5, end_factor=0.75, total_iters=4))]),
    ("LinearWarmup-defaults", "RMSprop", dict(lr=0.01), [("LinearWarmup", {})]),
    ("LinearLR+ExponentialLR", "Adam", dict(lr=0.05),
     [("LinearLR", dict(start_factor=0.1, total_iters=5)), ("ExponentialLR", dict(gamma=0.95))]),
    # the second schedule's base rate is the optimizer's initial rate, not the rate the first one set
    ("LinearLR+CosineAnnealingLR", "SGD", dict(lr=0.1),
     [("LinearLR", dict(start_factor=0.5, total_iters=4)), ("CosineAnnealingLR", dict(T_max=10))]),
]
TORCH_SCHEDULE = {"LinearWarmup": "LinearLR"}


@pytest.mark.parametrize(
    ("label", "optimizer", "opt_kwargs", "schedules"), [pytest.param(*s, id=s[0]) for s in SCHEDULES]
)
def test_schedule(label, optimizer, opt_kwargs, schedules, request):
    ctx = make_ctx(request, label, "float64")
    param0 = ctx.rng.standard_normal((7, 5))
    grads = gradients(ctx.rng, DTYPES["float64"], EPOCHS)
    params = {"w": param0.copy()}
    tparam = torch.nn.Parameter(to_torch(param0))
    opt = ctx.impl.get(optimizer)(params, **opt_kwargs)
    topt = getattr(torch.optim, optimizer)([tparam], **opt_kwargs)
    ours = [ctx.impl.get(name)(opt, **kw) for name, kw in schedules]
    theirs = [getattr(torch.optim.lr_scheduler, TORCH_SCHEDULE.get(name, name))(topt, **kw) for name, kw in schedules]
    story = [f"  schedules {schedules} on {optimizer}({opt_kwargs}); optimizer.step() then each schedule's step()"]
    tol = DTYPES["float64"].default_tol
    for epoch in range(EPOCHS + 1):
        for (name, _), s, t in zip(schedules, ours, theirs, strict=True):
            if s.get_last_lr() != t.get_last_lr():
                ctx.fail(f"{name}.get_last_lr() at epoch {epoch}", "differs from torch's (exact equality expected)",
                         [f"  got       {s.get_last_lr()!r}", f"  expected  {t.get_last_lr()!r}", *story])
        if opt.lr != topt.param_groups[0]["lr"]:
            ctx.fail(f"optimizer.lr at epoch {epoch}", f"is {opt.lr!r}, torch's {topt.param_groups[0]['lr']!r}", story)
        if epoch == EPOCHS:
            break
        tparam.grad = to_torch(grads[epoch])
        topt.step()
        quiet(ctx, f"epoch {epoch}", lambda: opt.step({"w": grads[epoch]}))  # noqa: B023
        for t in theirs:
            t.step()
        for s in ours:
            s.step()
        ctx.compare(f"param after epoch {epoch} (lr {opt.lr:g})", params["w"], to_numpy(tparam), DTYPES["float64"], tol,
                    {"grad": grads[epoch]})

