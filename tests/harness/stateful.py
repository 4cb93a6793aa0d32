"""Checks that only make sense for stateful code (issue 7), run for every implementation and adapter.

- ``no_alias``: the caller's arrays stay the caller's. Inputs unchanged by forward, inputs, outputs and
  ``dout`` unchanged by backward; no writeable output or gradient shares memory with an input, an output
  or ``dout`` (``np.shares_memory``) unless the op's registry entry declares that torch's result does the
  same (``OpSpec.aliases``, checked against torch here); and, concretely, the caller writing into every
  returned output and gradient leaves inputs and ``dout`` unchanged.
- ``backward_twice``: backward called twice on one forward gives the same gradients (``self.dW += ...``
  accumulates), and the gradients the first call returned are not overwritten by the second (a reused
  gradient buffer handed out without a copy).
- ``fresh_state``: forward/backward on case A, then on case B, equals a fresh object's result on B (a mask
  or buffer not reset, gradients accumulated across calls), and B's call leaves A's results alone. Kit
  adapters keep one layer object across the calls (``adapters.reuse_layers``); a module of functions
  shows state kept in module globals.

One test item per op and check; it runs every variant of the op on one case (float32 or the op's first
dtype, the normal family, the first shape with at least two elements). Results are compared bitwise,
within the dtype's tolerance where the op reduces (summation order may follow memory alignment).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

from harness import adapters
from harness.cases import Case
from harness.checks import BITWISE, _douts, _forward, _shown
from harness.context import Ctx, quiet, snapshot
from harness.registry import OpSpec, ops

Arrays = dict[str, np.ndarray]


def op_cases(spec: OpSpec) -> list[Case]:
    """One case per variant: float32 (else the first dtype), normal values (else the first family), the
    first shape with at least two elements that the variant applies to (else the first non-empty one)."""
    dt = "float32" if "float32" in spec.dtypes else spec.dtypes[0]
    fam = "normal" if "normal" in spec.families else spec.families[0]
    out = []
    for var in spec.variants:
        shapes = [s for s in spec.shapes if spec.applies(var, s) and int(np.prod(s)) > 0]
        if shapes:
            shape = next((s for s in shapes if int(np.prod(s)) >= 2), shapes[0])
            out.append(Case(spec.name, var.label, dt, shape, fam))
    return out


def run(ctx: Ctx, op: str, check: Callable[[Ctx], None]) -> None:
    """``check`` on each of the op's cases, in order, with the item's seeded RNG. Every variant runs even
    after one fails (a variant the implementation cannot do must not hide the verdict on the others): the
    first failure's whole story is raised, followed by the other failing variants' headlines and the list
    of those that passed. An exception raised by the implementation is a failure too."""
    __tracebackhide__ = True  # the story is in the message
    failed, passed = [], []
    for case in op_cases(ops()[op]):
        ctx.case = case
        try:
            check(ctx)
            passed.append(case.variant or "(default)")
        except AssertionError as err:
            failed.append((case, str(err)))
        except Exception as err:  # the implementation's own exception is a failure of this check
            try:
                ctx.fail(type(err).__name__, f"raised by the implementation: {err}")
            except AssertionError as story:
                failed.append((case, str(story)))
    if failed:
        others = [f"  also      {c.variant or '(default)'}: {m.splitlines()[0]}" for c, m in failed[1:]]
        raise AssertionError("\n".join([failed[0][1], *others, f"  passed    {', '.join(passed) or 'no variant'}"]))


Roles = dict[str, Arrays]  # arrays by role ("input", "dout", "output", "gradient"), then by name


def _held(spec: OpSpec, inputs: Arrays, douts: Arrays | None = None, outs: Arrays | None = None) -> Roles:
    """The caller's arrays by role; douts under the names messages show ("dout", "dout_<output>")."""
    return {"input": inputs, "dout": _shown(spec, douts) if douts else {}, "output": outs or {}}


def _snapshot(held: Roles) -> dict[str, dict[str, bytes]]:
    return {role: snapshot(arrays) for role, arrays in held.items()}


def _unchanged(ctx: Ctx, held: Roles, before: dict[str, dict[str, bytes]], when: str) -> None:
    """The caller's arrays hold the bytes they held before ``when``."""
    for role, arrays in held.items():
        for name, a in arrays.items():
            if a.tobytes() != before[role][name]:
                ctx.fail(name, f"({role}) was modified in place by {when}: the caller's arrays must never change")


