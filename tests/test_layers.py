"""Stateful layers and the Sequential container (reference/layers.py).

One table of layers, two generic checks: each layer against its functional core (forward, dx and
every parameter gradient bit for bit: a layer adds no math of its own) and against the equivalent
``torch.nn`` module given the same parameters (one forward and backward in float64, random ``dout``,
buffers too). Then the container's bookkeeping (dotted names, live arrays), train/eval, zero_grad,
and ``.npz`` files: an exact round trip in every dtype, and a clear error with nothing loaded on a
missing, mis-shaped, wrong-dtype or unexpected array.

The layer classes come from the implementation under test (``--impl``; one without them is skipped),
and each is compared with the functional core it is built on (the ops of the module defining it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from harness import impl
from harness.context import Ctx, fmt
from harness.distributions import distribution_problems
from harness.dtypes import DTYPES, to_numpy
from torch import nn

F64 = DTYPES["float64"]
TORCH_TOL = F64.default_tol  # one forward/backward in float64: torch's own assert_close default


def layers() -> object:
    """The implementation's module, which must provide the layer classes (skipped if it does not)."""
    module = impl.current()
    module.get("Sequential")
    return module.module


def fn(layer: object, name: str) -> Callable:
    """The functional op a layer is built on: from the module that defines the layer's class (with
    --impl that is the implementation's own core when it defines its layers beside its ops, and
    reference's when it re-exports reference's layers), else from the implementation under test."""
    f = getattr(sys.modules[type(layer).__module__], name, None)
    return f if callable(f) else impl.current().get(name)


# -- torch twins -----------------------------------------------------------------------------------

def torch_name(layer: object, name: str) -> tuple[str, bool]:
    """A reference parameter's name in the equivalent torch module, and whether it is transposed there
    (the seed's Affine keeps W as (in, out), nn.Linear as (out, in))."""
    return {"W": "weight", "b": "bias"}.get(name, name), name == "W" and isinstance(layer, layers().Affine)


def twins(layer: object, module: nn.Module, prefix: str = ""):
    """(reference name, reference array, torch tensor, transposed) for every parameter and buffer, child by
    child through (nested) Sequentials, whose torch twins are ``nn.Sequential`` with the same names."""
    if isinstance(layer, layers().Sequential):
        for key, child in layer.layers.items():
            yield from twins(child, module.get_submodule(key), f"{prefix}{key}.")
        return
    for name, a in layer.state_dict().items():
        tname, transposed = torch_name(layer, name)
        yield prefix + name, a, getattr(module, tname), transposed


def copy_to_torch(layer: object, module: nn.Module) -> None:
    """Give ``module`` the layer's parameters and buffers."""
    with torch.no_grad():
        for _, a, target, transposed in twins(layer, module):
            target.copy_(torch.from_numpy((a.T if transposed else a).copy()))


def from_torch(layer: object, module: nn.Module) -> dict[str, np.ndarray]:
    """The torch module's parameters and buffers under the reference layer's (dotted) names."""
    return {name: to_numpy(t).T if transposed else to_numpy(t) for name, _, t, transposed in twins(layer, module)}


class SharedMaskDropout(nn.Module):
    """torch's inverted dropout ``x * (mask / (1 - p))`` with the reference layer's keep-mask."""

    def __init__(self, layer: object) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.layer.mask is None:
            return F.dropout(x, self.layer.p, self.training)  # identity (eval) or p = 0 / 1
        return x * (torch.from_numpy(self.layer.mask).to(x.dtype) / (1 - self.layer.p))


class FlatLinear(nn.Linear):
    """The seed's Affine in torch: ``F.linear(x.flatten(1), W.T, b)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(1))


class LSTMOutput(nn.LSTM):
    """``nn.LSTM`` returning its output sequence only, like the reference layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[0]


def sequence_loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), t.reshape(-1))


# -- the table of layers ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerCase:
    name: str
    build: Callable  # (layers module, rng) -> reference layer
    twin: Callable  # (reference layer) -> torch module
    x: Callable  # rng -> input
    core: Callable  # (layer, params and buffers before forward, x, dout) -> (out, grads, new buffers)
    target: Callable | None = None  # rng -> target, for losses (forward(x, t))
    mode: str = "train"
    prepare: Callable | None = None  # (layer, rng): e.g. non-default running statistics
    doc: str = ""


def pair(layer: object, op: str, x: np.ndarray, dout: np.ndarray, *args: object, **kw: object) -> tuple:
    out, cache = fn(layer, f"{op}_forward")(x, *args, **kw)
    return out, fn(layer, f"{op}_backward")(cache, dout), {}


