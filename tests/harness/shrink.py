"""Shrinking a failing case to the smallest inputs that still fail the same way.

A suite case that fails is usually larger than the bug needs (a kink bug shows on one element of a
(4, 3) array). Starting from the failing case's own inputs, ``shrink`` greedily tries smaller
calls and keeps each one that still fails on the same output or gradient: first slices along every
axis of the first input (the slice applied to every array that shares that axis's length, so labels
follow their batch), then simpler values element by element (0, ±1, the value rounded to two
digits). The checks are the suite's own (``checks.forward``/``backward`` on given inputs), so the
shrunk case fails for exactly the reason the suite reported. ``scripts/replay.py`` reruns a saved one.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import checks
from harness.cases import Case, seed_for, value_cases, zero_dout_cases
from harness.context import Ctx
from harness.dtypes import DTYPES
from harness.impl import Impl

CHECKS: dict[str, Callable[..., None]] = {
    "forward": checks.forward,
    "backward": checks.backward,
    "zero_dout": lambda ctx, inputs: checks.backward(ctx, zero=True, inputs=inputs),
}
SEED = 0  # the douts of every attempt come from this seed, so a saved case replays exactly


@dataclass
class Failure:
    what: str  # the output or gradient that fails, e.g. "dx"
    message: str  # the whole story, as the suite prints it
    metrics: dict  # size, mismatches, max abs/rel/ULP of the failing comparison


@dataclass
class Shrunk:
    case: Case
    check: str
    inputs: dict[str, np.ndarray]
    failure: Failure
    attempts: int
    complete: bool  # False: the time budget ran out before no smaller call failed

    @property
    def elements(self) -> int:
        return sum(int(a.size) for a in self.inputs.values())

    def values(self, limit: int = 24) -> dict[str, object]:
        """Each input's shape, and its values when it is small enough to read."""
        return {n: {"shape": list(a.shape), **({"values": a.tolist()} if a.size <= limit else {})}
                for n, a in self.inputs.items()}

    def save(self, path: Path, impl: Impl) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"op": self.case.op, "variant": self.case.variant, "dtype": self.case.dtype,
                "family": self.case.family, "layout": self.case.layout, "check": self.check, "impl": impl.spec}
        # bfloat16 has no .npy type: its bits are saved as uint16 and viewed back on load
        arrays = {f"input_{n}": a.view(np.uint16) if a.dtype.kind == "V" else a for n, a in self.inputs.items()}
        np.savez(path, **arrays, **{f"meta_{k}": v for k, v in meta.items()})
        return path


