"""Metamorphic relations: what an op's results must do when its inputs change in a known way, checked on
the implementation alone (torch is not consulted).

Generic relations hold for every op with gradients: its backward is linear in ``dout`` (``Linearity``)
and its gradient passes the dot-product test ``<dout, J v> = <J^T dout, v>`` with ``J v`` from float64
central differences (``DotProduct``); an elementwise op (``OpSpec.elementwise``) is equivariant under a
permutation of its elements (``Permutation``). An entry declares the others in ``OpSpec.relations``:
``ShiftInvariance`` (softmax and the cross-entropies in their logits) and ``Batch`` (per-sample ops, and
the dependence of batch_norm in training on the other samples). Every failure goes through ``Ctx.fail``
with the relation, the case and the reproduce command."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from harness.cases import Case, gradcheck_cases
from harness.checks import FD_TOL, _backward, _forward
from harness.context import Ctx
from harness.dtypes import Tol
from harness.registry import OpSpec, Variant, ops
from harness.values import normal

FD_EPS = 1e-6  # central-difference step, torch.autograd.gradcheck's (as in the gradcheck tests)
BITWISE = Tol(0.0, 0.0, "bitwise: an elementwise op computes each element alone, wherever it sits")
# float64 throughout: rounding moves results by ~1e-16 relative, a broken relation by O(1).
ROUNDING = Tol(
    1e-7, 1e-7,
    "assert_close's float64 default: both sides round differently at ~1e-16 of the terms' magnitude (x + c "
    "rounds, a BLAS kernel may block a batch differently); a violated relation moves results by O(1)",
)
LINEAR = Tol(
    1e-7, 1e-7,
    "assert_close's float64 default, rtol applied to |a g1| + |b g2| (Higham): each side rounds at ~1e-16 of "
    "that sum, which cancellation between a g1 and b g2 must not turn into a false alarm",
)


def _ctx(ctx: Ctx, case: Case) -> Ctx:
    """The test's context on one case: failure messages describe it."""
    return replace(ctx, case=case)


def _douts(ctx: Ctx, outs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: normal(ctx.rng, np.shape(outs[k]), ctx.case.dt, None) for k in ctx.case.spec.dout_names}


def _run(ctx: Ctx, inputs: dict[str, np.ndarray], douts: dict[str, np.ndarray] | None = None):
    """Forward, and backward with ``douts`` (random if None): (outputs, gradients, douts)."""
    outs, cache = _forward(ctx, inputs)
    douts = _douts(ctx, outs) if douts is None else douts
    grads = _backward(ctx, cache, douts, inputs) if ctx.case.spec.grads_of(inputs) else {}
    return outs, grads, douts


def _results(ctx: Ctx, inputs: dict[str, np.ndarray], douts: dict[str, np.ndarray] | None = None):
    outs, grads, douts = _run(ctx, inputs, douts)
    return {**outs, **grads}, douts


def _float_results(results: Mapping[str, np.ndarray]) -> list[str]:
    return [k for k, v in results.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]


def _first_shapes(spec: OpSpec, variants: tuple[Variant, ...], ok=lambda shape: True) -> list[tuple[Variant, tuple]]:
    """Each variant with the first non-empty shape it applies to (and ``ok`` accepts)."""
    out = []
    for var in variants:
        shape = next((s for s in spec.shapes if spec.applies(var, s) and int(np.prod(s)) > 0 and ok(s)), None)
        if shape is not None:
            out.append((var, shape))
    return out


def _variants(spec: OpSpec, labels: tuple[str, ...] | None) -> tuple[Variant, ...]:
    return spec.variants if labels is None else tuple(v for v in spec.variants if v.label in labels)


def _float64(spec: OpSpec) -> str:
    return "float64" if "float64" in spec.dtypes else spec.dtypes[-1]


def _family(spec: OpSpec) -> str:
    return "normal" if "normal" in spec.families else spec.families[0]


