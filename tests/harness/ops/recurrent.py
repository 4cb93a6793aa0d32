"""Registry entries for the recurrent layers (issue 5): rnn_cell, lstm_cell, gru_cell and the multi-step
rnn, lstm, gru, each against the real torch module (``nn.RNN``, ``nn.LSTMCell``, ...) run by
``functional_call`` on the sampled parameters, so that autograd reaches every one of them.

Sizes: hidden H = 5 (an lstm projection of 3), input I = 2 to 4, so a swapped or sign-flipped gate block
changes the result. Sequences of 1, 3, 7 and 50 steps (50: backward through time compounds any error),
one empty batch (gru). The small (3, 2, 2) shape ((2, 3, 2) batch first) is each variant's float64
central-difference case. Every option appears in some variant rather than in the full cross product.

Values: weights and biases at torch's init scale U(-1/sqrt(H), 1/sqrt(H)), drawn here; h0/c0 standard
normal; x from the case's family:
- ``normal`` / ``smooth``: standard normal x;
- ``wide``: x integers in [-1000, 1000] whose first-layer input parts ``|x W_ih^T + b_ih|`` are all at
  least 25 (rows redrawn until so, see ``_saturate``); with |h| <= 1 (h0 uniform in [-1, 1] here) the
  hidden part is at most ~3.5, so every first-layer gate is saturated (σ = 0 or 1 and tanh = ±1 in
  float32). The weights are multiples of 2^-8 of magnitude in [k/4, k] (k = 1/sqrt(H)): the input part
  is then exact in every dtype. Without this, the few pre-activations that land in the partly saturated
  range carry float32 cancellation errors of terms of ~500 into ``1 - tanh^2``, and the weight gradients
  multiply them by x ~ 1000: torch's own float32 result is then off by ~1e-4 from float64, and so is any
  correct float32 implementation. A second layer reads O(1) values, as in ``normal``.
  relu does not saturate: its pre-activations and gradients stay large through time, and the weight
  gradients sum ~100 such terms. With integers in [-1000, 1000] every long relu case fails float32 on
  that cancellation, in torch as much as here; so for the relu variants ``wide`` is integers in [-4, 4]
  (measured over 30 seeds of the 50-step case: torch's float32 gradients within 0.56 of the tolerance of
  float64, the reference within 0.74 of it of torch's; with [-10, 10] already 1.07);
- ``zeros``: x, h0, c0 all ±0, the output driven by the biases alone (with bias=False, exactly 0
  pre-activations: the relu kink, relu'(0) = 0, and an lstm with all gates 0.5).
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import torch
import torch.nn as nn
from torch.func import functional_call

from harness.badinputs import _split, _valid, changing
from harness.dtypes import DTYPES
from harness.metamorphic import per_sample
from harness.registry import REGISTRY, Allowance, BadInput, OpSpec, Property, Variant, register
from harness.values import FAMILIES, cast

HIDDEN = 5
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
NET_FAMILIES = ("normal", "wide", "zeros")
MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CELL_MODULES = {"rnn_cell": nn.RNNCell, "lstm_cell": nn.LSTMCell, "gru_cell": nn.GRUCell}


def _param_names(layers: int = 2, dirs: int = 2) -> tuple[str, ...]:
    return tuple(
        f"{w}_l{k}{'_reverse' if d else ''}"
        for k in range(layers)
        for d in range(dirs)
        for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    )


# -- sampling ---------------------------------------------------------------------------------------

SATURATE = 25.0  # |x W_ih^T + b_ih| in the wide family: with |h W_hh^T + b_hh| <= 3.5 every gate saturates
RELU_WIDE = 4  # relu does not saturate: its wide family is integers in [-4, 4], see the module doc


def _x(rng, dtype, shape, fam, hints, bound=1000) -> np.ndarray:
    if fam == "wide":
        return cast(rng.integers(-bound, bound + 1, size=shape), dtype)
    if fam == "zeros":
        return FAMILIES["zeros"](rng, shape, dtype, hints)
    return cast(rng.standard_normal(shape), dtype)  # normal, smooth


def _param(rng, dtype, shape, fam) -> np.ndarray:
    """torch's init U(-1/sqrt(H), 1/sqrt(H)). In ``wide``: multiples of 2^-8 (exact products with integers)
    of magnitude at least 1/(4 sqrt(H)), so that no row of W_ih is too small to saturate its gate."""
    k = 1 / math.sqrt(HIDDEN)
    if fam != "wide":
        return cast(rng.uniform(-k, k, shape), dtype)
    w = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(k / 4, k, shape)
    return cast(np.round(w * 256) / 256, dtype)


def _state(rng, dtype, shape, fam, hints) -> np.ndarray:
    if fam == "zeros":
        return FAMILIES["zeros"](rng, shape, dtype, hints)
    if fam == "wide":  # |h| <= 1, as every later hidden state (bounds the hidden part of the gates)
        return cast(rng.uniform(-1, 1, shape), dtype)
    return cast(rng.standard_normal(shape), dtype)


def _saturate(rng, x: np.ndarray, weights: list[tuple[np.ndarray, np.ndarray | None]], dtype) -> np.ndarray:
    """``x`` with rows of integers in [-1000, 1000] such that ``|x W^T + b| >= SATURATE`` for every given
    input weight and bias (checked exactly in float64): every gate pre-activation of the first layer is then
    at least ~21 from 0. Rows are drawn in batches and the valid ones kept (a few percent for an LSTM)."""
    rows, found = x.reshape(-1, x.shape[-1]), []
    for _ in range(100):
        cand = cast(rng.integers(-1000, 1001, size=(4096, rows.shape[-1])), dtype)
        wide = cand.astype(np.float64)
        ok = np.ones(len(cand), dtype=bool)
        for w, b in weights:
            pre = wide @ w.astype(np.float64).T + (0 if b is None else b.astype(np.float64))
            ok &= np.all(np.abs(pre) >= SATURATE, axis=-1)
        found.append(cand[ok])
        if sum(len(f) for f in found) >= len(rows):
            return np.concatenate(found)[: len(rows)].reshape(x.shape)
    raise RuntimeError(f"wide family: no saturating inputs found for weights {[w.shape for w, _ in weights]}")


def _net_sample(kind: str):
    gates = GATES[kind]

    def sample(rng, dtype, shape, fam, variant, hints):
        o = variant.options
        layers, dirs = o.get("num_layers", 1), 2 if o.get("bidirectional") else 1
        relu = o.get("nonlinearity") == "relu"
        proj = o.get("proj_size", 0)
        out = proj or HIDDEN
        n, inp = (shape[0] if o.get("batch_first") else shape[1]), shape[2]
        arrays = {"x": _x(rng, dtype, shape, fam, hints, RELU_WIDE if relu else 1000)}
        if variant.sampling.get("h0", True):
            arrays["h0"] = _state(rng, dtype, (layers * dirs, n, out), fam, hints)
            if kind == "lstm":
                arrays["c0"] = _state(rng, dtype, (layers * dirs, n, HIDDEN), fam, hints)
        for k in range(layers):
            for d in range(dirs):
                sfx = f"_l{k}{'_reverse' if d else ''}"
                arrays[f"weight_ih{sfx}"] = _param(rng, dtype, (gates * HIDDEN, inp if k == 0 else dirs * out), fam)
                arrays[f"weight_hh{sfx}"] = _param(rng, dtype, (gates * HIDDEN, out), fam)
                if o.get("bias", True):
                    arrays[f"bias_ih{sfx}"] = _param(rng, dtype, (gates * HIDDEN,), fam)
                    arrays[f"bias_hh{sfx}"] = _param(rng, dtype, (gates * HIDDEN,), fam)
                if proj:
                    arrays[f"weight_hr{sfx}"] = _param(rng, dtype, (proj, HIDDEN), fam)
        if fam == "wide" and not relu:
            first = [(arrays[f"weight_ih_l0{s}"], arrays.get(f"bias_ih_l0{s}")) for s in ("", "_reverse")[:dirs]]
            arrays["x"] = _saturate(rng, arrays["x"], first, dtype)
        return arrays

    return sample


def _cell_sample(kind: str):
    gates = GATES[kind.removesuffix("_cell")]

    def sample(rng, dtype, shape, fam, variant, hints):
        n, inp = shape
        relu = variant.options.get("nonlinearity") == "relu"
        arrays = {"x": _x(rng, dtype, shape, fam, hints, RELU_WIDE if relu else 1000),
                  "h": _state(rng, dtype, (n, HIDDEN), fam, hints)}
        if kind == "lstm_cell":
            arrays["c"] = _state(rng, dtype, (n, HIDDEN), fam, hints)
        arrays["weight_ih"] = _param(rng, dtype, (gates * HIDDEN, inp), fam)
        arrays["weight_hh"] = _param(rng, dtype, (gates * HIDDEN, HIDDEN), fam)
        if variant.sampling.get("bias", True):
            arrays["bias_ih"] = _param(rng, dtype, (gates * HIDDEN,), fam)
            arrays["bias_hh"] = _param(rng, dtype, (gates * HIDDEN,), fam)
        if fam == "wide" and not relu:
            arrays["x"] = _saturate(rng, arrays["x"], [(arrays["weight_ih"], arrays.get("bias_ih"))], dtype)
        return arrays

    return sample


# -- torch references -------------------------------------------------------------------------------

def _torch_net(kind: str):
    """The real nn.RNN / nn.LSTM / nn.GRU with the options, run by functional_call on the sampled
    parameters; returns (out, h_n) or (out, h_n, c_n)."""

    def run(x, h0=None, c0=None, *, num_layers=1, bias=True, batch_first=False, bidirectional=False, **rest):
        params = {k: v for k, v in rest.items() if k.startswith(("weight", "bias"))}
        options = {k: v for k, v in rest.items() if k not in params}  # nonlinearity, proj_size
        hidden = params["weight_hh_l0"].shape[0] // GATES[kind]
        module = MODULES[kind](x.shape[-1], hidden, num_layers=num_layers, bias=bias, batch_first=batch_first,
                               bidirectional=bidirectional, **options)
        hx = h0 if kind != "lstm" or h0 is None else (h0, c0)
        with warnings.catch_warnings():  # float32 LSTMs run on oneDNN, except with a projection (torch says so)
            warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
            out, state = functional_call(module, params, (x, hx))
        return (out, *state) if kind == "lstm" else (out, state)

    return run


def _torch_cell(kind: str):
    def run(x, h, *rest, bias_ih=None, bias_hh=None, **options):
        *state, weight_ih, weight_hh = rest
        params = {"weight_ih": weight_ih, "weight_hh": weight_hh}
        if bias_ih is not None:
            params.update(bias_ih=bias_ih, bias_hh=bias_hh)
        hidden = weight_hh.shape[1]
        module = CELL_MODULES[kind](x.shape[-1], hidden, bias=bias_ih is not None, **options)
        return functional_call(module, params, (x, (h, *state) if state else h))

    return run


# -- variants and shapes ----------------------------------------------------------------------------

def _only(table: dict[str, tuple[tuple[int, ...], ...]]):
    return lambda variant, shape: shape in table[variant.label]


def _shapes(table: dict[str, tuple[tuple[int, ...], ...]]) -> tuple[tuple[int, ...], ...]:
    return tuple(dict.fromkeys(s for shapes in table.values() for s in shapes))


SMALL, SMALL_BF = (3, 2, 2), (2, 3, 2)  # (T, N, I) and (N, T, I): every variant's finite-difference case
FD_MAX = 12

_LAYERS2 = {"num_layers": 2, "bidirectional": True}
RNN_VARIANTS = (
    (Variant("tanh", {"nonlinearity": "tanh"}), (SMALL, (1, 2, 3), (50, 2, 3))),
    (Variant("relu-zero_h0", {"nonlinearity": "relu"}, {"h0": False}), (SMALL, (50, 2, 3))),
    (Variant("relu-no_bias-batch_first", {"nonlinearity": "relu", "bias": False, "batch_first": True}),
     (SMALL_BF, (3, 7, 4))),
    (Variant("tanh-layers=2-bidirectional", {"nonlinearity": "tanh", **_LAYERS2}), (SMALL, (7, 3, 4))),
)
LSTM_VARIANTS = (
    (Variant(), (SMALL, (50, 2, 3))),
    (Variant("zero_state-batch_first", {"batch_first": True}, {"h0": False}), (SMALL_BF, (3, 7, 4))),
    (Variant("no_bias", {"bias": False}), (SMALL,)),
    (Variant("layers=2-bidirectional", _LAYERS2), (SMALL, (7, 3, 4))),
    (Variant("proj_size=3-layers=2-bidirectional", {"proj_size": 3, **_LAYERS2}), (SMALL,)),
    (Variant("proj_size=1", {"proj_size": 1}), (SMALL,)),  # the smallest projection
)
GRU_VARIANTS = (
    (Variant(), (SMALL, (50, 2, 3), (3, 0, 2))),  # and an empty batch
    (Variant("zero_h0-batch_first", {"batch_first": True}, {"h0": False}), (SMALL_BF, (3, 7, 4))),
    (Variant("no_bias", {"bias": False}), (SMALL,)),
    (Variant("layers=2-bidirectional", _LAYERS2), (SMALL, (7, 3, 4))),
)


# -- bad inputs -------------------------------------------------------------------------------------

def _net_call(kind: str, x_shape=(4, 2, 3), hh_cols=HIDDEN, h0_shape=None, c0=True, **options):
    """A call of ``kind`` on ones with one layer (H = 5) and the given deviations."""
    gates = GATES[kind]

    def build(rng):
        params = {
            "weight_ih_l0": np.ones((gates * HIDDEN, 3)), "weight_hh_l0": np.ones((gates * HIDDEN, hh_cols)),
            "bias_ih_l0": np.ones(gates * HIDDEN), "bias_hh_l0": np.ones(gates * HIDDEN),
        }
        states = {}
        if h0_shape is not None:
            states["h0"] = np.ones(h0_shape)
            if kind == "lstm" and c0:
                states["c0"] = np.ones((1, 2, HIDDEN))
        return (np.ones(x_shape),), {**states, **params, **options}

    return build


def _with(build, name: str, change):
    """``build`` with its array ``name`` (``x`` or a keyword) replaced by ``change(array)``."""
    return changing(build, ("x",), name, change)


def _without(build, name: str):
    def changed(rng):
        args, options = build(rng)
        return args, {k: v for k, v in options.items() if k != name}

    return changed


def _net_bad(kind: str) -> tuple[BadInput, ...]:
    with_h0 = _net_call(kind, h0_shape=(1, 2, HIDDEN))
    rows = rf"must have shape \({GATES[kind]} \* hidden_size, hidden_size\)"
    bad = (
        BadInput("num_layers_0", _net_call(kind, num_layers=0), ValueError,
                 r"\bnum_layers must be an integer >= 1, got 0"),
        BadInput("num_layers_float", _net_call(kind, num_layers=1.0), ValueError,
                 r"\bnum_layers must be an integer >= 1, got 1\.0"),
        BadInput("no_weight_hh", _without(_net_call(kind), "weight_hh_l0"), ValueError,
                 r"missing parameter weight_hh_l0$"),
        BadInput("weight_hh_rows_0", _with(_net_call(kind), "weight_hh_l0", lambda a: np.ones((0, HIDDEN))), ValueError,
                 rf"\bweight_hh_l0 {rows}, got \(0, 5\)"),
        BadInput("weight_hh_1d", _with(_net_call(kind), "weight_hh_l0", lambda a: np.ones(len(a))), ValueError,
                 rf"\bweight_hh_l0 {rows}, got \({GATES[kind] * HIDDEN},\)"),
        BadInput("weight_hh_int64", _with(_net_call(kind), "weight_hh_l0", lambda a: a.astype(np.int64)), TypeError,
                 r"\bweight_hh_l0 must be a floating"),
        BadInput("x_dtype", _with(_net_call(kind), "x", lambda a: a.astype(np.float32)), TypeError, r"\bx: float32"),
        BadInput("h0_int64", _with(with_h0, "h0", lambda a: a.astype(np.int64)), TypeError,
                 r"\bh0 must be a floating"),
        BadInput("h0_dtype", _with(with_h0, "h0", lambda a: a.astype(np.float32)), TypeError, r"\bh0: float32"),
        BadInput("weight_hh_dtype", _with(_net_call(kind), "weight_hh_l0", lambda a: a.astype(np.float32)), TypeError,
                 r"\bweight_hh_l0: float32"),
        BadInput("weight_hh_shape", _net_call(kind, hh_cols=4), ValueError, r"weight_hh_l0 must have shape.*\(.*, 4\)"),
        BadInput("h0_shape", _net_call(kind, h0_shape=(1, 3, HIDDEN)), ValueError, r"h0 must have shape \(1, 2, 5\)"),
        BadInput("x_2d", _net_call(kind, x_shape=(4, 3)), ValueError, r"expected x of shape \(T, N, I\), got \(4, 3\)"),
        BadInput("x_2d_batch_first", _net_call(kind, x_shape=(4, 3), batch_first=True), ValueError,
                 r"expected x of shape \(N, T, I\), got \(4, 3\)"),
        BadInput("empty_sequence", _net_call(kind, x_shape=(0, 2, 3)), ValueError, "sequence length"),
        BadInput("missing_layer", _net_call(kind, num_layers=2), ValueError, r"missing \[.*weight_hh_l1"),
        BadInput("unexpected_bias", _net_call(kind, bias=False), ValueError, r"unexpected \[.*bias_hh_l0"),
    )
    if kind == "rnn":
        bad += (BadInput("nonlinearity", _net_call(kind, nonlinearity="sigmoid"), ValueError, "'sigmoid'"),)
    if kind == "lstm":
        bad += (
            BadInput("h0_without_c0", _net_call(kind, h0_shape=(1, 2, HIDDEN), c0=False), ValueError,
                     "h0 and c0 must both be given or both be None"),
            BadInput("proj_size", _net_call(kind, proj_size=HIDDEN), ValueError, "proj_size 5"),
            BadInput("proj_size_negative", _net_call(kind, proj_size=-1), ValueError,
                     r"\bproj_size must be an integer >= 0, got -1"),
            BadInput("c0_shape", _with(with_h0, "c0", lambda a: np.ones((1, 3, HIDDEN))), ValueError,
                     r"\bc0 must have shape \(1, 2, 5\)"),
        )
    return bad


def _cell_call(kind: str, x_shape=(2, 3), h_shape=(2, HIDDEN), hh_cols=HIDDEN, bias_hh=True, **options):
    gates = GATES[kind.removesuffix("_cell")]

    def build(rng):
        state = (np.ones(h_shape),) * (2 if kind == "lstm_cell" else 1)
        weights = (np.ones((gates * HIDDEN, 3)), np.ones((gates * HIDDEN, hh_cols)))
        biases = {"bias_ih": np.ones(gates * HIDDEN), **({"bias_hh": np.ones(gates * HIDDEN)} if bias_hh else {})}
        return (np.ones(x_shape), *state, *weights), {**biases, **options}

    return build


def _cell_changed(kind: str, name: str, value, **call) -> BadInput:
    """``_cell_call``'s valid arrays with the input ``name`` replaced by ``value(array)``."""
    names = ("x", "h", "c") if kind == "lstm_cell" else ("x", "h")
    return changing(_cell_call(kind, **call), (*names, "weight_ih", "weight_hh"), name, value)


