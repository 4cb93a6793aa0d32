"""The op registry: everything the generic tests need to know about an op, in one entry.

An entry names the op's NumPy forward/backward (looked up by name in the implementation under
test), its exact torch reference, how to sample its inputs, which dtypes, shapes, value families
and option variants to run, its kink points, and any tolerance override with its reason. Adding an
op is one ``register(OpSpec(...))`` call in a module under ``harness/ops``; no test module changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from harness.dtypes import ALL_DTYPES, DType, Tol
from harness.values import FAMILIES, Hints

if TYPE_CHECKING:
    from harness.metamorphic import Relation

Inputs = dict[str, np.ndarray]
Sampler = Callable[[np.random.Generator, DType, tuple[int, ...], str, "Variant", Hints], Inputs]
# (variant, float64 inputs, douts by output name or None) -> outputs, or gradients by input name, or None.
HighPrec = Callable[["Variant", Inputs, "dict[str, np.ndarray] | None"], "dict[str, np.ndarray] | None"]


@dataclass(frozen=True)
class Variant:
    """One setting of an op's options, e.g. ``Variant("axis=0", {"axis": 0})``. ``options`` go to both
    the forward and the torch reference; ``sampling`` only steers the sampler (e.g. target kind)."""

    label: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    sampling: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BadInput:
    """An invalid call and the error it must raise; the message must start with ``<op>:`` and match
    ``match``. ``build(rng)`` returns the forward's positional inputs and its options; with ``dout``,
    those are valid and the backward given ``dout(out)`` must raise."""

    label: str
    build: Callable[[np.random.Generator], tuple[tuple, dict]]
    error: type[Exception]
    match: str
    dout: Callable[[np.ndarray], np.ndarray] | None = None  # set: forward is valid, backward(dout) is not


@dataclass(frozen=True)
class Property:
    """An op-specific check that is not a comparison on one case (e.g. a statistical bound on a
    random mask). ``check(ctx)`` uses ``ctx.impl``, ``ctx.rng`` and ``ctx.fail``."""

    label: str
    check: Callable[[Any], None]
    doc: str = ""


@dataclass(frozen=True)
class Allowance:
    """How many ULPs of the dtype (at the scale ``harness.accuracy`` measures errors at) the implementation's
    error against a higher-precision oracle may exceed torch's, and why."""

    ulps: float
    reason: str

    def __str__(self) -> str:
        return f"{self.ulps:g} ULP ({self.reason})"


DEFAULT_ALLOWANCE = Allowance(
    2.0,
    "default: two correctly written computations of one formula may each round a few intermediates "
    "differently (another association of a sum, a division instead of a reciprocal multiply), which moves "
    "the result by about one ULP each way",
)