def batch_norm_core(layer: object, s: dict, x: np.ndarray, dout: np.ndarray) -> tuple:
    (out, mean, var), cache = fn(layer, "batch_norm_forward")(
        x, s["weight"], s["bias"], s["running_mean"], s["running_var"], training=layer.training,
        momentum=layer.momentum, eps=layer.eps, num_batches_tracked=int(s["num_batches_tracked"]))
    tracked = s["num_batches_tracked"] + layer.training
    return out, fn(layer, "batch_norm_backward")(cache, dout), {"running_mean": mean, "running_var": var,
                                                         "num_batches_tracked": tracked}


def time_affine_core(layer: object, s: dict, x: np.ndarray, dout: np.ndarray) -> tuple:
    out, grads, _ = pair(layer, "affine", x.reshape(-1, x.shape[-1]), dout.reshape(-1, dout.shape[-1]), s["W"], s["b"])
    return out.reshape(dout.shape), {**grads, "dx": grads["dx"].reshape(x.shape)}, {}


def lstm_core(**options: object) -> Callable:
    def core(layer: object, s: dict, x: np.ndarray, dout: np.ndarray) -> tuple:
        (out, h_n, c_n), cache = fn(layer, "lstm_forward")(x, **s, **options)
        return out, fn(layer, "lstm_backward")(cache, (dout, np.zeros_like(h_n), np.zeros_like(c_n))), {}

    return core


def normal(*shape: int) -> Callable:
    return lambda rng: rng.standard_normal(shape)


def labels(n: int, classes: int, ignored: int | None = None) -> Callable:
    """Random class indices; with ``ignored``, every third one is that class (an ignore_index)."""

    def draw(rng: np.random.Generator) -> np.ndarray:
        t = rng.integers(0, classes, n)
        if ignored is not None:
            t.flat[::3] = ignored
        return t

    return draw


def sequence_loss_with(**options: object) -> Callable:
    return lambda out, t: F.cross_entropy(out.reshape(-1, out.shape[-1]), t.reshape(-1), **options)


def random_buffers(layer: object, rng: np.random.Generator) -> None:
    b = layer.buffers
    b["running_mean"][...] = rng.standard_normal(b["running_mean"].shape)
    b["running_var"][...] = rng.uniform(0.5, 2, b["running_var"].shape)
    b["num_batches_tracked"][...] = 7