def _cell_bad(kind: str) -> tuple[BadInput, ...]:
    states = ("h", "c") if kind == "lstm_cell" else ("h",)
    bad = (
        BadInput("weight_hh_shape", _cell_call(kind, hh_cols=4), ValueError, r"weight_hh must have shape.*\(.*, 4\)"),
        BadInput("h_shape", _cell_call(kind, h_shape=(3, HIDDEN)), ValueError, r"h must have shape \(2, 5\)"),
        BadInput("x_3d", _cell_call(kind, x_shape=(1, 2, 3)), ValueError, r"expected x of shape \(N, I\)"),
        BadInput("one_bias", _cell_call(kind, bias_hh=False), ValueError, "both"),
        BadInput("only_bias_hh", _cell_changed(kind, "bias_ih", lambda a: None), ValueError, "both"),
        BadInput("no_h", _cell_changed(kind, "h", lambda a: None), ValueError, rf"^{kind}: h is required$"),
        BadInput("no_weight_ih", _cell_changed(kind, "weight_ih", lambda a: None), ValueError,
                 r"bidirectional=False, proj_size=0: unexpected \[\], missing \['weight_ih_l0'\]"),
        BadInput("weight_hh_int64", _cell_changed(kind, "weight_hh", lambda a: a.astype(np.int64)), TypeError,
                 rf"^{kind}: weight_hh must be a floating"),
        *(BadInput(f"{n}_dtype", _cell_changed(kind, n, lambda a: a.astype(np.float32)), TypeError,
                   rf"^{kind}: inputs must share one dtype, got .*\b{n}: float32")
          for n in ("x", *states, "weight_ih", "bias_hh")),
    )
    if kind == "lstm_cell":
        bad += (BadInput("c_shape", _cell_changed(kind, "c", lambda a: a[:1]), ValueError,
                         r"^lstm_cell: c must have shape \(2, 5\), got \(1, 5\)"),)
    if kind == "rnn_cell":
        bad += (BadInput("nonlinearity", _cell_call(kind, nonlinearity="gelu"), ValueError, "'gelu'"),)
    return bad


