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
from typing import Any

import numpy as np
import torch

from harness.dtypes import ALL_DTYPES, DType, Tol
from harness.values import FAMILIES, Hints

Inputs = dict[str, np.ndarray]
Sampler = Callable[[np.random.Generator, DType, tuple[int, ...], str, "Variant", Hints], Inputs]


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
class OpSpec:
    name: str
    inputs: tuple[str, ...]  # forward's positional inputs, in order
    grads: tuple[str, ...]  # differentiable inputs; backward returns "d<name>" for each
    torch_fn: Callable[..., torch.Tensor]  # the spec: (*tensors in input order, **options) -> output
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
    # Multilinear op: evaluated on |inputs| (and |dout|) it gives the sum of |terms| of each output.
    # rtol is then applied to max(|expected|, sum |terms|), the scale of a sum's rounding error
    # (Higham), so cancellation in a long sum is not mistaken for a wrong result.
    magnitude: bool = False
    # torch's backward kernel applied to the implementation's own forward output:
    # (out, dout, **options) -> {input name: gradient}. Used in float16/bfloat16, where the saved
    # output carries one rounding and the backward amplifies it (e.g. exp(out) * sum(dout) in
    # log_softmax): a one-ULP difference between two correct forwards must not fail the backward.
    torch_backward_from_out: Callable[..., dict[str, torch.Tensor]] | None = None
    bad_inputs: tuple[BadInput, ...] = ()
    # Which (variant, shape) pairs are valid calls, e.g. an axis that the shape has; default all.
    applies: Callable[[Variant, tuple[int, ...]], bool] = lambda variant, shape: True
    doc: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"{self.name}: unknown value families {sorted(unknown)}")
        if not set(self.grads) <= set(self.inputs):
            raise ValueError(f"{self.name}: grads {self.grads} must be among inputs {self.inputs}")
        object.__setattr__(self, "tolerances", MappingProxyType(dict(self.tolerances)))

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