LAYERS = [
    LayerCase("Affine", lambda L, rng: L.Affine(6, 4, rng), lambda m: FlatLinear(6, 4).double(), normal(5, 2, 3),
              lambda m, s, x, d: pair(m, "affine", x, d, s["W"], s["b"]), doc="(N, 2, 3) flattened to (N, 6)"),
    LayerCase("TimeAffine", lambda L, rng: L.TimeAffine(3, 4, rng), lambda m: nn.Linear(3, 4).double(),
              normal(2, 5, 3), time_affine_core),
    LayerCase("ReLU", lambda L, rng: L.ReLU(), lambda m: nn.ReLU(), normal(4, 5),
              lambda m, s, x, d: pair(m, "relu", x, d)),
    LayerCase("Sigmoid", lambda L, rng: L.Sigmoid(), lambda m: nn.Sigmoid(), normal(4, 5),
              lambda m, s, x, d: pair(m, "sigmoid", x, d)),
    LayerCase("Tanh", lambda L, rng: L.Tanh(), lambda m: nn.Tanh(), normal(4, 5),
              lambda m, s, x, d: pair(m, "tanh", x, d)),
    LayerCase("Dropout", lambda L, rng: L.Dropout(0.3, rng), SharedMaskDropout, normal(6, 7),
              lambda m, s, x, d: pair(m, "dropout", x, d, p=0.3, mask=m.mask), doc="torch given the layer's keep-mask"),
    LayerCase("Dropout-eval", lambda L, rng: L.Dropout(0.3, rng), SharedMaskDropout, normal(6, 7),
              lambda m, s, x, d: pair(m, "dropout", x, d, p=0.3, training=False), mode="eval"),
    LayerCase("Dropout-default", lambda L, rng: L.Dropout(rng=rng), SharedMaskDropout, normal(6, 7),
              lambda m, s, x, d: pair(m, "dropout", x, d, p=0.5, mask=m.mask), doc="torch's default p = 0.5"),
    LayerCase("Dropout-p0", lambda L, rng: L.Dropout(0.0), SharedMaskDropout, normal(6, 7),
              lambda m, s, x, d: pair(m, "dropout", x, d, p=0.0),
              doc="p = 0 in training: the identity, no keep-mask, so no Generator needed"),
    LayerCase("Dropout-p1", lambda L, rng: L.Dropout(1.0), SharedMaskDropout, normal(6, 7),
              lambda m, s, x, d: pair(m, "dropout", x, d, p=1.0),
              doc="p = 1 in training: zeros, no keep-mask, so no Generator needed"),
    LayerCase("Conv2d", lambda L, rng: L.Conv2d(2, 3, 3, rng, stride=2, padding=1, dilation=2),
              lambda m: nn.Conv2d(2, 3, 3, stride=2, padding=1, dilation=2).double(), normal(2, 2, 5, 5),
              lambda m, s, x, d: pair(m, "conv2d", x, d, s["W"], s["b"], stride=2, padding=1, dilation=2)),
    LayerCase("Conv2d-nobias", lambda L, rng: L.Conv2d(2, 4, (3, 2), rng, bias=False, groups=2),
              lambda m: nn.Conv2d(2, 4, (3, 2), bias=False, groups=2).double(), normal(2, 2, 4, 4),
              lambda m, s, x, d: pair(m, "conv2d", x, d, s["W"], groups=2)),
    LayerCase("BatchNorm2d", lambda L, rng: L.BatchNorm2d(3), lambda m: nn.BatchNorm2d(3).double(),
              normal(4, 3, 2, 2), batch_norm_core, prepare=random_buffers),
    LayerCase("BatchNorm2d-eval", lambda L, rng: L.BatchNorm2d(3), lambda m: nn.BatchNorm2d(3).double(),
              normal(4, 3, 2, 2), batch_norm_core, mode="eval", prepare=random_buffers),
    LayerCase("BatchNorm1d", lambda L, rng: L.BatchNorm1d(5, eps=1e-3, momentum=None), lambda m: nn.BatchNorm1d(
        5, eps=1e-3, momentum=None).double(), normal(6, 5), batch_norm_core, prepare=random_buffers,
              doc="eps=1e-3; momentum=None: the cumulative average over num_batches_tracked"),
    LayerCase("MaxPool2d", lambda L, rng: L.MaxPool2d(2), lambda m: nn.MaxPool2d(2), normal(2, 3, 4, 5),
              lambda m, s, x, d: pair(m, "max_pool2d", x, d, 2)),
    LayerCase("MaxPool2d-options", lambda L, rng: L.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
              lambda m: nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True), normal(2, 3, 6, 7),
              lambda m, s, x, d: pair(m, "max_pool2d", x, d, 3, stride=2, padding=1, dilation=2, ceil_mode=True),
              doc="every option away from its default; ceil_mode adds a last row and column"),
    LayerCase("Flatten", lambda L, rng: L.Flatten(), lambda m: nn.Flatten(), normal(2, 3, 4),
              lambda m, s, x, d: pair(m, "flatten", x, d, start_dim=1)),
    LayerCase("Flatten-end", lambda L, rng: L.Flatten(end_dim=2), lambda m: nn.Flatten(end_dim=2), normal(2, 3, 4, 5),
              lambda m, s, x, d: pair(m, "flatten", x, d, start_dim=1, end_dim=2)),
    LayerCase("Embedding", lambda L, rng: L.Embedding(7, 3, rng, padding_idx=0),
              lambda m: nn.Embedding(7, 3, padding_idx=0).double(), lambda rng: rng.integers(0, 7, (4, 5)),
              lambda m, s, x, d: pair(m, "embedding", x, d, s["W"], padding_idx=0),
              doc="repeated indices, a padding row"),
    LayerCase("LSTM", lambda L, rng: L.LSTM(3, 4, rng, batch_first=True),
              lambda m: LSTMOutput(3, 4, batch_first=True).double(), normal(2, 5, 3), lstm_core(batch_first=True)),
    LayerCase("LSTM-stacked", lambda L, rng: L.LSTM(3, 4, rng, num_layers=2, bias=False, bidirectional=True),
              lambda m: LSTMOutput(3, 4, num_layers=2, bias=False, bidirectional=True).double(), normal(5, 2, 3),
              lstm_core(num_layers=2, bias=False, bidirectional=True),
              doc="(T, N, D) input (batch_first=False, the default), two layers, both directions, no biases"),
    LayerCase("SoftmaxWithLoss", lambda L, rng: L.SoftmaxWithLoss(), lambda m: nn.CrossEntropyLoss(),
              normal(5, 4), lambda m, s, x, d, t: pair(m, "softmax_with_loss", x, d, t), target=labels(5, 4)),
    LayerCase("CrossEntropyLoss", lambda L, rng: L.CrossEntropyLoss(label_smoothing=0.1),
              lambda m: nn.CrossEntropyLoss(label_smoothing=0.1), normal(5, 4),
              lambda m, s, x, d, t: pair(m, "cross_entropy", x, d, t, label_smoothing=0.1), target=labels(5, 4)),
    LayerCase("CrossEntropyLoss-ignore", lambda L, rng: L.CrossEntropyLoss(ignore_index=2, reduction="sum"),
              lambda m: nn.CrossEntropyLoss(ignore_index=2, reduction="sum"), normal(6, 4),
              lambda m, s, x, d, t: pair(m, "cross_entropy", x, d, t, ignore_index=2, reduction="sum"),
              target=labels(6, 4, ignored=2)),
    LayerCase("SequenceCrossEntropyLoss", lambda L, rng: L.SequenceCrossEntropyLoss(), lambda m: sequence_loss,
              normal(2, 3, 5), lambda m, s, x, d, t: pair(m, "sequence_cross_entropy", x, d, t),
              target=lambda rng: rng.integers(0, 5, (2, 3))),
    LayerCase("SequenceCrossEntropyLoss-ignore",
              lambda L, rng: L.SequenceCrossEntropyLoss(ignore_index=1, reduction="sum"),
              lambda m: sequence_loss_with(ignore_index=1, reduction="sum"), normal(2, 3, 5),
              lambda m, s, x, d, t: pair(m, "sequence_cross_entropy", x, d, t, ignore_index=1, reduction="sum"),
              target=lambda rng: labels(6, 5, ignored=1)(rng).reshape(2, 3)),
]
BY_NAME = {c.name: c for c in LAYERS}


