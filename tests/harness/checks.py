"""The generic checks. Each takes a test context and one case; test modules are one-liners."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np

from harness import accuracy
from harness.badinputs import bad_inputs
from harness.context import Ctx, quiet, snapshot
from harness.dtypes import Tol
from harness.oracle import (
    as_float64,
    central_differences,
    magnitudes,
    torch_forward,
    torch_grads,
    torch_grads_from_out,
)
from harness.registry import OpSpec
from harness.values import LAYOUTS, Hints, infinite, normal, sum_overflow

FD_TOL = Tol(1e-3, 1e-5, "torch.autograd.gradcheck's tolerance for central differences with eps=1e-6")
BITWISE = Tol(0.0, 0.0, "bitwise: the result must not depend on memory layout or on repetition")
EXACT = Tol(0.0, 0.0, "exact: integer outputs (indices) must equal torch's")


def _forward(ctx: Ctx, inputs: dict[str, np.ndarray]):
    spec, var = ctx.case.spec, ctx.case.var
    fwd = ctx.impl.get(spec.forward_name)
    before = snapshot(inputs)
    result, cache = quiet(ctx, "forward", lambda: spec.call(fwd, inputs, var))
    ctx.unchanged(inputs, before, "forward")
    return spec.named(result), cache


def _backward(ctx: Ctx, cache, douts: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    spec = ctx.case.spec
    bwd = ctx.impl.get(spec.backward_name)
    before = snapshot(douts)
    grads = quiet(ctx, "backward", lambda: bwd(cache, spec.pack(douts)))
    ctx.unchanged(douts, before, "backward")
    given = spec.grads_of(inputs)
    missing = [f"d{n}" for n in given if f"d{n}" not in (grads or {})]
    if missing:
        ctx.fail("gradients", f"backward returned {sorted(grads or {})}, missing {missing}")
    # torch gives no gradient for an optional input that was not passed (a weight or bias of None)
    absent = [f"d{n}" for n in spec.grads if n not in given and (grads or {}).get(f"d{n}") is not None]
    if absent:
        ctx.fail("gradients", f"backward returned {absent} for inputs that were not given ({sorted(inputs)})")
    return grads


def _douts(ctx: Ctx, outs: dict[str, np.ndarray], zero: bool = False, extreme: bool = False) -> dict[str, np.ndarray]:
    """A random upstream gradient (never all ones) for each output that takes one, shaped like it and
    laid out like the case's inputs. Keyed "dout" for the first output, "dout_<name>" for the others.
    With ``extreme``, from the ``infinite`` family (±inf, 0)."""
    dt = ctx.case.dt
    douts = {}
    for name in ctx.case.spec.dout_names:
        shape = np.shape(outs[name])
        draw = infinite if extreme else normal
        d = np.zeros(shape, dt.np) if zero else draw(ctx.rng, shape, dt, Hints())
        douts[name] = LAYOUTS[ctx.case.layout].apply(d)
    return douts


def _shown(spec: OpSpec, douts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """douts under the names failure messages show: "dout" for the first output, "dout_<name>" else."""
    return {("dout" if k == spec.outputs[0] else f"dout_{k}"): d for k, d in douts.items()}


def _oracle(ctx: Ctx, inputs, douts=None) -> tuple[str | None, Callable[[], dict[str, np.ndarray] | None]]:
    """The higher-precision oracle of the case (see harness.accuracy): its name and a cached call giving
    the forward's outputs (``douts`` None) or the gradients by input name. float64 without the entry's
    ``highprec``: no oracle."""
    case, spec = ctx.case, ctx.case.spec
    if case.dt.name != "float64":
        wide = as_float64(inputs, case.dt.np)
        if douts is None:
            return accuracy.ORACLE_F64, functools.cache(lambda: torch_forward(spec, case.var, wide))
        wide_douts = as_float64(douts, case.dt.np)
        return accuracy.ORACLE_F64, functools.cache(lambda: torch_grads(spec, case.var, wide, wide_douts))
    if spec.highprec is None:
        return None, lambda: None
    return accuracy.ORACLE_HIGHPREC, functools.cache(lambda: _quietly(spec.highprec, case.var, inputs, douts))


def _quietly(oracle: Callable, *args):
    """The high-precision oracle without floating-point warnings: its NaN or ±Inf (e.g. the mean of an empty
    batch) is the exact result, not an unstable formula of the implementation under test."""
    with np.errstate(all="ignore"):
        return oracle(*args)


def _measured(ctx: Ctx, given: bool) -> bool:
    """Accuracy is measured on the fixed grid's C-order cases of one shape per op × variant (not on given
    inputs, e.g. drawn by Hypothesis, nor on a family the entry does not declare, e.g. the extreme check's):
    ``accuracy.measured_shape``."""
    case = ctx.case
    grid = case.layout == "C" and case.family in case.spec.families
    return not given and grid and case.shape == accuracy.measured_shape(case.op, case.variant)


def _accuracy(ctx: Ctx, what: str, got, torch_same, oracle, key: str, cmp, inputs, scale) -> None:
    name, results = oracle
    values = results() if name else None
    accuracy.measure(ctx, what, got, torch_same, name, None if values is None else values.get(key),
                     cmp.headroom, inputs, scale)


def forward(ctx: Ctx, inputs: dict[str, np.ndarray] | None = None) -> None:
    """Every output against torch, on the case's sampled inputs or on ``inputs`` (e.g. drawn by Hypothesis);
    on the grid's C-order cases, the accuracy of the floating outputs against the higher-precision oracle."""
    case, spec = ctx.case, ctx.case.spec
    measured = _measured(ctx, inputs is not None)
    inputs = case.sample(ctx.rng) if inputs is None else inputs
    outs, _ = _forward(ctx, inputs)
    expected = torch_forward(spec, case.var, inputs)
    oracle = _oracle(ctx, inputs)
    scale = magnitudes(spec, case.var, inputs, None) if spec.magnitude else None
    for name in spec.outputs:
        exact = expected[name].dtype.kind in "iub"  # indices and masks: exactly equal
        first = name == spec.outputs[0]
        reference64 = (lambda name=name: oracle[1]()[name]) if case.dt.low_precision else None
        cmp = ctx.compare(
            name, outs.get(name), expected[name], case.dt, EXACT if exact else spec.tol(case.dt), inputs,
            reference64=reference64, signed_zeros=not spec.reduces, scale=scale if first else None,
        )
        if measured and not exact:
            _accuracy(ctx, name, outs[name], expected[name], oracle, name, cmp, inputs, scale if first else None)