def _dout_tuple(kind: str, outputs: tuple[str, ...]) -> Property:
    """A backward given the first output's gradient alone, not the tuple of all of them, is rejected
    with a message naming every output."""
    def check(ctx) -> None:
        spec = REGISTRY[kind]
        args, kwargs = _split(spec, _valid(spec, ctx.rng))
        result, cache = ctx.impl.get(f"{kind}_forward")(*args, **kwargs)
        first = result[0]
        want = rf"^{kind}: dout must be a tuple of {len(outputs)} arrays \({', '.join(outputs)}\)"
        try:
            ctx.impl.get(f"{kind}_backward")(cache, np.zeros_like(first))
        except ValueError as err:
            if not re.search(want, str(err)):
                ctx.fail("dout", f"error message {str(err)[:200]!r} must match {want!r}")
        else:
            ctx.fail("dout", f"backward accepted one array of shape {first.shape} for the {len(outputs)} outputs")

    return Property("dout_tuple", check, f"dout must be a tuple ({', '.join(outputs)})")


def _overflowing_state(kind: str) -> Property:
    """float32, no h0: x = [+inf, -inf] with W_ih = 1 and W_hh at the dtype's max, so step 2's hidden part
    overflows to +inf in every summation order and meets the input part's -inf (rnn: NaN; gru: the
    reset gate's NaN is multiplied away). out and h_n against torch, warning-free. A recurrence run in
    float64 (a default zero h0 of the wrong dtype) stays finite there and differs. lstm is left out:
    torch's float32 LSTM (oneDNN) adds the hidden terms onto the input part, -inf + finite = -inf,
    where separate sums give inf - inf."""
    gates, hidden = GATES[kind], 3

    def check(ctx) -> None:
        dt = DTYPES["float32"]
        big = np.finfo(np.float32).max
        x = np.array([[[np.inf]], [[-np.inf]]], np.float32)
        params = {"weight_ih_l0": np.ones((gates * hidden, 1), np.float32),
                  "weight_hh_l0": np.full((gates * hidden, hidden), big, np.float32),
                  "bias_ih_l0": np.zeros(gates * hidden, np.float32),
                  "bias_hh_l0": np.zeros(gates * hidden, np.float32)}
        got, _ = ctx.impl.get(f"{kind}_forward")(x, **params)
        want = _torch_net(kind)(torch.from_numpy(x), **{k: torch.from_numpy(v) for k, v in params.items()})
        for name, g, w in zip(("out", "h_n"), got, want, strict=False):
            ctx.compare(name, g, w.detach().numpy(), dt, dt.default_tol, {"x": x}, oracle=f"torch nn.{kind.upper()}")

    return Property("overflowing_state", check, "float32 hidden products past the max meeting an infinite input")