@dataclass(frozen=True)
class Relation(ABC):
    """A relation between an op's results on related inputs; ``label`` names its test item."""

    label: str
    doc: str

    def applies(self, spec: OpSpec) -> bool:
        """Whether a generic relation holds for ``spec`` (a declared one always applies)."""
        return True

    @abstractmethod
    def check(self, ctx: Ctx, spec: OpSpec) -> None:
        """Build the related inputs with ``ctx.rng``, run the implementation, ``ctx.fail`` if it breaks."""


# -- generic relations ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Linearity(Relation):
    """backward(a d1 + b d2) = a backward(d1) + b backward(d2) on one forward cache, in float64, for every
    variant (first non-empty shape, normal values)."""

    label: str = "linearity"
    doc: str = "backward is linear in dout: backward(a d1 + b d2) = a backward(d1) + b backward(d2)"

    def applies(self, spec: OpSpec) -> bool:
        return bool(spec.grads)

    def check(self, ctx: Ctx, spec: OpSpec) -> None:
        for var, shape in _first_shapes(spec, spec.variants):
            c = _ctx(ctx, Case(spec.name, var.label, _float64(spec), shape, _family(spec)))
            inputs = c.case.sample(c.rng)
            if not spec.grads_of(inputs):
                continue
            outs, cache = _forward(c, inputs)
            d1, d2 = _douts(c, outs), _douts(c, outs)
            a, b = c.rng.choice([-1.0, 1.0], 2) * c.rng.uniform(0.5, 2.0, 2)
            g1, g2 = _backward(c, cache, d1, inputs), _backward(c, cache, d2, inputs)
            mixed = {k: (a * d1[k] + b * d2[k]).astype(d1[k].dtype) for k in d1}
            g = _backward(c, cache, mixed, inputs)
            shown = {**inputs, **{f"d1_{k}": v for k, v in d1.items()}, **{f"d2_{k}": v for k, v in d2.items()}}
            for n in spec.grads_of(inputs):
                want = a * g1[f"d{n}"] + b * g2[f"d{n}"]
                scale = np.abs(a * g1[f"d{n}"]) + np.abs(b * g2[f"d{n}"])
                c.compare(f"linearity · d{n}", g[f"d{n}"], want.astype(g1[f"d{n}"].dtype), c.case.dt, LINEAR, shown,
                          signed_zeros=False, scale=scale,
                          oracle=f"a·backward(d1) + b·backward(d2) with a={a:.6g}, b={b:.6g} (backward of a·d1 + b·d2)")


@dataclass(frozen=True)
class DotProduct(Relation):
    """<dout, J v> = <J^T dout, v>: J v by float64 central differences along a random direction v of every
    differentiable input (two forward calls), J^T dout by backward; smooth values, each variant's first
    gradcheck case."""

    label: str = "vjp"
    doc: str = "dot-product test <dout, J v> = <backward(dout), v>, J v by float64 central differences"

    def applies(self, spec: OpSpec) -> bool:
        return bool(spec.grads)

    def check(self, ctx: Ctx, spec: OpSpec) -> None:
        seen = set()
        for case in gradcheck_cases():
            if case.op != spec.name or case.variant in seen:
                continue
            seen.add(case.variant)
            self._one(_ctx(ctx, case), spec)

    @staticmethod
    def _one(c: Ctx, spec: OpSpec) -> None:
        inputs = c.case.sample(c.rng)
        names = spec.grads_of(inputs)
        if not names:
            return
        _, grads, douts = _run(c, inputs)
        v = {n: normal(c.rng, inputs[n].shape, c.case.dt, None) for n in names}

        def along(h: float) -> dict[str, np.ndarray]:
            moved = {n: inputs[n] + h * v[n] if n in v else inputs[n] for n in inputs}
            return _forward(c, moved)[0]

        plus, minus = along(FD_EPS), along(-FD_EPS)
        jv = {k: (plus[k] - minus[k]) / (2 * FD_EPS) for k in douts}
        lhs = np.array(sum(float(np.sum(douts[k] * jv[k])) for k in douts))
        rhs = np.array(sum(float(np.sum(grads[f"d{n}"] * v[n])) for n in names))
        scale = np.array(sum(float(np.sum(np.abs(douts[k] * jv[k]))) for k in douts))
        c.compare("vjp · <backward(dout), v>", rhs, lhs, c.case.dt, FD_TOL,
                  {"<dout, J v>": lhs, "<backward(dout), v>": rhs}, signed_zeros=False, scale=scale,
                  oracle=f"<dout, J v> with J v by central differences (eps={FD_EPS:g}) along a random v of "
                  f"{', '.join(names)}")