@dataclass(frozen=True)
class OpSpec:
    name: str
    # Forward's positional inputs, in order. Any other array the sampler returns (an optional
    # weight, a running buffer, a keep-mask) is passed by keyword, to the forward and to torch_fn.
    inputs: tuple[str, ...]
    # Differentiable inputs (positional or keyword); backward returns "d<name>" for each one that
    # the case's sample holds as a floating array.
    grads: tuple[str, ...]
    torch_fn: Callable[..., Any]  # the spec: (*inputs, **arrays, **options) -> output(s)
    sample: Sampler
    shapes: tuple[tuple[int, ...], ...]  # shapes of the first input
    families: tuple[str, ...]
    dtypes: tuple[str, ...] = ALL_DTYPES
    variants: tuple[Variant, ...] = (Variant(),)
    kinks: tuple[float, ...] = ()
    positive: bool = False  # differentiable only for x > 0 (finite differences sample there)
    class_axis: int = -1  # axis the logit families treat as classes, unless an "axis" option says
    fd_max_size: int = 64  # finite differences run on shapes with at most this many elements
    tolerances: Mapping[str, Tol] = field(default_factory=dict)  # per-dtype overrides, with reasons
    # The op sums over elements. Its last bits and the sign of a zero sum follow summation order,
    # which NumPy derives from memory layout and torch from its kernels: such ops are compared across
    # layouts within the dtype's tolerance instead of bitwise, and the sign of zero results is free.
    reduces: bool = False
    # The op sums terms: rtol is applied to max(|expected|, sum of |terms|), the scale of a sum's
    # rounding error (Higham), so cancellation in a long sum is not mistaken for a wrong result.
    # True for a multilinear op (evaluated on |inputs| and |dout| it gives those sums); otherwise a
    # function (inputs, dout) -> {input name: sum of |terms| of its gradient} (dout None: {"out": ...}).
    magnitude: bool | Callable[[Inputs, np.ndarray | None], dict[str, np.ndarray]] = False
    # torch's backward kernel applied to the implementation's own forward output:
    # (out, dout, **options) -> {input name: gradient}. Used in float16/bfloat16, where the saved
    # output carries one rounding and the backward amplifies it (e.g. exp(out) * sum(dout) in
    # log_softmax): a one-ULP difference between two correct forwards must not fail the backward.
    torch_backward_from_out: Callable[..., dict[str, torch.Tensor]] | None = None
    bad_inputs: tuple[BadInput, ...] = ()
    # Which (variant, shape) pairs are valid calls, e.g. an axis that the shape has; default all.
    applies: Callable[[Variant, tuple[int, ...]], bool] = lambda variant, shape: True
    # Names of the forward's results. With more than one, forward and torch_fn return a tuple in
    # this order (e.g. batch_norm's updated running statistics); only the first takes a dout.
    outputs: tuple[str, ...] = ("out",)
    # How many leading outputs take an upstream gradient (e.g. 3 for an LSTM's output, h_n, c_n).
    # With more than one, backward receives a tuple of douts in output order.
    grad_outputs: int = 1
    properties: tuple[Property, ...] = ()
    # A higher-precision oracle for float64 cases (issue 8's accuracy figures; harness.highprec has the tools):
    # (variant, float64 inputs, douts or None) -> outputs by name (forward) or gradients by input name (the
    # VJP of sum_k <out_k, dout_k>, as oracle.torch_grads), rounded to float64; None: no oracle for the case.
    highprec: HighPrec | None = None
    # The accuracy rule beside the tolerance (issue 8, harness.accuracy): against a higher-precision oracle,
    # the implementation's error may exceed torch's (same dtype) by at most this many ULPs of the dtype.
    allowance: Allowance = DEFAULT_ALLOWANCE
    # Results allowed to share memory with an input or dout, as torch's own results do (issue 7's
    # stateful pass fails any other sharing): {(result, source): reason}, e.g. {("dx", "dout"): ...}
    # where torch.autograd.grad returns the upstream gradient itself. The pass checks torch agrees.
    aliases: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # -- issue 8: fuzzing and metamorphic relations --
    # The sampler accepts any shape and the op maps each element on its own (same-shaped companion arrays
    # such as a keep-mask go along): fuzzed over arbitrary shapes, checked for permutation equivariance.
    elementwise: bool = False
    # harness.metamorphic relations this op satisfies (or, for batch dependence, must violate), beyond the
    # generic ones every op with gradients gets (backward linear in dout, the VJP dot-product test).
    relations: tuple[Relation, ...] = ()
    # Variants (by label; "*": all) left out of the extreme check's infinite dout, each with its reason: torch's
    # NaN/±inf pattern there follows its kernel's algebra or fusion, not the IEEE arithmetic of the formula.
    finite_dout: Mapping[str, str] = field(default_factory=dict)
    doc: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"{self.name}: unknown value families {sorted(unknown)}")
        object.__setattr__(self, "tolerances", MappingProxyType(dict(self.tolerances)))
        object.__setattr__(self, "aliases", MappingProxyType(dict(self.aliases)))

    @property
    def forward_name(self) -> str:
        return f"{self.name}_forward"

    @property
    def backward_name(self) -> str:
        return f"{self.name}_backward"

    def hints(self, variant: Variant) -> Hints:
        return Hints(self.kinks, int(variant.options.get("axis", self.class_axis)), self.positive)

    def tol(self, dtype: DType) -> Tol:
        return self.tolerances.get(dtype.name, dtype.default_tol)

    def call(self, fn: Callable, arrays: Mapping[str, Any], variant: Variant) -> Any:
        """``fn(*positional inputs, **other arrays, **options)``: how the forward and torch_fn are called."""
        keywords = {k: v for k, v in arrays.items() if k not in self.inputs}
        return fn(*(arrays[n] for n in self.inputs), **keywords, **variant.options)

    @property
    def dout_names(self) -> tuple[str, ...]:
        return self.outputs[: self.grad_outputs]

    def pack(self, douts: Mapping[str, Any]) -> Any:
        """The douts as backward takes them: one array, or a tuple in output order."""
        values = tuple(douts[n] for n in self.dout_names)
        return values[0] if self.grad_outputs == 1 else values

    def grads_of(self, arrays: Mapping[str, Any]) -> tuple[str, ...]:
        """The differentiable inputs present in this sample (an absent optional weight has none)."""
        return tuple(n for n in self.grads if n in arrays and is_float(arrays[n]))

    def named(self, result: Any) -> dict[str, Any]:
        """The forward's result(s) by output name."""
        if len(self.outputs) == 1:
            return {self.outputs[0]: result}
        if not isinstance(result, tuple) or len(result) != len(self.outputs):
            return {self.outputs[0]: result}  # the comparison reports the wrong type
        return dict(zip(self.outputs, result, strict=True))


def is_float(a: Any) -> bool:
    dtype = getattr(a, "dtype", None)
    return dtype is not None and (getattr(dtype, "is_floating_point", False) or str(dtype) in FLOAT_NAMES)


FLOAT_NAMES = {"float16", "bfloat16", "float32", "float64"}


REGISTRY: dict[str, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"op {spec.name!r} is registered twice")
    REGISTRY[spec.name] = spec
    return spec


def ops() -> dict[str, OpSpec]:
    """Every registered op, importing the entry modules on first use."""
    import harness.ops  # noqa: F401  (registers the entries)

    return REGISTRY


# -- samplers shared by entries ------------------------------------------------------------------

def same_shape_inputs(*names: str) -> Sampler:
    """Every input drawn from the case's value family with the case's shape."""

    def sample(rng, dtype, shape, fam, variant, hints):
        return {n: FAMILIES[fam](rng, shape, dtype, hints) for n in names}

    return sample