class LayerCtx(Ctx):
    """A Ctx whose failure messages also describe the layer case."""

    about: list[str] = ()

    def describe(self) -> list[str]:
        return [*self.about, f"  impl      {self.impl.describe()}", *super().describe()]


def layer_ctx(ctx: Ctx, about: list[str]) -> LayerCtx:
    out = LayerCtx(ctx.impl, ctx.check, ctx.nodeid, ctx.case, ctx.rng, ctx.properties, ctx.op_name)
    out.about = about
    return out


@dataclass
class Run:
    """One layer built, prepared and run forward and backward on sampled data."""

    layer: object
    x: np.ndarray
    t: np.ndarray | None
    dout: np.ndarray
    before: dict[str, np.ndarray]  # parameters and buffers before the forward
    out: np.ndarray
    dx: np.ndarray | None
    grads: dict[str, np.ndarray] = field(default_factory=dict)


def setup(case: LayerCase, rng: np.random.Generator) -> object:
    layer = case.build(layers(), rng)
    if case.prepare:
        case.prepare(layer, rng)
    return layer.train(case.mode == "train")


def run(case: LayerCase, layer: object, rng: np.random.Generator) -> Run:
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    x = case.x(rng)
    t = case.target(rng) if case.target else None
    out = layer.forward(x) if t is None else layer.forward(x, t)
    dout = rng.standard_normal(np.shape(out))
    dx = layer.backward(dout)
    return Run(layer, x, t, dout, before, out, dx, {k: v.copy() for k, v in layer.grads.items()})


def about(case: LayerCase, r: Run) -> list[str]:
    lines = [f"  layer     {r.layer!r} in {case.mode} mode · x {r.x.shape} {r.x.dtype}"]
    return lines + ([f"  note      {case.doc}"] if case.doc else [])


def same_bits(ctx: Ctx, what: str, got: object, expected: np.ndarray) -> None:
    expected = np.asarray(expected)
    got = ctx.same_meta(what, got, expected)
    u = np.dtype(f"u{got.dtype.itemsize}")
    bad = np.flatnonzero(got.ravel().view(u) != expected.ravel().view(u))
    if bad.size:
        i = bad[0]
        ctx.fail(what, "differs from the functional core (a layer must only call it)", [
            f"  mismatch  {bad.size} of {got.size} elements; first at flat index {i}: "
            f"got {fmt(got.ravel()[i])}, the core gives {fmt(expected.ravel()[i])}"])


@pytest.mark.parametrize("op", list(BY_NAME))
def test_layer_matches_core(ctx, op):
    case = BY_NAME[op]
    r = run(case, setup(case, ctx.rng), ctx.rng)
    ctx = layer_ctx(ctx, about(case, r))
    args = (r.layer, r.before, r.x, r.dout) + ((r.t,) if case.target else ())
    out, grads, buffers = case.core(*args)
    same_bits(ctx, "forward", r.out, out)
    if "dx" in grads:
        same_bits(ctx, "dx", r.dx, grads["dx"])
    elif r.dx is not None:
        ctx.fail("dx", f"the core gives no dx for an integer input, the layer returned {type(r.dx).__name__}")
    if set(r.grads) != {k[1:] for k in grads if k != "dx"}:
        ctx.fail("grads", f"layer has gradients {sorted(r.grads)}, the core gives {sorted(grads)}")
    for name, g in r.grads.items():
        same_bits(ctx, f"grads[{name!r}]", g, grads[f"d{name}"])
    for name, b in buffers.items():
        same_bits(ctx, f"buffers[{name!r}]", r.layer.buffers[name], b)