def _backward(ctx: Ctx, cache: object, douts: Arrays, inputs: Arrays, outs: Arrays) -> Arrays:
    """Backward, failing if it changed an input, a dout or an output, or left a gradient out."""
    spec = ctx.case.spec
    held = _held(spec, inputs, douts, outs)
    before = _snapshot(held)
    bwd = ctx.impl.get(spec.backward_name)
    grads = quiet(ctx, "backward", lambda: bwd(cache, spec.pack(douts))) or {}
    _unchanged(ctx, held, before, "backward")
    missing = [f"d{n}" for n in spec.grads_of(inputs) if f"d{n}" not in grads]
    if missing:
        ctx.fail("gradients", f"backward returned {sorted(grads)}, missing {missing}")
    return _arrays(grads)


def _arrays(named: dict) -> Arrays:
    return {k: v for k, v in named.items() if isinstance(v, np.ndarray)}


def _shared(ctx: Ctx, results: Roles, sources: Roles, allowed: set[tuple[str, str]]) -> None:
    """Fail on a writeable result that shares memory with a caller's array of another role, unless the
    pair is declared (and torch agrees, see ``_declared``)."""
    for rrole, rs in results.items():
        for r, a in rs.items():
            if not a.flags.writeable:
                continue  # the caller cannot write into it
            for srole, ss in sources.items():
                for s, b in ss.items():
                    if srole != rrole and (r, s) not in allowed and np.shares_memory(a, b):
                        ctx.fail(r, f"({rrole}) shares memory with {s} ({srole}): a caller updating {r} in place "
                                 f"(an optimizer step, the next layer's backward) would change {s}; return a copy",
                                 [f"  {r}: {a.shape} {a.dtype} · {s}: {b.shape} {b.dtype}"])


def _torch_aliases(spec: OpSpec, case: Case, inputs: Arrays, douts: Arrays) -> set[tuple[str, str]]:
    """The (result, source) pairs whose storage torch shares on this case (forward outputs with inputs,
    ``torch.autograd.grad``'s gradients with the douts)."""
    t = {n: torch.from_numpy(a.copy()).requires_grad_(n in spec.grads_of(inputs)) for n, a in inputs.items()}
    outs = spec.named(spec.call(spec.torch_fn, t, case.var))
    d = {k: torch.from_numpy(v.copy()) for k, v in douts.items()}
    pairs = [(outs[k], d[k]) for k in d if outs[k].requires_grad]
    wrt = spec.grads_of(inputs)
    grads = (
        torch.autograd.grad([o for o, _ in pairs], [t[n] for n in wrt], [g for _, g in pairs], allow_unused=True)
        if pairs else [None] * len(wrt)
    )
    results = {**outs, **{f"d{n}": g for n, g in zip(wrt, grads, strict=True) if g is not None}}
    sources = {**t, **_shown(spec, d)}

    def ptr(x: torch.Tensor) -> int:
        return x.untyped_storage().data_ptr()

    return {(r, s) for r, x in results.items() for s, y in sources.items() if x.numel() and ptr(x) == ptr(y)}


def _declared(ctx: Ctx, inputs: Arrays, douts: Arrays, results: Arrays, sources: Roles) -> set[tuple[str, str]]:
    """The declared aliases (``OpSpec.aliases``) these results actually have, each checked to be one torch
    has on this case too: a declaration describes torch's semantics, it cannot excuse a difference."""
    spec = ctx.case.spec
    named = {k: v for role in ("output", "dout", "input") for k, v in sources.get(role, {}).items()}
    used = {(r, s) for r, s in spec.aliases if r in results and s in named}
    used = {(r, s) for r, s in used if np.shares_memory(results[r], named[s])}
    if used:
        missing = used - _torch_aliases(spec, ctx.case, inputs, douts)
        if missing:
            r, s = sorted(missing)[0]
            ctx.fail(r, f"shares memory with {s} as the registry declares ({spec.aliases[(r, s)]}), but torch "
                     "returns a separate array on this case: the declaration is wrong")
    return used


