"""Per-test context: the implementation under test, the case, its seeded RNG, result recording for
the report, and failure messages that tell the whole story."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness import impl as impls
from harness.cases import Case, seed_for
from harness.compare import Comparison, compare
from harness.dtypes import DType, Tol
from harness.impl import Impl
from harness.values import FAMILY_DOCS, LAYOUTS


def fmt(v: object) -> str:
    return repr(float(v)) if np.ndim(v) == 0 and np.asarray(v).dtype.kind in "fV" else repr(v)


@dataclass
class Ctx:
    impl: Impl
    check: str
    nodeid: str
    case: Case | None
    rng: np.random.Generator
    properties: list = field(default_factory=list)  # the pytest item's user_properties
    op_name: str = ""  # for checks without a value case (bad inputs)
    command: str = ""  # how to rerun it, when it is not a pytest node (a shrunk case)

    def record(self, what: str, dtype: str, metrics: dict) -> None:
        self.properties.append(("metric", {"what": what, "dtype": dtype, **metrics}))

    @property
    def reproduce(self) -> str:
        return self.command or f"pytest '{self.nodeid}'" + self.impl.option_suffix

    def describe(self) -> list[str]:
        c = self.case
        if c is None:
            return [f"  reproduce: {self.reproduce}"]
        lines = [
            f"  case      {c.id}",
            f"  dtype {c.dtype} · shape {c.shape} · layout {c.layout} ({LAYOUTS[c.layout].doc})",
            f"  values    {c.family}: {FAMILY_DOCS.get(c.family, '')}",
        ]
        if c.variant:
            lines.append(f"  options   {c.variant}")
        lines.append(f"  impl      {self.impl.describe()}")
        lines.append(f"  reproduce: {self.reproduce}")
        return lines

    def fail(self, what: str, problem: str, details: list[str] = ()) -> None:
        op = self.case.op if self.case else self.op_name
        head = f"{op} · {self.check} · {what}: {problem}"
        raise AssertionError("\n".join([head, *details, *self.describe()]))

    def same_meta(self, what: str, actual: object, expected: np.ndarray) -> np.ndarray:
        if not isinstance(actual, np.ndarray):
            self.fail(what, f"expected a NumPy array, got {type(actual).__name__}")
        if actual.shape != expected.shape:
            self.fail(what, f"shape {actual.shape}, torch gives {expected.shape}")
        if actual.dtype != expected.dtype:
            self.fail(what, f"dtype {actual.dtype}, torch gives {expected.dtype}")
        return actual

    def compare(
        self,
        what: str,
        actual: object,
        expected: np.ndarray,
        dtype: DType,
        tol: Tol,
        inputs: dict[str, np.ndarray],
        reference64: Callable[[], np.ndarray] | None = None,
        signed_zeros: bool = True,
        oracle: str = "torch",
        scale: np.ndarray | None = None,
    ) -> Comparison:
        actual = self.same_meta(what, actual, expected)
        cmp = compare(actual, expected, dtype, tol, signed_zeros, reference64, scale)
        self.record(what, dtype.name, cmp.metrics())
        if not cmp.ok:
            lines = self._mismatch_lines(cmp, actual, expected, inputs, tol)
            if scale is not None:
                lines.append("            rtol applies to max(|expected|, sum of |terms|): the op is a reduction")
            self.fail(what, f"does not match {oracle}", lines)
        return cmp

    @staticmethod
    def _mismatch_lines(cmp, actual, expected, inputs, tol) -> list[str]:
        idx = cmp.worst
        at = "" if idx is None else f"[{', '.join(map(str, idx))}]" if idx else "[()]"
        there = [f"{n} = {fmt(a[idx])}" for n, a in inputs.items() if idx is not None and a.shape == actual.shape]
        lines = [
            f"  mismatch  {cmp.mismatches} of {cmp.size} elements ({cmp.value_mismatches} values out of "
            f"tolerance, {cmp.special_mismatches} NaN/Inf misplaced, {cmp.zero_sign_mismatches} zero signs)",
        ]
        if idx is not None:
            lines.append(
                f"  worst     at {at}: got {fmt(actual[idx])}, expected {fmt(expected[idx])}"
                + (f"; input there: {', '.join(there)}" if there else "")
            )
        lines += [
            f"  error     max abs {cmp.max_abs:.3g} · max rel {cmp.max_rel:.3g} · max ULP {cmp.max_ulp:.3g}",
            f"  tolerance {tol}" + (f"; {cmp.arbitrated} accepted by the float64 arbiter" if cmp.arbitrated else ""),
        ]
        return lines

    def unchanged(self, arrays: dict[str, np.ndarray], before: dict[str, bytes], when: str) -> None:
        for name, a in arrays.items():
            if a.tobytes() != before[name]:
                self.fail(name, f"was modified in place by {when}; inputs and dout must never be mutated")


def snapshot(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {n: a.tobytes() for n, a in arrays.items()}


def node_ctx(node, case: Case | None = None, op: str = "", dtype: str = "-") -> Ctx:
    """The context of one pytest item: the implementation under test, an RNG seeded from the test id,
    and a "verify" record (op, check, dtype, case) that files its result in the report."""
    check = node.originalname.removeprefix("test_")
    case_id = case.id if case else node.callspec.id
    node.user_properties.append(("verify", {
        "op": case.op if case else op, "check": check, "dtype": case.dtype if case else dtype, "case": case_id,
    }))
    return Ctx(
        impl=impls.current(), check=check, nodeid=node.nodeid, case=case,
        rng=np.random.default_rng(seed_for(node.originalname, case_id)),
        properties=node.user_properties, op_name=op,
    )


def quiet(ctx: Ctx, what: str, call: Callable):
    """Run ``call``; a floating-point RuntimeWarning (overflow, invalid value, divide by zero) is an
    unstable formula or an unguarded special case, and fails the check with the case's story."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        result = call()
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            ctx.fail(what, f"emitted RuntimeWarning: {w.message} ({Path(w.filename).name}:{w.lineno})")
    return result
