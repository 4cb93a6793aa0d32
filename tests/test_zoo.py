"""The zoo meta-test: every deliberately broken implementation in ``tests/zoo/`` is flagged by the
suite, and the checks that flag it are named.

For each entry the generic checks run in-process on a small, fixed selection of its target ops'
cases — per check the cases spread most evenly over variants, value families, dtypes, shapes and
layouts, capped (``CAPS``), plus every bad input and property of the op; optimizer entries run
their optimizer's trajectory configurations. Contexts are built as ``tests/conftest.py`` builds them,
under the suite's own test names and case ids, so every case seen here is a case of the suite (on
which the reference passes) and the reproduce line in a message runs it there with ``--impl``. A
check counts as catching the bug on its first failing case; the others are not run for that check."""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from harness import cases as harness_cases
from harness import checks, stateful
from harness.cases import Case, seed_for
from harness.context import Ctx
from harness.dtypes import DTYPES
from harness.impl import Impl, load
from harness.optim import CONFIGS, DTYPE_NAMES, compare_trajectories, gradients, reference_trajectory, torch_trajectory
from harness.registry import ops
from zoo import entries

ROOT = Path(__file__).resolve().parents[1]

# The checks in the order they are tried, each as the suite's test function runs it.
CHECKS = (
    "forward", "backward", "zero_dout", "gradcheck", "layout", "repeat", *stateful.CHECKS, "bad_input", "property",
    "trajectory",
)
CAPS = {"forward": 12, "backward": 12, "zero_dout": 3, "gradcheck": 4, "layout": 3, "repeat": 4}
CASE_LISTS: dict[str, Callable[[], list[Case]]] = {
    "forward": harness_cases.value_cases,
    "backward": harness_cases.backward_cases,
    "zero_dout": harness_cases.zero_dout_cases,
    "gradcheck": harness_cases.gradcheck_cases,
    "layout": harness_cases.layout_cases,
    "repeat": harness_cases.repeat_cases,
}
RUN: dict[str, Callable[[Ctx], None]] = {
    "forward": checks.forward,
    "backward": checks.backward,
    "zero_dout": lambda ctx: checks.backward(ctx, zero=True),
    "gradcheck": checks.gradcheck,
    "layout": checks.layout,
    "repeat": checks.repeat,
}
TEST_FILE = {
    "forward": "test_forward", "backward": "test_backward", "zero_dout": "test_backward", "gradcheck": "test_gradcheck",
    "layout": "test_invariants", "repeat": "test_invariants", "bad_input": "test_bad_inputs",
    "property": "test_properties", "trajectory": "test_optim",
    **dict.fromkeys(stateful.CHECKS, "test_stateful"),
}


@dataclass
class Verdict:
    """What the selection found for one zoo entry: per catching check, its first failure message."""

    bug: str
    doc: str
    targets: tuple[str, ...]
    caught: dict[str, str] = field(default_factory=dict)
    runs: Counter = field(default_factory=Counter)  # cases run per check


def _ctx(impl: Impl, check: str, case_id: str, case: Case | None = None, op: str = "") -> Ctx:
    """A context as tests/conftest.py builds it for ``test_<check>[<case_id>]``."""
    test = f"test_{check}"
    return Ctx(
        impl=impl,
        check=check,
        nodeid=f"tests/{TEST_FILE[check]}.py::{test}[{case_id}]",
        case=case,
        rng=np.random.default_rng(seed_for(test, case_id)),
        op_name=op,
    )


@functools.cache
def _by_op(check: str) -> dict[str, list[Case]]:
    grouped = defaultdict(list)
    for case in CASE_LISTS[check]():
        grouped[case.op].append(case)
    return grouped


def spread(cases: list[Case], cap: int) -> list[Case]:
    """Up to ``cap`` cases, greedily the one whose variant, family, dtype, shape and layout have been
    picked least so far (ties: the earliest), so a few cases cover every axis of the grid."""
    axes = ("variant", "family", "dtype", "shape", "layout")
    seen = {a: Counter() for a in axes}
    left, picked = list(cases), []
    while left and len(picked) < cap:
        best = min(left, key=lambda c: sum(seen[a][getattr(c, a)] for a in axes))
        left.remove(best)
        picked.append(best)
        for a in axes:
            seen[a][getattr(best, a)] += 1
    return picked