def _expected_grads(ctx: Ctx, inputs, out, douts):
    """torch's gradients, and a float64 recomputation of them for the low-precision arbiter (None: the
    higher-precision oracle's gradients serve). From the implementation's own forward output where the
    entry says so (``torch_backward_from_out``)."""
    case, spec = ctx.case, ctx.case.spec
    if spec.torch_backward_from_out and case.dt.low_precision and isinstance(out, np.ndarray):
        dout = douts[spec.outputs[0]]
        return (
            torch_grads_from_out(spec, case.var, out, dout),
            functools.cache(
                lambda: torch_grads_from_out(spec, case.var, out.astype(np.float64), dout.astype(np.float64))
            ),
        )
    return torch_grads(spec, case.var, inputs, douts), None


def backward(ctx: Ctx, zero: bool = False, inputs: dict[str, np.ndarray] | None = None, extreme: bool = False) -> None:
    """Every gradient against torch autograd for a random ``dout``; with ``zero``, ``dout = 0`` must
    give gradients that are exactly zero wherever torch's are not NaN; with ``extreme``, ``dout`` holds
    ±inf and 0. ``inputs`` as in ``forward``. On the grid's C-order cases (random normal dout), the
    accuracy of every gradient against the higher-precision oracle."""
    case, spec = ctx.case, ctx.case.spec
    measured = _measured(ctx, inputs is not None) and not zero and not extreme
    inputs = case.sample(ctx.rng) if inputs is None else inputs
    douts = _douts(ctx, torch_forward(spec, case.var, inputs), zero, extreme)
    outs, cache = _forward(ctx, inputs)
    grads = _backward(ctx, cache, douts, inputs)
    expected, expected64 = _expected_grads(ctx, inputs, outs[spec.outputs[0]], douts)
    oracle = _oracle(ctx, inputs, douts)
    # torch's own gradients in the dtype, for the accuracy figures (not its backward kernel on our output)
    torch_same = torch_grads(spec, case.var, inputs, douts) if measured and expected64 else expected
    if expected64 is None and case.dt.low_precision:
        expected64 = oracle[1]
    scales = magnitudes(spec, case.var, inputs, douts) if spec.magnitude else {}
    for n in spec.grads_of(inputs):
        cmp = ctx.compare(
            f"d{n}", grads[f"d{n}"], expected[n], case.dt, spec.tol(case.dt), {**inputs, **_shown(spec, douts)},
            reference64=(lambda n=n: expected64()[n]) if expected64 else None,
            signed_zeros=not spec.reduces,
            scale=scales.get(n),
        )
        if zero and np.any((grads[f"d{n}"] != 0) & ~np.isnan(expected[n])):
            ctx.fail(f"d{n}", "dout = 0 must give exactly zero gradients")
        if measured:
            _accuracy(ctx, f"d{n}", grads[f"d{n}"], torch_same[n], oracle, n, cmp,
                      {**inputs, **_shown(spec, douts)}, scales.get(n))