def _write(results: Arrays, skip: set[str]) -> None:
    """The caller's in-place update of everything it got back (writeable and not a declared alias)."""
    for name, a in results.items():
        if name not in skip and a.flags.writeable and a.size:
            a[...] = np.where(a == 3, 5, 3).astype(a.dtype)


def no_alias(ctx: Ctx) -> None:
    case, spec = ctx.case, ctx.case.spec
    inputs = case.sample(ctx.rng)
    outs, cache = _forward(ctx, inputs)  # fails if forward changed an input
    outs = _arrays(outs)
    sources = _held(spec, inputs)
    allowed = _declared(ctx, inputs, {}, outs, sources)
    _shared(ctx, {"output": outs}, sources, allowed)
    douts = _douts(ctx, outs)
    grads = {}
    if spec.grads_of(inputs):
        grads = _backward(ctx, cache, douts, inputs, outs)
        sources = _held(spec, inputs, douts, outs)
        allowed |= _declared(ctx, inputs, douts, grads, sources)
        _shared(ctx, {"gradient": grads}, sources, allowed)
    caller = _held(spec, inputs, douts)
    before = _snapshot(caller)
    _write({**grads, **outs}, {r for r, _ in allowed})
    _unchanged(ctx, caller, before, "the caller writing into the returned outputs and gradients")


def _kept(ctx: Ctx, results: Arrays, copies: Arrays, what: str) -> None:
    for k, a in copies.items():
        if results[k].tobytes() != a.tobytes():
            ctx.fail(k, f"returned earlier was overwritten by {what}; the caller's results must stay its own "
                     "(copy a reused buffer before returning it)")


def _same(ctx: Ctx, got: Arrays, want: Arrays, inputs: Arrays, oracle: str) -> None:
    case = ctx.case
    tol = case.spec.tol(case.dt) if case.spec.reduces else BITWISE
    for k, w in want.items():
        ctx.compare(k, got.get(k), w, case.dt, tol, inputs, oracle=oracle, signed_zeros=not case.spec.reduces)


def backward_twice(ctx: Ctx) -> None:
    spec = ctx.case.spec
    inputs = ctx.case.sample(ctx.rng)
    if not spec.grads_of(inputs):
        return
    outs, cache = _forward(ctx, inputs)
    outs = _arrays(outs)
    douts = _douts(ctx, outs)
    first = _backward(ctx, cache, douts, inputs, outs)
    copies = {k: a.copy() for k, a in first.items()}
    again = _backward(ctx, cache, douts, inputs, outs)
    _kept(ctx, first, copies, "a second backward on the same forward")
    _same(ctx, again, copies, {**inputs, **_shown(spec, douts)}, "the first backward on the same forward")


def _call(ctx: Ctx, inputs: Arrays, douts: Arrays | None) -> tuple[Arrays, Arrays]:
    """Forward then (with gradients) backward; douts drawn on first use. Returns (results, douts)."""
    spec = ctx.case.spec
    outs, cache = _forward(ctx, inputs)
    outs = _arrays(outs)
    douts = douts if douts is not None else _douts(ctx, outs)
    grads = _backward(ctx, cache, douts, inputs, outs) if spec.grads_of(inputs) else {}
    return {**outs, **grads}, douts


def fresh_state(ctx: Ctx) -> None:
    case = ctx.case
    a, b = case.sample(ctx.rng), case.sample(ctx.rng)
    with adapters.reuse_layers():
        want, douts_b = _call(ctx, b, None)
    want = {k: v.copy() for k, v in want.items()}
    with adapters.reuse_layers():
        first, _ = _call(ctx, a, None)
        copies = {k: v.copy() for k, v in first.items()}
        got, _ = _call(ctx, b, douts_b)
    _kept(ctx, first, copies, "the next call (forward/backward on other inputs)")
    _same(ctx, got, want, {**b, **_shown(case.spec, douts_b)},
          "a fresh object's result on the same inputs (this call came after one on other inputs)")


CHECKS: dict[str, Callable[[Ctx], None]] = {  # by test name (tests/test_stateful.py's test_<name>)
    "no_alias": no_alias,
    "backward_twice": backward_twice,
    "fresh_state": fresh_state,
}


@functools.cache
def stateful_ops() -> list[str]:
    """The ops the pass runs on: every registered op with at least one non-empty case."""
    return [name for name, spec in ops().items() if op_cases(spec)]