def selection(op: str) -> list[tuple[str, str, Case | None, Callable[[Ctx], None]]]:
    """(check, case id, case, run) for one registry op, in CHECKS order."""
    out = []
    for check, cap in CAPS.items():
        out += [(check, c.id, c, RUN[check]) for c in spread(_by_op(check).get(op, []), cap)]
    spec = ops()[op]
    if op in stateful.stateful_ops():  # one item per op and check, as tests/test_stateful.py runs them
        out += [(c, op, None, functools.partial(stateful.run, op=op, check=fn)) for c, fn in stateful.CHECKS.items()]
    for o, label in harness_cases.bad_input_cases():
        if o == op:
            run = functools.partial(checks.bad_input, spec=spec, label=label)
            out.append(("bad_input", f"{op}-{label}", None, run))
    for o, label in harness_cases.property_cases():
        if o == op:
            out.append(("property", f"{op}-{label}", None, functools.partial(checks.prop, spec=spec, label=label)))
    return out


def _trajectory(cfg, dtype: str) -> Callable[[Ctx], None]:
    def run(ctx: Ctx) -> None:  # tests/test_optim.py::test_trajectory
        dt = DTYPES[dtype]
        param0 = ctx.rng.standard_normal((7, 5)).astype(dt.np)
        grads = gradients(ctx.rng, dt)
        ours = reference_trajectory(ctx, cfg, param0, grads)
        compare_trajectories(ctx, cfg, dt, grads, param0, ours, torch_trajectory(cfg, param0, grads))

    return run


def optim_selection(optimizer: str) -> list[tuple[str, str, None, Callable[[Ctx], None]]]:
    return [
        ("trajectory", f"{cfg.id}-{dt}", None, _trajectory(cfg, dt))
        for cfg in CONFIGS
        if cfg.optimizer == optimizer
        for dt in DTYPE_NAMES
    ]


def judge(path: Path) -> Verdict:
    """Run the entry's selection; per check stop at the first failure, which catches the bug."""
    impl = load(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path))
    doc = (impl.module.__doc__ or "").strip().splitlines() or [""]
    return run_selection(impl, Verdict(path.stem, doc[0], tuple(impl.module.TARGETS)))


def run_selection(impl: Impl, verdict: Verdict) -> Verdict:
    for target in verdict.targets:
        if target.startswith("optim:"):
            todo = optim_selection(target.removeprefix("optim:"))
            op = target.removeprefix("optim:")
        else:
            todo, op = selection(target), target
        for check, case_id, case, run in todo:
            if check in verdict.caught:
                continue
            verdict.runs[check] += 1
            try:
                run(_ctx(impl, check, case_id, case, op))
            except AssertionError as err:
                verdict.caught[check] = str(err)
            except pytest.skip.Exception:
                continue
            except Exception as err:  # the suite reports an exception in the implementation as a failure
                verdict.caught[check] = f"{type(err).__name__} raised in {case_id}: {err}"
    return verdict


# Entries that the suite's current cases cannot catch, with the reason: the harness gap to close.
KNOWN_GAPS: dict[str, str] = {}


def _marks(bug: str) -> list:
    return [pytest.mark.xfail(reason=KNOWN_GAPS[bug], strict=True)] if bug in KNOWN_GAPS else []


ZOO = [pytest.param(p, id=p.stem, marks=_marks(p.stem)) for p in entries()]


def test_zoo_is_big_enough():
    assert len(ZOO) >= 40, f"only {len(ZOO)} zoo entries"


def test_reference_passes_the_selection():
    """The control: on the reference, the very cases that catch the zoo all pass."""
    targets = sorted({t for p in entries() for t in load(str(p.relative_to(ROOT))).module.TARGETS})
    verdict = run_selection(load("reference"), Verdict("reference", "the reference", tuple(targets)))
    assert not verdict.caught, "\n\n".join(verdict.caught.values())


@pytest.mark.parametrize("path", ZOO)
def test_zoo_entry_is_caught(path, record_property):
    verdict = judge(path)
    record_property("caught_by", sorted(verdict.caught))
    ran = ", ".join(f"{c} ×{n}" for c, n in verdict.runs.items())
    assert verdict.caught, f"{verdict.bug} ({verdict.doc}) survived every check; ran {ran}"
    names = [c for c in CHECKS if c in verdict.caught]
    first = verdict.caught[names[0]]
    # The failure names the check that caught it and how to reproduce it against this zoo entry.
    assert f"--impl tests/zoo/{path.name}" in first or "raised in" in first, first
    print(f"{verdict.bug}: caught by {', '.join(names)}")