def extreme(ctx: Ctx) -> None:
    """The extreme check: the forward on ``huge`` or ``one_max`` inputs (the grid's families already hold
    the ``nonfinite`` ones), then every gradient, with a ``dout`` holding ±inf and 0 (a normal one for
    ``one_max``: its single overflowing term per sum must not meet an infinite one)."""
    if ctx.case.family not in ctx.case.spec.families:
        forward(ctx)
    backward(ctx, extreme=ctx.case.family != "one_max")


def overflow_quiet(ctx: Ctx) -> None:
    """Forward and backward on inputs and a ``dout`` whose sums overflow (``sum_overflow``: values at
    0.6-0.9 of -max, so any two add beyond the range) finish without a RuntimeWarning. The values are not
    compared: where a finite sum overflows, inf, NaN or a finite result follows the order of summation."""
    spec = ctx.case.spec
    inputs = ctx.case.sample(ctx.rng)
    outs, cache = _forward(ctx, inputs)
    if spec.grads_of(inputs):
        douts = {k: sum_overflow(ctx.rng, np.shape(outs[k]), ctx.case.dt, Hints()) for k in spec.dout_names}
        _backward(ctx, cache, douts, inputs)


def gradcheck(ctx: Ctx) -> None:
    """Analytic gradients against float64 central differences of ``<forward(inputs), dout>``."""
    case, spec = ctx.case, ctx.case.spec
    inputs = case.sample(ctx.rng)
    outs, cache = _forward(ctx, inputs)
    douts = _douts(ctx, outs)
    grads = _backward(ctx, cache, douts, inputs)
    fwd = ctx.impl.get(spec.forward_name)

    def loss(xs: dict[str, np.ndarray]) -> float:
        result = spec.named(spec.call(fwd, xs, case.var)[0])
        return float(sum(np.sum(result[k] * d) for k, d in douts.items()))

    names = spec.grads_of(inputs)
    numeric = central_differences(loss, inputs, names)
    for n in names:
        ctx.compare(
            f"d{n}", grads[f"d{n}"], numeric[n], case.dt, FD_TOL, inputs, signed_zeros=False,
            oracle="float64 central differences",
        )


