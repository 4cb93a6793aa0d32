"""The two oracles: torch autograd on the same values, and float64 central differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from harness.dtypes import to_numpy, to_torch
from harness.registry import OpSpec, Variant, is_float


def _tensors(spec: OpSpec, inputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    wrt = spec.grads_of(inputs)
    return {n: to_torch(a, requires_grad=n in wrt) for n, a in inputs.items()}


def _outputs(spec: OpSpec, variant: Variant, t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The torch reference by output name; inputs positionally, other arrays and options by keyword."""
    return spec.named(spec.call(spec.torch_fn, t, variant))


def torch_forward(spec: OpSpec, variant: Variant, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {n: to_numpy(o) for n, o in _outputs(spec, variant, _tensors(spec, inputs)).items()}


def torch_grads(
    spec: OpSpec, variant: Variant, inputs: dict[str, np.ndarray], douts: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Gradients of ``sum_k <out_k, dout_k>`` over the outputs that take a dout, for every
    differentiable input, by name."""
    t = _tensors(spec, inputs)
    outs = _outputs(spec, variant, t)
    names = spec.grads_of(inputs)
    pairs = [(outs[k], to_torch(d)) for k, d in douts.items() if outs[k].requires_grad]
    if not pairs:  # e.g. an op in eval mode whose output is its input untouched
        return {n: np.zeros_like(inputs[n]) for n in names}
    grads = torch.autograd.grad(
        [o for o, _ in pairs], [t[n] for n in names], grad_outputs=[d for _, d in pairs], allow_unused=True
    )
    return {
        n: to_numpy(g) if g is not None else np.zeros_like(inputs[n])
        for n, g in zip(names, grads, strict=True)
    }


def as_float64(arrays: dict[str, np.ndarray], dtype: np.dtype) -> dict[str, np.ndarray]:
    """The same values in float64 (exact), for the float64 arbiter; non-float inputs untouched."""
    return {n: a.astype(np.float64) if a.dtype == dtype else a for n, a in arrays.items()}


def central_differences(
    loss: Callable[[dict[str, np.ndarray]], float],
    inputs: dict[str, np.ndarray],
    names: tuple[str, ...],
    eps: float = 1e-6,
) -> dict[str, np.ndarray]:
    """d loss / d input by central differences, one element at a time, in float64."""
    work = {n: np.array(a, copy=True) for n, a in inputs.items()}
    grads = {}
    for name in names:
        x, g = work[name], np.zeros(work[name].shape)
        for idx in np.ndindex(x.shape):
            orig = x[idx]
            x[idx] = orig + eps
            plus = loss(work)
            x[idx] = orig - eps
            minus = loss(work)
            x[idx] = orig
            g[idx] = (plus - minus) / (2 * eps)
        grads[name] = g
    return grads


def torch_grads_from_out(
    spec: OpSpec, variant: Variant, out: np.ndarray, dout: np.ndarray
) -> dict[str, np.ndarray]:
    """torch's backward kernel on a given forward output (the entry's ``torch_backward_from_out``)."""
    grads = spec.torch_backward_from_out(to_torch(out), to_torch(dout), **variant.options)
    return {n: to_numpy(g) for n, g in grads.items()}


def magnitudes(spec: OpSpec, variant: Variant, inputs: dict[str, np.ndarray], douts: dict | None):
    """For a multilinear op, sum |terms| of the output (``douts`` None) or of each gradient, in float64."""
    if callable(spec.magnitude):
        wide = {n: a.astype(np.float64) if is_float(a) else a for n, a in inputs.items()}
        with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 terms of an infinite dout: a NaN scale
            scales = spec.magnitude(wide, None if douts is None else douts[spec.outputs[0]].astype(np.float64))
        return scales.get("out") if douts is None else scales
    absolute = {n: np.abs(a.astype(np.float64)) if a.dtype.kind in "fV" else a for n, a in inputs.items()}
    if douts is None:
        return torch_forward(spec, variant, absolute)[spec.outputs[0]]
    return torch_grads(spec, variant, absolute, {k: np.abs(d.astype(np.float64)) for k, d in douts.items()})