@dataclass(frozen=True)
class Permutation(Relation):
    """Permuting the elements of an elementwise op's input (and of every array of its shape: a second
    operand, a keep-mask) permutes the output, and with the same permutation of dout, the gradients, bit
    for bit. float32 (the dtype NumPy vectorises most), every declared family, the variants whose other
    arrays have the input's shape or one element."""

    label: str = "permutation"
    doc: str = "elementwise: permuting the elements of the inputs permutes outputs and gradients alike"
    shape: tuple[int, ...] = (3, 4, 5)

    def applies(self, spec: OpSpec) -> bool:
        return spec.elementwise

    def check(self, ctx: Ctx, spec: OpSpec) -> None:
        dtype = "float32" if "float32" in spec.dtypes else spec.dtypes[0]
        perm = ctx.rng.permutation(int(np.prod(self.shape)))
        for var in spec.variants:
            for fam in spec.families:
                c = _ctx(ctx, Case(spec.name, var.label, dtype, self.shape, fam))
                inputs = c.case.sample(c.rng)
                if any(a.shape != self.shape and a.size > 1 for a in inputs.values()):
                    continue  # a broadcast operand does not follow a permutation of x's elements
                self._one(c, spec, inputs, perm)

    def _one(self, c: Ctx, spec: OpSpec, inputs: dict[str, np.ndarray], perm: np.ndarray) -> None:
        def permute(a: np.ndarray) -> np.ndarray:
            return a.reshape(-1)[perm].reshape(a.shape) if a.shape == self.shape else a

        want, douts = _results(c, inputs)
        got, _ = _results(c, {n: permute(a) for n, a in inputs.items()}, {k: permute(d) for k, d in douts.items()})
        permuted = {n for n, a in inputs.items() if a.shape == self.shape}
        for k in _float_results(want):
            if k in spec.outputs or k.removeprefix("d") in permuted:
                c.compare(f"permutation · {k}", got[k], permute(want[k]), c.case.dt, BITWISE, inputs,
                          oracle="the result on the unpermuted input, permuted the same way")


# -- declared relations ---------------------------------------------------------------------------------

def _class_axis(spec: OpSpec, var: Variant, ndim: int) -> int:
    """The axis of classes: the variant's (or entry's) axis, or 0 for one sample of shape (C,)."""
    axis = spec.hints(var).axis
    return axis % ndim if -ndim <= axis < ndim else 0


@dataclass(frozen=True)
class ShiftInvariance(Relation):
    """Adding a constant per row along the class axis to ``input`` changes no output and no gradient
    (softmax, log-softmax and every cross-entropy go through x - logsumexp(x)). float64, normal values,
    every variant's first non-empty shape; the constants are multiples of 1/8 in [-8, 8]."""

    label: str = "shift"
    doc: str = "invariant to adding a constant per row (along the class axis) to the logits"
    input: str = "x"

    def check(self, ctx: Ctx, spec: OpSpec) -> None:
        for var, shape in _first_shapes(spec, spec.variants):
            c = _ctx(ctx, Case(spec.name, var.label, _float64(spec), shape, _family(spec)))
            inputs = c.case.sample(c.rng)
            x = inputs[self.input]
            axis = _class_axis(spec, var, x.ndim)
            shift = np.round(8 * c.rng.uniform(-8, 8, x.shape[:axis] + (1,) + x.shape[axis + 1:])) / 8
            want, douts = _results(c, inputs)
            got, _ = _results(c, {**inputs, self.input: (x + shift).astype(x.dtype)}, douts)
            for k in _float_results(want):
                c.compare(f"shift · {k}", got[k], want[k], c.case.dt, ROUNDING, {**inputs, "shift": shift},
                          signed_zeros=False, oracle=f"the result without the shift ({self.input} + c, c constant "
                          f"along axis {axis})")