def _overflowing_gradients(ctx) -> None:
    """rnn, float32, bidirectional, from x = 0 and h0 = 0 (so h stays 0 and every tanh' is 1), every
    gradient against torch's NaN/±inf, warning-free, for three weight settings (W_ih's column, the reverse
    direction's sign, W_hh, the steps T, dh_n):
    - [0.6, 0.6]·max, -1, [[max, -max], [max, -max]], T = 2, ones: each direction's dx (two such terms)
      overflows, the hidden gradient is ±inf after one step back and inf - inf after the second;
    - [0.6, 0]·max, +1, 0, T = 1, zeros: each direction's dx is 0.6·max, their sum overflows;
    - [0.6, 0.6]·max, -1, 0, T = 1, zeros: the directions' dx are inf and -inf, their sum NaN."""
    dt = DTYPES["float32"]
    big = float(np.finfo(np.float32).max)
    settings = (([0.6, 0.6], -1.0, [[big, -big], [big, -big]], 2, 1.0), ([0.6, 0.0], 1.0, 0.0, 1, 0.0),
                ([0.6, 0.6], -1.0, 0.0, 1, 0.0))
    for column, reverse_sign, hh, steps, dh_n in settings:
        params = {}
        for suffix, sign in (("_l0", 1.0), ("_l0_reverse", reverse_sign)):
            params |= {f"weight_ih{suffix}": (sign * big * np.array(column, np.float32))[:, None],
                       f"weight_hh{suffix}": np.broadcast_to(np.float32(hh), (2, 2)).astype(np.float32),
                       f"bias_ih{suffix}": np.zeros(2, np.float32), f"bias_hh{suffix}": np.zeros(2, np.float32)}
        x = np.zeros((steps, 1, 1), np.float32)
        result, cache = ctx.impl.get("rnn_forward")(x, bidirectional=True, **params)
        douts = (np.ones_like(result[0]), np.full_like(result[1], dh_n))
        got = ctx.impl.get("rnn_backward")(cache, douts)
        ts = {k: torch.from_numpy(v).requires_grad_() for k, v in {"x": x, **params}.items()}
        out = _torch_net("rnn")(**ts, bidirectional=True)
        want = torch.autograd.grad(out, list(ts.values()), [torch.from_numpy(d) for d in douts])
        for name, w in zip(ts, want, strict=True):
            ctx.compare(f"d{name}", got[f"d{name}"], w.numpy(), dt, dt.default_tol, {"x": x},
                        oracle=f"torch autograd of nn.RNN (W_ih column {column} max, T = {steps})")