def load(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """A saved shrunk case: its description (op, variant, dtype, family, layout, check, impl) and inputs."""
    saved = np.load(path)
    meta = {k.removeprefix("meta_"): str(saved[k]) for k in saved.files if k.startswith("meta_")}
    dtype = DTYPES[meta["dtype"]].np
    inputs = {k.removeprefix("input_"): saved[k] for k in saved.files if k.startswith("input_")}
    return meta, {n: a.view(dtype) if dtype.kind == "V" and a.dtype == np.uint16 else a for n, a in inputs.items()}


def attempt(impl: Impl, case: Case, check: str, inputs: dict[str, np.ndarray], command: str = "") -> Failure | None:
    """Run the suite's check on ``inputs``; the failure it reports, or None if the call passes or is
    not a valid call any more (the implementation or torch rejects the shrunk shapes)."""
    shape = np.shape(inputs[case.spec.inputs[0]]) if case.spec.inputs else case.shape
    case = dataclasses.replace(case, shape=tuple(shape))
    ctx = Ctx(impl=impl, check=check, nodeid=case.id, case=case, rng=np.random.default_rng(SEED), properties=[],
              command=command or f"python scripts/replay.py <saved case> (shrunk from {case.id})")
    try:
        CHECKS[check](ctx, inputs=inputs)
    except AssertionError as err:
        message = str(err)
        what = message.split(" · ", 2)[-1].split(":", 1)[0]
        failing = [m for k, m in ctx.properties if k == "metric" and m.get("mismatches")]
        return Failure(what, message, failing[-1] if failing else {})
    except Exception:  # an invalid shrunk call (a shape the op or torch rejects) is no candidate
        return None
    return None


def _slices(inputs: dict[str, np.ndarray], first: str) -> Iterator[dict[str, np.ndarray]]:
    """Smaller calls: halves, then all but one index, along each axis of the first input; every array
    with the same length at that axis is sliced alike."""
    x = inputs[first]
    for axis in range(x.ndim):
        n = x.shape[axis]
        keeps = [slice(0, 1), slice(n - 1, n), slice(0, n // 2), slice(n // 2, n)] if n > 1 else []
        keeps += [np.delete(np.arange(n), i) for i in range(n)] if 2 < n <= 8 else []
        for keep in keeps:
            yield {k: _take(a, axis, n, keep) for k, a in inputs.items()}


def _take(a: np.ndarray, axis: int, n: int, keep) -> np.ndarray:
    if a.ndim <= axis or a.shape[axis] != n:
        return a
    index = (slice(None),) * axis + (keep,)
    return a[index]


def _simpler_values(inputs: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """One element at a time replaced by 0, 1, -1 or itself rounded to two significant digits."""
    for name, a in inputs.items():
        if a.dtype.kind not in "fV" or a.size > 64:
            continue
        for idx in np.ndindex(a.shape):
            v = float(a[idx])
            for simple in (0.0, 1.0, -1.0, float(f"{v:.2g}") if np.isfinite(v) else v):
                candidate = np.array(a, copy=True)
                candidate[idx] = simple
                if candidate.tobytes() != a.tobytes():
                    yield {**inputs, name: candidate}


def shrink(impl: Impl, case: Case, check: str, inputs: dict[str, np.ndarray], budget: float = 5.0) -> Shrunk | None:
    """The smallest call found (within ``budget`` seconds) that fails ``check`` on the same output or
    gradient as ``inputs`` do; None when ``inputs`` do not fail or the check cannot take inputs."""
    if check not in CHECKS:
        return None
    failure = attempt(impl, case, check, inputs)
    if failure is None:
        return None
    deadline, attempts, first = time.monotonic() + budget, 1, case.spec.inputs[0]
    for moves in (functools.partial(_slices, first=first), _simpler_values):
        progress = True
        while progress:
            progress = False
            for candidate in moves(inputs):
                if time.monotonic() > deadline:
                    return Shrunk(case, check, inputs, failure, attempts, complete=False)
                attempts += 1
                found = attempt(impl, case, check, candidate)
                if found is not None and found.what == failure.what:
                    inputs, failure, progress = candidate, found, True
                    break
    return Shrunk(case, check, inputs, failure, attempts, complete=True)


def _suite_cases() -> dict[str, Case]:
    return {c.id: c for c in (*value_cases(), *zero_dout_cases())}


def shrink_failures(groups: list[list[dict]], impl: Impl, out_dir: Path, budget: float = 60.0) -> dict[tuple, dict]:
    """For each op · check · dtype (a list of its failure records, smallest case first), the shrunk
    case: saved to ``out_dir/shrunk/<op>-<check>-<dtype>.npz``, described by shapes, values when small,
    errors and the replay command. Stops starting new cells once ``budget`` seconds are spent."""
    cases, found, stop = _suite_cases(), {}, time.monotonic() + budget
    for group in groups:
        f = group[0]
        case = cases.get(f["case"])
        if case is None or f["check"] not in CHECKS or time.monotonic() > stop:
            continue
        inputs = case.sample(np.random.default_rng(seed_for(f"test_{f['check']}", case.id)))
        result = shrink(impl, case, f["check"], inputs, budget=min(5.0, max(stop - time.monotonic(), 0.5)))
        if result is None:
            continue
        path = result.save(out_dir / "shrunk" / f"{case.op}-{f['check']}-{case.dtype}.npz", impl)
        m = result.failure.metrics
        found[(f["op"], f["check"], f["dtype"])] = {
            "from": f["nodeid"], "what": result.failure.what, "inputs": result.values(),
            "elements": result.elements, "complete": result.complete, "attempts": result.attempts,
            **{k: m[k] for k in ("mismatches", "max_abs", "max_rel", "max_ulp") if k in m},
            "replay": f"python scripts/replay.py {path}",
        }
    return found