def _run(ctx: Ctx, inputs: dict[str, np.ndarray], douts: dict[str, np.ndarray] | None):
    """Forward, then backward with ``douts`` (drawn and remembered on first use)."""
    spec = ctx.case.spec
    outs, cache = _forward(ctx, inputs)
    if douts is None:
        douts = {k: normal(ctx.rng, np.shape(outs[k]), ctx.case.dt, None) for k in spec.dout_names}
    grads = _backward(ctx, cache, douts, inputs) if spec.grads_of(inputs) else {}
    return {**outs, **grads}, cache, douts


def _same(ctx: Ctx, got: dict, want: dict, inputs: dict[str, np.ndarray], tol: Tol, oracle: str) -> None:
    for k in want:
        ctx.compare(k, got[k], want[k], ctx.case.dt, tol, inputs, oracle=oracle, signed_zeros=not ctx.case.spec.reduces)


def layout(ctx: Ctx) -> None:
    """The same values in a different memory layout give the same results (bitwise unless the
    entry declares that it reduces, then within the dtype's tolerance)."""
    case, spec = ctx.case, ctx.case.spec
    inputs = case.sample(ctx.rng)
    contiguous = {n: LAYOUTS["C"].apply(a) for n, a in inputs.items()}
    want, _, douts = _run(ctx, contiguous, None)
    got, _, _ = _run(ctx, inputs, {k: LAYOUTS[case.layout].apply(d) for k, d in douts.items()})
    tol = spec.tol(case.dt) if spec.reduces else BITWISE
    _same(ctx, got, want, inputs, tol, "the same values in C order")


def repeat(ctx: Ctx) -> None:
    """Forward twice and backward twice on one cache give bitwise identical results."""
    inputs = ctx.case.sample(ctx.rng)
    first, cache, douts = _run(ctx, inputs, None)
    again = dict(_forward(ctx, inputs)[0])
    if ctx.case.spec.grads_of(inputs):
        again.update(_backward(ctx, cache, douts, inputs))
    _same(ctx, again, first, inputs, BITWISE, "the first call")


def bad_input(ctx: Ctx, spec: OpSpec, label: str) -> None:
    """The call must raise the declared error type, with a message naming the op first."""
    bad = next(b for b in bad_inputs(spec) if b.label == label)
    args, kwargs = bad.build(ctx.rng)
    fwd = ctx.impl.get(spec.forward_name)
    if bad.dout is None:
        what, call = "forward", (lambda: fwd(*args, **kwargs))
    else:
        out, cache = fwd(*args, **kwargs)
        bwd = ctx.impl.get(spec.backward_name)
        outs = spec.named(out)
        douts = {k: np.zeros_like(outs[k]) for k in spec.dout_names}  # the first one made invalid
        douts[spec.outputs[0]] = bad.dout(outs[spec.outputs[0]])
        what, call = "backward", (lambda: bwd(cache, spec.pack(douts)))
    try:
        call()
    except Exception as err:
        if not isinstance(err, bad.error):
            ctx.fail(label, f"{what} raised {type(err).__name__}: {err}; expected {bad.error.__name__}")
        msg = str(err)
        if not msg.startswith(f"{spec.name}:") or not re.search(bad.match, msg):
            ctx.fail(label, f"error message {msg!r} must start with '{spec.name}:' and match {bad.match!r}")
    else:
        ctx.fail(label, f"{what} accepted the invalid input; expected {bad.error.__name__}")


def prop(ctx: Ctx, spec: OpSpec, label: str) -> None:
    """An entry's own property check (e.g. a statistical bound), with the test's seeded RNG; skipped as
    not implemented when the implementation lacks the op (a property may probe torch alone)."""
    ctx.impl.get(spec.forward_name)
    ctx.impl.get(spec.backward_name)
    next(p for p in spec.properties if p.label == label).check(ctx)