# -- entries ----------------------------------------------------------------------------------------

_NET_DOCS = {
    "rnn": "nn.RNN: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), tanh or relu",
    "lstm": "nn.LSTM: gate blocks i, f, g, o; c' = f c + i g, h' = o tanh(c'), optional projection W_hr",
    "gru": "nn.GRU: gate blocks r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h",
}

for _kind, _table in (("rnn", RNN_VARIANTS), ("lstm", LSTM_VARIANTS), ("gru", GRU_VARIANTS)):
    _labels = {v.label: s for v, s in _table}
    register(
        OpSpec(
            name=_kind,
            inputs=("x",),
            grads=("x", "h0", "c0", *_param_names()),
            torch_fn=_torch_net(_kind),
            sample=_net_sample(_kind),
            shapes=_shapes(_labels),
            families=NET_FAMILIES,
            variants=tuple(v for v, _ in _table),
            applies=_only(_labels),
            fd_max_size=FD_MAX,
            reduces=True,  # matrix products, and sums over time and batch in the weight gradients
            allowance=Allowance(
                5.0, "T steps of products and gates, weight gradients summed over time and batch: torch's cell kernels "
                "round in another order and the recurrence carries every rounding on; on single cases up to 4.4x "
                "torch's error (gru dbias_ih 4.7 vs 0.33 ULP, lstm out 3.8 vs 0.86), with equal maxima over all "
                "float32 cases",
            ),
            outputs=("out", "h_n", "c_n") if _kind == "lstm" else ("out", "h_n"),
            grad_outputs=3 if _kind == "lstm" else 2,
            bad_inputs=_net_bad(_kind),
            properties=(_dout_tuple(_kind, ("out", "h_n", "c_n") if _kind == "lstm" else ("out", "h_n")),
                        *((_overflowing_state(_kind),) if _kind != "lstm" else ()),
                        *((Property("overflowing_gradients", _overflowing_gradients, "±inf and inf - inf in the "
                                    "gradients through time and directions"),) if _kind == "rnn" else ())),
            relations=(per_sample("x", "h0", "c0", "out", "h_n", "c_n", axis=1),),  # the first variant: (T, N, I)
            doc=_NET_DOCS[_kind] + "; layers, bidirectional, batch_first, bias, given or zero initial state, "
            "via functional_call",
        )
    )

