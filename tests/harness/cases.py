"""Cases: one small, picklable descriptor per test; data is generated inside the test from a seed
derived from its id, so collection is cheap and identical in every xdist worker."""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np

from harness.dtypes import DTYPES, DType
from harness.registry import OpSpec, Variant, ops
from harness.values import LAYOUTS, layout_applies

LAYOUT_FAMILY = "normal"  # the family that every non-C layout is crossed with
# The dtypes of the zero-dout check: float32, computed as is, and bfloat16, computed through float32 and
# back (the path float16 shares: a conversion can turn a zero into a -0.0 or a tiny value).
SELF_DTYPES = ("float32", "bfloat16")
# The dtype of the layout and repeat checks. The float16/bfloat16 paths convert with astype, which keeps
# the layout, and then run the float32 computation: the float32 cases cover both (the fuzz tests draw
# layouts in every dtype and compare them with torch).
INVARIANT_DTYPES = ("float32",)


def shape_id(shape: tuple[int, ...]) -> str:
    return "(" + ",".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


@dataclass(frozen=True)
class Case:
    op: str
    variant: str
    dtype: str
    shape: tuple[int, ...]
    family: str
    layout: str = "C"

    @property
    def id(self) -> str:
        parts = [self.op, self.variant, self.dtype, shape_id(self.shape), self.family]
        if self.layout != "C":
            parts.append(self.layout)
        return "-".join(p for p in parts if p)

    def __str__(self) -> str:
        return self.id

    @property
    def spec(self) -> OpSpec:
        return ops()[self.op]

    @property
    def dt(self) -> DType:
        return DTYPES[self.dtype]

    @property
    def var(self) -> Variant:
        return next(v for v in self.spec.variants if v.label == self.variant)

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The case's inputs, floating ones laid out as the case says."""
        spec, var = self.spec, self.var
        raw = spec.sample(rng, self.dt, self.shape, self.family, var, spec.hints(var))
        lay = LAYOUTS[self.layout].apply
        return {n: lay(a) if a.dtype == self.dt.np else a for n, a in raw.items()}


def seed_for(test_name: str, case_id: str) -> int:
    """A stable seed from the test's id (not Python's salted ``hash``)."""
    return zlib.crc32(f"{test_name}[{case_id}]".encode())


def _grid(spec: OpSpec, dtypes=None, families=None, max_size=None):
    for var in spec.variants:
        for dt in spec.dtypes if dtypes is None else [d for d in dtypes if d in spec.dtypes]:
            for shape in spec.shapes:
                if max_size is not None and not 0 < int(np.prod(shape)) <= max_size:
                    continue
                if not spec.applies(var, shape):
                    continue
                for fam in families or spec.families:
                    yield var, dt, shape, fam


def _layouts(spec: OpSpec, var: Variant, dt: str, shape: tuple[int, ...], fam: str) -> list[Case]:
    """The case in every other layout that differs from C for its shape."""
    return [
        Case(spec.name, var.label, dt, shape, fam, lay) for lay in LAYOUTS if lay != "C" and layout_applies(lay, shape)
    ]


@functools.cache
def value_cases() -> list[Case]:
    """Every variant × dtype × shape × value family, in C order. Other memory layouts are checked against
    the C-order result (``layout_cases``: bitwise unless the op reduces) in float32 and bfloat16, and with
    torch directly by the fuzz tests, which draw the layout of every example."""
    return [Case(s.name, var.label, dt, shape, fam) for s in ops().values() for var, dt, shape, fam in _grid(s)]


def backward_cases() -> list[Case]:
    return [c for c in value_cases() if c.spec.grads]  # value_cases is built once per process


def zero_dout_cases() -> list[Case]:
    """dout = 0 on normal values, in float32 and bfloat16 (the unconverted and the converted path)."""
    return [
        Case(s.name, v.label, dt, shape, f)
        for s in ops().values()
        if s.grads
        for v, dt, shape, f in _grid(s, dtypes=SELF_DTYPES, families=("normal",))
    ]


def _measured_grid(skip_declared: bool = False):
    """(spec, variant, dtype, measured shape) of every op that takes non-finite values (declares
    ``nonfinite``), without the variants its ``finite_dout`` declares when ``skip_declared``."""
    from harness.accuracy import measured_shape

    for s in ops().values():
        if "nonfinite" not in s.families:
            continue
        for v in s.variants:
            shape = measured_shape(s.name, v.label)
            if shape is None or (skip_declared and {"*", v.label} & set(s.finite_dout)):
                continue
            for dt in s.dtypes:
                yield s, v, dt, shape


def extreme_cases() -> list[Case]:
    """Extreme values in inputs and ``dout`` once per op × variant × dtype, on the measured shape, for
    every op that takes non-finite values (declares ``nonfinite``): IEEE results and no warnings where
    the reference's arithmetic overflows or meets inf · 0. Inputs from ``huge`` (±max) for elementwise
    ops, whose results do not depend on an order of summation; for the others, from the op's ``nonfinite``
    family and from ``one_max`` (one ±max element: one overflowing term per sum), in SELF_DTYPES (the
    path computed as is and the converted one, as for the zero dout); douts from ``infinite`` (see
    ``checks.backward``). Variants an entry declares in ``finite_dout`` are left out."""
    return [
        Case(s.name, v.label, dt, shape, fam)
        for s, v, dt, shape in _measured_grid(skip_declared=True)
        for fam in (("huge",) if s.elementwise else ("nonfinite", "one_max") if dt in SELF_DTYPES else ())
    ]


def overflow_cases() -> list[Case]:
    """``sum_overflow`` inputs and dout once per op × variant, on the measured shape, in the working
    precisions (float32, which float16/bfloat16 compute in, and float64), for every op that takes
    non-finite values: warning-free where sums overflow (``checks.overflow_quiet``)."""
    return [
        Case(s.name, v.label, dt, shape, "sum_overflow")
        for s, v, dt, shape in _measured_grid()
        if dt in ("float32", "float64")
    ]


def gradcheck_cases() -> list[Case]:
    return [
        Case(s.name, v.label, dt, shape, f)
        for s in ops().values()
        if s.grads
        for v, dt, shape, f in _grid(s, dtypes=("float64",), families=("smooth",), max_size=s.fd_max_size)
    ]


def layout_cases() -> list[Case]:
    """Every non-C layout (normal family) against the C-order result, in INVARIANT_DTYPES."""
    return [
        case
        for s in ops().values()
        for v, dt, shape, f in _grid(s, dtypes=INVARIANT_DTYPES, families=(LAYOUT_FAMILY,))
        for case in _layouts(s, v, dt, shape, f)
    ]


def repeat_cases() -> list[Case]:
    """Determinism of forward and backward, in INVARIANT_DTYPES."""
    return [
        Case(s.name, v.label, dt, shape, f)
        for s in ops().values()
        for v, dt, shape, f in _grid(s, dtypes=INVARIANT_DTYPES, families=("normal",))
    ]


def bad_input_cases() -> list[tuple[str, str]]:
    """(op, label) for every generic and declared bad input."""
    from harness.badinputs import bad_inputs

    return [(s.name, b.label) for s in ops().values() for b in bad_inputs(s)]


def property_cases() -> list[tuple[str, str]]:
    """(op, label) for every entry's own property checks."""
    return [(s.name, p.label) for s in ops().values() for p in s.properties]
