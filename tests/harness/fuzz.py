"""Property-based fuzzing with Hypothesis: one drawn example is a case off the fixed grid (variant, dtype,
shape, memory layout, value family, seed) plus special values written over drawn positions of the first
differentiable input, then run through the generic forward and backward comparisons with torch.

Which special values an op may receive comes from its registry entry, never from a list here: each value
family the entry declares stands for a set of special values (SPECIALS: "nonfinite" for NaN and ±inf,
"subnormal" for subnormals and ±0, "overflow" for the log(max) thresholds and ±max, "wide" for ±max, "kink"
for the kink points, ...), and a value is offered only if the entry's own sampler produces it in that
family (for ±max: values of that sign beyond EXTREME_SEEN). An entry that keeps NaN out of its "nonfinite"
family because torch's gradient there is inconsistent (hardtanh, the elu family) thus never gets NaN,
and binary_cross_entropy's probabilities stay in [0, 1]."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from harness import checks
from harness.cases import Case
from harness.context import Ctx, fmt
from harness.dtypes import DTYPES, DType
from harness.registry import OpSpec, Variant
from harness.values import LAYOUTS, Hints, cast, layout_applies, log_max_edges

MAX_INJECTED = 4  # special values written into one example
ELEMENTWISE_DIMS, ELEMENTWISE_SIDE = 4, 5  # arbitrary shapes for elementwise ops: 0-d to 4-d, sides 0..5
EXTREME_SEEN = 10.0  # ±max is offered when the family's sample holds values of that sign beyond this


def _signed(values: list[float]) -> list[float]:
    return [s * v for v in values for s in (1.0, -1.0)]


# A family's special values for a dtype and the entry's hints.
SPECIALS: dict[str, Callable[[DType, Hints], list[float]]] = {
    "nonfinite": lambda dt, h: [np.nan, np.inf, -np.inf],
    "neginf": lambda dt, h: [-np.inf],
    "subnormal": lambda dt, h: _signed(
        [0.0, float(dt.finfo.smallest_subnormal), float(dt.finfo.smallest_normal) - float(dt.finfo.smallest_subnormal),
         float(dt.finfo.smallest_normal)]
    ),
    "zeros": lambda dt, h: [0.0, -0.0],
    "kink": lambda dt, h: list(h.kinks or (0.0, -0.0)),
    "overflow": lambda dt, h: _signed([*log_max_edges(dt), float(dt.finfo.max)]),
    "wide": lambda dt, h: [float(dt.finfo.max), -float(dt.finfo.max)],
}


def _same(a: float, b: np.ndarray) -> np.ndarray:
    """Elements of ``b`` equal to ``a``, NaN to NaN and zeros by sign."""
    if np.isnan(a):
        return np.isnan(b)
    return (b == a) & (np.signbit(b) == np.signbit(a))


def _offered(candidate: float, extreme: bool, seen: np.ndarray) -> bool:
    """Whether the sampler's values ``seen`` include ``candidate`` (an ``extreme``: large ones of its sign)."""
    if extreme:
        return bool(np.any(seen * np.sign(candidate) > EXTREME_SEEN))
    return bool(np.any(_same(candidate, seen)))


def target(spec: OpSpec, inputs: dict[str, np.ndarray]) -> str | None:
    """The input that receives special values: the first differentiable one present."""
    names = spec.grads_of(inputs)
    return names[0] if names else None


def _seen(spec: OpSpec, var: Variant, dt: DType, shape: tuple[int, ...], fam: str) -> np.ndarray:
    """The values the entry's sampler puts in its first differentiable input in family ``fam`` (two seeds)."""
    seen = []
    for seed in (0, 1):
        sample = spec.sample(np.random.default_rng(seed), dt, shape, fam, var, spec.hints(var))
        name = target(spec, sample)
        if name is not None:
            seen.append(sample[name].astype(np.float64).ravel())
    return np.concatenate(seen) if seen else np.zeros(0)