CELL_SHAPES = ((3, 4), (1, 3))
CELL_VARIANTS = {
    "rnn_cell": (Variant("tanh", {"nonlinearity": "tanh"}), Variant("relu-no_bias", {"nonlinearity": "relu"},
                                                                      {"bias": False})),
    "lstm_cell": (Variant(), Variant("no_bias", sampling={"bias": False})),
    "gru_cell": (Variant(), Variant("no_bias", sampling={"bias": False})),
}

for _kind, _variants in CELL_VARIANTS.items():
    _state_names = ("h", "c") if _kind == "lstm_cell" else ("h",)
    register(
        OpSpec(
            name=_kind,
            inputs=("x", *_state_names, "weight_ih", "weight_hh"),
            grads=("x", *_state_names, "weight_ih", "weight_hh", "bias_ih", "bias_hh"),
            torch_fn=_torch_cell(_kind),
            sample=_cell_sample(_kind),
            shapes=CELL_SHAPES,
            families=NET_FAMILIES,
            variants=_variants,
            applies=lambda variant, shape: variant.label in ("", "tanh") or shape == CELL_SHAPES[0],
            fd_max_size=FD_MAX,
            reduces=True,
            outputs=("h", "c") if _kind == "lstm_cell" else ("out",),
            grad_outputs=2 if _kind == "lstm_cell" else 1,
            bad_inputs=_cell_bad(_kind),
            properties=(_dout_tuple(_kind, _state_names),) if _kind == "lstm_cell" else (),
            relations=(per_sample("x", "h", "c", "out"),),
            doc=f"nn.{CELL_MODULES[_kind].__name__} via functional_call: one step of {_kind.removesuffix('_cell')}",
        )
    )