@dataclass(frozen=True)
class Batch(Relation):
    """Per-sample independence (``independent``): with every other sample of the batched arrays replaced
    (inputs, and douts of batched outputs), sample i's outputs and the gradients of its batched inputs do
    not change. Otherwise its absence (batch_norm in training): replacing the other samples must change
    sample i's output. ``axes`` maps each batched input, output and dout to its batch axis; one case:
    float64, normal values, ``variant`` (default the first) on ``shape`` (default the first with at least
    two samples)."""

    label: str = "batch_independence"
    doc: str = "the result for sample i does not depend on the other samples"
    axes: Mapping[str, int] = field(default_factory=dict)
    variant: str | None = None
    shape: tuple[int, ...] | None = None
    independent: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "axes", MappingProxyType(dict(self.axes)))

    def _case(self, spec: OpSpec) -> Case:
        var = _variants(spec, (self.variant,))[0] if self.variant is not None else spec.variants[0]
        lead = next(iter(self.axes.values()))
        shape = self.shape or _first_shapes(spec, (var,), lambda s: len(s) > lead and s[lead] >= 2)[0][1]
        return Case(spec.name, var.label, _float64(spec), shape, _family(spec))

    def check(self, ctx: Ctx, spec: OpSpec) -> None:
        c = _ctx(ctx, self._case(spec))
        inputs, other = c.case.sample(c.rng), c.case.sample(c.rng)
        batch = {inputs[n].shape[a] for n, a in self.axes.items() if n in inputs}
        i = int(c.rng.integers(min(batch)))

        def keep_i(mine: Mapping[str, np.ndarray], theirs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            """``theirs`` with sample i of each batched array taken from ``mine``; the rest ``mine``."""
            out = dict(mine)
            for n, a in self.axes.items():
                if n in mine:
                    b = np.array(theirs[n], copy=True)
                    sl = (slice(None),) * a + (i,)
                    b[sl] = mine[n][sl]
                    out[n] = b
            return out

        want, douts = _results(c, inputs)
        _, other_douts = _results(c, other)
        got, _ = _results(c, keep_i(inputs, other), keep_i(douts, other_douts))
        names = [k for k in _float_results(want) if k in self.axes or k.removeprefix("d") in self.axes]
        for k in names:
            axis = self.axes.get(k, self.axes.get(k.removeprefix("d")))
            sl = (slice(None),) * axis + (slice(i, i + 1),)
            if self.independent:
                c.compare(f"sample {i} · {k}", got[k][sl], want[k][sl], c.case.dt, ROUNDING, {},
                          signed_zeros=False, oracle=f"sample {i}'s result when the other samples differ")
            elif k in spec.outputs and np.allclose(got[k][sl], want[k][sl], ROUNDING.rtol, ROUNDING.atol):
                c.fail(f"sample {i} · {k}", "does not change when the other samples do: the batch statistics "
                       "must couple the samples", [f"  tolerance {ROUNDING}"])


GENERIC: tuple[Relation, ...] = (Linearity(), DotProduct(), Permutation())


def relations(spec: OpSpec) -> tuple[Relation, ...]:
    return tuple(r for r in GENERIC if r.applies(spec)) + tuple(spec.relations)


def relation_cases() -> list[tuple[str, str]]:
    """(op, relation label) for every generic relation that applies and every declared one."""
    return [(s.name, r.label) for s in ops().values() for r in relations(s)]


def check(ctx: Ctx, spec: OpSpec, label: str) -> None:
    """One relation of one op; skipped as not implemented when the implementation lacks the op."""
    ctx.impl.get(spec.forward_name)
    ctx.impl.get(spec.backward_name)
    next(r for r in relations(spec) if r.label == label).check(ctx, spec)



def per_sample(*names: str, axis: int = 0, **fields) -> Batch:
    """``Batch`` independence of the named inputs, outputs and douts along one ``axis``."""
    return Batch(axes=dict.fromkeys(names, axis), **fields)