@pytest.mark.parametrize("op", list(BY_NAME))
def test_layer_matches_torch(ctx, op):
    case = BY_NAME[op]
    layer = setup(case, ctx.rng)
    module = case.twin(layer)
    if isinstance(module, nn.Module):
        copy_to_torch(layer, module.train(case.mode == "train"))
    r = run(case, layer, ctx.rng)
    ctx = layer_ctx(ctx, about(case, r))
    x = torch.from_numpy(r.x)
    if x.is_floating_point():
        x.requires_grad_(True)
    out = module(x) if r.t is None else module(x, torch.from_numpy(r.t))
    out.backward(torch.from_numpy(r.dout))
    inputs = {"x": r.x}
    ctx.compare("forward", r.out, to_numpy(out.detach()), F64, TORCH_TOL, inputs)
    if x.requires_grad:
        ctx.compare("dx", r.dx, to_numpy(x.grad), F64, TORCH_TOL, inputs)
    for name, g in r.grads.items():
        tname, transposed = torch_name(r.layer, name)
        expected = to_numpy(getattr(module, tname).grad)
        ctx.compare(f"grads[{name!r}]", g, expected.T if transposed else expected, F64, TORCH_TOL, {})
    for name, b in r.layer.buffers.items():
        expected = to_numpy(getattr(module, name))
        if b.dtype.kind == "i":
            if b != expected:
                ctx.fail(f"buffers[{name!r}]", f"is {b}, torch's is {expected}")
        else:
            ctx.compare(f"buffers[{name!r}]", b, expected, F64, TORCH_TOL, {})


@pytest.mark.parametrize("op", [c.name for c in LAYERS if c.target])
def test_loss_default_dout(ctx, op):
    """A loss layer's ``backward()`` without ``dout`` starts from 1 in the loss's dtype (float32 here)."""
    case = BY_NAME[op]
    layer = setup(case, ctx.rng)
    x, t = case.x(ctx.rng).astype(np.float32), case.target(ctx.rng)
    out = layer.forward(x, t)
    dx = layer.backward()
    _, grads, _ = case.core(layer, {}, x, np.ones(np.shape(out), np.float32), t)
    same_bits(layer_ctx(ctx, [f"  layer     {layer!r} · x {x.shape} float32"]), "backward()", dx, grads["dx"])


# -- initialisation --------------------------------------------------------------------------------

@dataclass(frozen=True)
class InitCase:
    name: str
    build: Callable  # (layers module, rng) -> reference layer in float32
    twin: Callable  # () -> the torch module with its default initialisation, in float32
    scale: Callable  # torch module -> {reference parameter name: ("uniform", bound) or ("normal", std)}
    zero: tuple[str, int] | None = None  # (parameter, row) that torch initialises to zero
    unset: tuple[str, ...] = ()  # results of a forward a fresh layer holds as None (none has run yet)


def kaiming_bound(w: torch.Tensor) -> float:
    """nn.Linear's and nn.Conv2d's bound for weight and bias: kaiming_uniform_ with a = sqrt(5) gives
    1 / sqrt(fan_in), and the bias is drawn with the same bound."""
    return 1 / np.sqrt(torch.nn.init._calculate_fan_in_and_fan_out(w)[0])


def linear_scales(m: nn.Module) -> dict:
    return {"W": ("uniform", kaiming_bound(m.weight)), "b": ("uniform", kaiming_bound(m.weight))}


INIT = [
    InitCase("Affine", lambda L, rng: L.Affine(300, 40, rng, dtype=np.float32), lambda: nn.Linear(300, 40),
             linear_scales),
    InitCase("TimeAffine", lambda L, rng: L.TimeAffine(30, 200, rng, dtype=np.float32), lambda: nn.Linear(30, 200),
             linear_scales),
    InitCase("Conv2d", lambda L, rng: L.Conv2d(6, 40, 3, rng, groups=2, dtype=np.float32),
             lambda: nn.Conv2d(6, 40, 3, groups=2), linear_scales),
    InitCase("LSTM", lambda L, rng: L.LSTM(5, 20, rng, num_layers=2, bidirectional=True, dtype=np.float32),
             lambda: nn.LSTM(5, 20, num_layers=2, bidirectional=True),
             lambda m: {name: ("uniform", 1 / np.sqrt(m.hidden_size)) for name, _ in m.named_parameters()},
             unset=("h_n", "c_n")),
    InitCase("Embedding", lambda L, rng: L.Embedding(300, 40, rng, padding_idx=3, dtype=np.float32),
             lambda: nn.Embedding(300, 40, padding_idx=3), lambda m: {"W": ("normal", 1.0)}, zero=("W", 3)),
]


