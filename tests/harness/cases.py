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
LAYOUT_DTYPE = "float32"  # the dtype whose non-C layouts are also compared with torch directly
# The dtypes of the self-consistency checks (layout, repeat, zero dout): float32, computed as is, and
# bfloat16, computed through float32 and back (the path float16 shares).
SELF_DTYPES = ("float32", "bfloat16")


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
    """Every variant × dtype × shape × value family in C order, plus, in LAYOUT_DTYPE, every other
    layout that differs for the shape, crossed with the normal family. (``layout_cases`` checks every
    layout against the C-order result in float32 and bfloat16 too; with C order checked against torch
    in every dtype, that covers the rest without a torch call per layout and dtype.)"""
    out = []
    for spec in ops().values():
        for var, dt, shape, fam in _grid(spec):
            out.append(Case(spec.name, var.label, dt, shape, fam))
            if fam == LAYOUT_FAMILY and dt == LAYOUT_DTYPE:
                out += _layouts(spec, var, dt, shape, fam)
    return out


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


def gradcheck_cases() -> list[Case]:
    return [
        Case(s.name, v.label, dt, shape, f)
        for s in ops().values()
        if s.grads
        for v, dt, shape, f in _grid(s, dtypes=("float64",), families=("smooth",), max_size=s.fd_max_size)
    ]


def layout_cases() -> list[Case]:
    """Every non-C layout (normal family) against the C-order result, in float32 (the path without a
    conversion) and bfloat16 (the path through float32 and back: float16 shares it)."""
    return [
        case
        for s in ops().values()
        for v, dt, shape, f in _grid(s, families=(LAYOUT_FAMILY,))
        if dt in SELF_DTYPES
        for case in _layouts(s, v, dt, shape, f)
    ]


def repeat_cases() -> list[Case]:
    """Determinism of forward and backward, in float32 and bfloat16."""
    return [
        Case(s.name, v.label, dt, shape, f)
        for s in ops().values()
        for v, dt, shape, f in _grid(s, dtypes=SELF_DTYPES, families=("normal",))
    ]


def bad_input_cases() -> list[tuple[str, str]]:
    """(op, label) for every generic and declared bad input."""
    from harness.badinputs import bad_inputs

    return [(s.name, b.label) for s in ops().values() for b in bad_inputs(s)]


def property_cases() -> list[tuple[str, str]]:
    """(op, label) for every entry's own property checks."""
    return [(s.name, p.label) for s in ops().values() for p in s.properties]