@functools.cache
def special_values(op: str, variant: str, dtype: str) -> tuple[float, ...]:
    """The special values ``op`` may receive in its first differentiable input: each family's SPECIALS that
    the entry's sampler produces there, for the largest shape the variant applies to, from two seeds.

    ±max, the finite edge of ±inf, goes only to ops that do not sum (neither ``reduces`` nor ``magnitude``,
    e.g. prelu's dweight) and whose "nonfinite" family, if declared, holds ±inf of that sign. In a sum ±max
    overflows an intermediate, and whether that ends as inf, NaN or a finite value follows the summation
    order, which the registry leaves free for such ops (they get the log(max) thresholds). And an entry that
    keeps +inf out for a torch inconsistency keeps +max out too: exact gelu's vectorised kernel overflows at
    both (gelu(max) is inf, gelu(inf) NaN, except in a one-element tensor)."""
    from harness.registry import ops

    spec, dt = ops()[op], DTYPES[dtype]
    var = next(v for v in spec.variants if v.label == variant)
    shapes = [s for s in spec.shapes if spec.applies(var, s)] or list(spec.shapes)
    shape = max(shapes, key=lambda s: int(np.prod(s)))
    seen = {fam: _seen(spec, var, dt, shape, fam) for fam in spec.families if fam in SPECIALS}
    out: list[float] = []
    for fam in seen:
        for c in SPECIALS[fam](dt, spec.hints(var)):
            c = float(cast(np.array(c), dt))
            extreme = abs(c) == float(dt.finfo.max)
            inf_kept_out = "nonfinite" in seen and not np.any(_same(np.copysign(np.inf, c), seen["nonfinite"]))
            if extreme and (spec.reduces or spec.magnitude or inf_kept_out):
                continue
            if _offered(c, extreme, seen[fam]) and not np.any(_same(c, np.array(out))):
                out.append(c)
    return tuple(out)


@dataclass(frozen=True)
class Example:
    """One drawn example; its repr is what Hypothesis prints as the falsifying example."""

    case: Case
    seed: int
    injected: tuple[tuple[tuple[int, ...], float], ...]  # (index into the target input, special value)
    # The entry's sample for the case from the seed, special values written in (in place: right for a
    # strided or transposed view too), and the input that holds them.
    inputs: dict[str, np.ndarray] = field(repr=False, compare=False)
    special_input: str | None = None

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # Hypothesis's printer, which expands dataclasses
        printer.text(repr(self))

    def __repr__(self) -> str:
        specials = ", ".join(f"{list(i)}={fmt(np.float64(v))}" for i, v in self.injected) or "none"
        return f"Example(case={self.case.id!r}, seed={self.seed}, injected: {specials})"


def _shapes(spec: OpSpec, var: Variant) -> st.SearchStrategy[tuple[int, ...]]:
    if spec.elementwise:
        return array_shapes(min_dims=0, max_dims=ELEMENTWISE_DIMS, min_side=0, max_side=ELEMENTWISE_SIDE)
    return st.sampled_from([s for s in spec.shapes if spec.applies(var, s)])


@st.composite
def examples(draw: st.DrawFn, spec: OpSpec) -> Example:
    var = draw(st.sampled_from(spec.variants))
    dtype = draw(st.sampled_from(spec.dtypes))
    shape = draw(_shapes(spec, var))
    layout = draw(st.sampled_from([lay for lay in LAYOUTS if layout_applies(lay, shape)]))
    family = draw(st.sampled_from(spec.families))
    seed = draw(st.integers(0, 2**32 - 1))
    case = Case(spec.name, var.label, dtype, shape, family, layout)
    inputs = case.sample(np.random.default_rng(seed))
    name = target(spec, inputs)
    pool = special_values(spec.name, var.label, dtype)
    injected = []
    if name is not None and inputs[name].size and pool:
        size, where = inputs[name].shape, st.integers(0, inputs[name].size - 1)
        for flat, value in draw(st.lists(st.tuples(where, st.sampled_from(pool)), max_size=MAX_INJECTED)):
            idx = tuple(int(i) for i in np.unravel_index(flat, size))
            inputs[name][idx] = value
            injected.append((idx, value))
    return Example(case, seed, tuple(injected), inputs, name)


@dataclass(frozen=True)
class Target:
    """The op under test and the test's context, shown briefly in Hypothesis's falsifying example."""

    ctx: Ctx
    spec: OpSpec

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(repr(self))

    def __repr__(self) -> str:
        return f"Target({self.spec.name!r}, impl={self.ctx.impl.spec!r})"


def run(target: Target, example: Example) -> None:
    """The generic forward and backward comparisons on the example's inputs; the context's case and RNG
    (for the upstream gradient) are the example's."""
    ctx, inputs, name = target.ctx, example.inputs, example.special_input
    note(f"inputs: {', '.join(f'{n} {a.dtype}{list(a.shape)}' for n, a in inputs.items())}; specials go to {name}")
    ex_ctx = replace(ctx, case=example.case, rng=np.random.default_rng([example.seed, 1]))
    checks.forward(ex_ctx, inputs=inputs)
    if example.case.spec.grads_of(inputs):
        checks.backward(ex_ctx, inputs=inputs)