@pytest.mark.parametrize("op", [c.name for c in INIT])
def test_layer_init(ctx, op):
    """A layer's parameters follow torch's default initialisation for its module (the same bounds and
    moments, checked on torch's own draws too), in the dtype asked for, with torch's shapes; the results
    of a forward it keeps (the LSTM's h_n, c_n) are None until one runs."""
    case = {c.name: c for c in INIT}[op]
    layer = case.build(layers(), ctx.rng)
    torch.manual_seed(int(ctx.rng.integers(2**31)))
    module = case.twin()
    scales = case.scale(module)
    for name, a in layer.params.items():
        tname, transposed = torch_name(layer, name)
        t = to_numpy(getattr(module, tname).detach())
        t = t.T if transposed else t
        expect(ctx, f"params[{name!r}]", a.dtype == np.float32 and a.shape == t.shape,
               f"is {a.dtype} {a.shape}, expected float32 {t.shape} (torch's {tname})")
        if name not in scales:
            ctx.fail(f"params[{name!r}]", f"torch's module has no parameter {tname}")
        kind, scale = scales[name]
        drawn, torch_drawn = a, t
        if case.zero and case.zero[0] == name:
            row = case.zero[1]
            expect(ctx, f"params[{name!r}][{row}]", not a[row].any(), f"is {a[row][:4]}..., torch's padding row is 0")
            drawn, torch_drawn = np.delete(a, row, 0), np.delete(t, row, 0)
        for who, values in (("torch's", torch_drawn), ("the layer's", drawn)):
            # the largest |value| above (1 - q) bound with q = 1 - 1e-9^(1/N): a false alarm of 1e-9
            problems = distribution_problems(values, kind == "uniform", scale, top=1 - 1e-9 ** (1 / values.size))
            if problems:
                ctx.fail(f"params[{name!r}]", f"{who} draws do not follow {kind} with scale {scale:.6g}",
                         [f"  {p}" for p in problems])
    if set(scales) != set(layer.params):
        ctx.fail("params", f"are {sorted(layer.params)}, torch's module has {sorted(scales)}")
    for name in case.unset:
        value = getattr(layer, name, "missing")
        expect(ctx, name, value is None, f"is {value!r} before the first forward, expected None")


# -- the container ---------------------------------------------------------------------------------

def small_net(L: object, rng: np.random.Generator, dtype: object = np.float64) -> object:
    """Conv2d → BatchNorm2d → ReLU → MaxPool2d → Flatten → Dropout → a nested (Affine → Sigmoid)."""
    return L.Sequential(
        L.Conv2d(1, 2, 3, rng, padding=1, dtype=dtype), L.BatchNorm2d(2, dtype=dtype), L.ReLU(), L.MaxPool2d(2),
        L.Flatten(), L.Dropout(0.25, rng), L.Sequential(L.Affine(8, 3, rng, dtype=dtype), L.Sigmoid()),
    )


NAMES = ["0.W", "0.b", "1.weight", "1.bias", "6.0.W", "6.0.b"]
BUFFERS = ["1.running_mean", "1.running_var", "1.num_batches_tracked"]


def expect(ctx: Ctx, what: str, ok: bool, problem: str) -> None:
    if not ok:
        ctx.fail(what, problem)


CONTAINER = ["names", "live-arrays", "named-children", "bad-children", "train-eval", "zero-grad", "repr"]
REPR = """Sequential(
  (0): Conv2d(W=(2, 1, 3, 3), b=(2,))
  (1): BatchNorm2d(weight=(2,), bias=(2,))
  (2): ReLU()
  (3): MaxPool2d()
  (4): Flatten()
  (5): Dropout()
  (6): Sequential(
    (0): Affine(W=(8, 3), b=(3,))
    (1): Sigmoid()
  )
)"""


@pytest.mark.parametrize("op", CONTAINER)
def test_sequential(ctx, op):
    L = layers()
    net = small_net(L, ctx.rng)
    x = ctx.rng.standard_normal((4, 1, 4, 4))
    if op == "names":
        for kind, want in (("params", NAMES), ("grads", NAMES), ("buffers", BUFFERS)):
            got = list(getattr(net, kind)())
            expect(ctx, f"{kind}()", got == want, f"names {got}, expected {want} (layer order, dotted)")
        expect(ctx, "state_dict()", list(net.state_dict()) == NAMES + BUFFERS, f"names {list(net.state_dict())}")
        expect(ctx, "indexing", net[0] is net["0"] and net[6][0] is net["6"]["0"] and len(net) == 7,
               "net[0], net['0'] and len(net) disagree")
    elif op == "live-arrays":  # an optimizer updating params() in place updates the layers
        params, grads = net.params(), net.grads()
        expect(ctx, "params()", params["6.0.W"] is net[6][0].params["W"], "params() holds copies, not the arrays")
        expect(ctx, "grads()", grads["0.W"] is net[0].grads["W"], "grads() holds copies, not the arrays")
        net.forward(x)
        net.backward(ctx.rng.standard_normal((4, 3)))
        expect(ctx, "grads()", not np.all(grads["0.W"] == 0), "a grads() dict taken before backward saw no gradient")
    elif op == "named-children":
        named = L.Sequential({"fc": L.Affine(3, 2, ctx.rng), "act": L.ReLU()})
        got = list(named.params())
        expect(ctx, "params()", got == ["fc.W", "fc.b"], f"names {got}, expected ['fc.W', 'fc.b']")
        expect(ctx, "indexing", named["fc"] is named[0], "named['fc'] is not named[0]")
    elif op == "bad-children":
        relu = L.ReLU()
        for bad, error, match in (((relu, relu), ValueError, "^Sequential: a layer appears twice"),
                                  (({"a.b": relu},), ValueError, "^Sequential: .*without '.'"),
                                  (({"": relu},), ValueError, "^Sequential: a layer name must be a non-empty"),
                                  ((np.zeros(3),), TypeError, "^Sequential: layer '0' is a ndarray, not a Layer")):
            with pytest.raises(error, match=match):
                L.Sequential(*bad)
    elif op == "train-eval":
        check_modes(ctx, L, net, x)
    elif op == "zero-grad":
        check_zero_grad(ctx, net, x)
    elif op == "repr":  # torch's layout: one child per line, "(name): ", a nested container indented
        expect(ctx, "repr", repr(net) == REPR, f"is\n{net!r}\nexpected\n{REPR}")


def check_modes(ctx: Ctx, L: object, net: object, x: np.ndarray) -> None:
    everything = [net, *net, *net[6]]
    expect(ctx, "a new network", all(m.training is True for m in everything), "does not start in training mode")
    net.eval()
    expect(ctx, "eval()", not any(m.training for m in everything), "a layer (or the nested Sequential) still trains")
    before = {k: v.copy() for k, v in net.buffers().items()}
    drop = net[5]
    probe = ctx.rng.standard_normal((4, 8))
    expect(ctx, "Dropout in eval", np.array_equal(drop.forward(probe), probe) and drop.mask is None,
           "is not the identity")
    net.forward(x)
    for k, v in net.buffers().items():
        expect(ctx, f"buffers()[{k!r}] in eval", v.tobytes() == before[k].tobytes(), "changed in eval mode")
    net.train()
    expect(ctx, "train()", all(m.training for m in everything), "a layer (or the nested Sequential) is still in eval")
    net.forward(x)
    expect(ctx, "num_batches_tracked", int(net.buffers()["1.num_batches_tracked"]) == 1, "not counted in training")
    expect(ctx, "Dropout in train", drop.mask is not None and not drop.mask.all(), "dropped nothing at p = 0.25")
    expect(ctx, "train() of one layer", drop.eval().train().training is True, "without an argument did not train")


def check_zero_grad(ctx: Ctx, net: object, x: np.ndarray) -> None:
    grads = net.grads()
    dout = ctx.rng.standard_normal((4, 3))
    net.eval()  # the same function twice: no dropout, no batch statistics
    net.forward(x)
    net.backward(dout)
    once = {k: v.copy() for k, v in grads.items()}
    net.forward(x)
    net.backward(dout)
    for k, g in net.grads().items():
        expect(ctx, f"grads()[{k!r}]", np.array_equal(g, 2 * once[k]), "backward twice does not accumulate 2 x")
    net.zero_grad()
    for k, g in net.grads().items():
        expect(ctx, f"grads()[{k!r}]", g is grads[k] and not g.any(), "zero_grad did not zero the array in place")


# -- .npz files ------------------------------------------------------------------------------------

def random_bits(rng: np.random.Generator, a: np.ndarray) -> np.ndarray:
    """Every bit pattern of the dtype is fair: NaN payloads, -0.0, subnormals, ±inf."""
    u = np.dtype(f"u{a.dtype.itemsize}")
    return rng.integers(0, np.iinfo(u).max, a.shape, dtype=u, endpoint=True).view(a.dtype)


NPZ_DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}


@pytest.mark.parametrize("op", list(NPZ_DTYPES))
def test_npz_round_trip(ctx, op, tmp_path):
    L = layers()
    net = small_net(L, ctx.rng, NPZ_DTYPES[op])
    for a in net.state_dict().values():
        a[...] = random_bits(ctx.rng, a) if a.dtype.kind != "i" else ctx.rng.integers(0, 2**62)
    net.save(tmp_path / "net")  # NumPy adds .npz
    with np.load(tmp_path / "net.npz") as f:
        expect(ctx, "file", sorted(f.files) == sorted(net.state_dict()), f"holds {sorted(f.files)}")
    fresh = small_net(L, np.random.default_rng(1), NPZ_DTYPES[op])
    fresh.load(tmp_path / "net.npz")
    for k, a in net.state_dict().items():
        b = fresh.state_dict()[k]
        expect(ctx, k, b.dtype == a.dtype and b.tobytes() == a.tobytes(),
               f"{b.dtype} {b.ravel()[:4]} after the round trip, saved {a.dtype} {a.ravel()[:4]}")


@dataclass(frozen=True)
class BadFile:
    name: str
    edit: Callable  # the saved state dict -> the one written to the file
    match: str


BAD_FILES = [
    BadFile("missing", lambda s: {k: v for k, v in s.items() if k != "6.0.b"}, "missing 6.0.b"),
    BadFile("mis-shaped", lambda s: {**s, "6.0.b": np.zeros(4)}, r"6\.0\.b has shape \(4,\), expected \(3,\)"),
    BadFile("transposed", lambda s: {**s, "6.0.W": s["6.0.W"].T}, r"6\.0\.W has shape \(3, 8\), expected \(8, 3\)"),
    BadFile("wrong-dtype", lambda s: {**s, "1.running_var": s["1.running_var"].astype(np.float32)},
            "1.running_var has dtype float32, expected float64"),
    BadFile("unexpected", lambda s: {**s, "7.W": np.zeros(2)}, "unexpected 7.W"),
    BadFile("several", lambda s: {**{k: v for k, v in s.items() if k != "0.W"}, "6.0.b": np.zeros(())},
            r"missing 0\.W; 6\.0\.b has shape \(\), expected \(3,\)"),
]


@pytest.mark.parametrize("op", [b.name for b in BAD_FILES])
def test_npz_bad_file(ctx, op, tmp_path):
    """The bad array comes after others in load order: a loader that copied as it checked would
    already have changed them."""
    bad = {b.name: b for b in BAD_FILES}[op]
    L = layers()
    other = small_net(L, np.random.default_rng(2))
    np.savez(tmp_path / "bad.npz", **bad.edit({k: v.copy() for k, v in other.state_dict().items()}))
    net = small_net(L, ctx.rng)
    before = {k: v.tobytes() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=bad.match) as info:
        net.load(tmp_path / "bad.npz")
    expect(ctx, "message", str(info.value).startswith("load_state_dict: nothing was loaded"),
           f"unclear message {info.value}")
    for k, a in net.state_dict().items():
        expect(ctx, k, a.tobytes() == before[k], f"changed by a load that failed ({info.value})")


UNPICKLED = []


def _unpickled() -> int:
    UNPICKLED.append(True)
    return 0


class Payload:
    """An object whose unpickling calls ``_unpickled``: what arbitrary code in a hostile file would do."""

    def __reduce__(self) -> tuple:
        return _unpickled, ()


@pytest.mark.parametrize("op", ["object-array"])
def test_npz_pickle_refused(ctx, op, tmp_path):
    """A file holding a pickled object array is refused without unpickling it (``np.load`` with
    ``allow_pickle=False``: loading a file must not run code from it), and nothing is loaded."""
    L = layers()
    state = {k: v.copy() for k, v in small_net(L, np.random.default_rng(2)).state_dict().items()}
    np.savez(tmp_path / "pickled.npz", **{**state, "6.0.b": np.array([Payload()] * 3, dtype=object)})
    net = small_net(L, ctx.rng)
    before = {k: v.tobytes() for k, v in net.state_dict().items()}
    UNPICKLED.clear()
    with pytest.raises(ValueError, match="allow_pickle"):
        net.load(tmp_path / "pickled.npz")
    expect(ctx, "load", not UNPICKLED, "unpickled an object from the file")
    for k, a in net.state_dict().items():
        expect(ctx, k, a.tobytes() == before[k], "changed by a load that failed")


# -- misuse ----------------------------------------------------------------------------------------

MISUSE = {
    "backward-before-forward": (lambda L, rng: L.Affine(2, 3, rng).backward(np.zeros((1, 3))), RuntimeError,
                                r"^Affine\.backward: call forward first"),
    "dropout-p-out-of-range": (lambda L, rng: L.Dropout(1.5, rng), ValueError, r"^Dropout: .*between 0 and 1"),
    "dropout-without-rng": (lambda L, rng: L.Dropout(0.5).forward(np.zeros(3)), ValueError,
                            r"^Dropout: .*needs a Generator: Dropout\(p, rng=np\.random\.default_rng\(seed\)\)$"),
    "batchnorm2d-on-2d": (lambda L, rng: L.BatchNorm2d(3).forward(np.zeros((4, 3))), ValueError,
                          r"^BatchNorm2d: expected 4-D input, got shape \(4, 3\)"),
    "batchnorm1d-on-4d": (lambda L, rng: L.BatchNorm1d(3).forward(np.zeros((2, 3, 4, 5))), ValueError,
                          r"^BatchNorm1d: expected 2-D or 3-D input, got shape \(2, 3, 4, 5\)"),
    "batchnorm-backward-before-forward": (lambda L, rng: L.BatchNorm2d(3).backward(np.zeros((1, 3, 2, 2))),
                                          RuntimeError, r"^BatchNorm2d\.backward: call forward first"),
    "affine-wrong-width": (lambda L, rng: L.Affine(4, 3, rng).forward(np.zeros((2, 5))), ValueError, r"^affine: "),
    "unknown-kind": (lambda L, rng: small_net(L, rng).named("weights"), ValueError, r"^named: kind must be one of"),
}


@pytest.mark.parametrize("op", list(MISUSE))
def test_layer_misuse(ctx, op):
    call, error, match = MISUSE[op]
    with pytest.raises(error, match=match):
        call(layers(), ctx.rng)
