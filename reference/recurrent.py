"""Recurrent layers with torch's equations: rnn_cell, rnn, lstm_cell, lstm, gru_cell, gru.

Every cell first forms the input part ``gi = x W_ih^T + b_ih`` and the hidden part
``gh = h W_hh^T + b_hh`` of its G stacked gate blocks (G = 1, 4, 3), each block H wide:
- rnn:  ``h' = act(gi + gh)``, act = tanh or relu;
- lstm: blocks ``i, f, g, o``: ``i, f, o = σ(gi + gh)``, ``g = tanh(gi + gh)``, ``c' = f c + i g``,
  ``h' = o tanh(c')``, and with ``proj_size`` P > 0: ``h' = (o tanh(c')) W_hr^T`` (h is P wide, c H wide);
- gru:  blocks ``r, z, n``: ``r, z = σ(gi + gh)``, ``n = tanh(gi_n + r (W_hn h + b_hn))``,
  ``h' = (1 - z) n + z h``, computed as torch does, ``n + z (h - n)``.

One runner drives every cell over time (forward loops over time steps, never over the batch) and back
through time in reverse; a reverse direction runs on the flipped sequence; layer l + 1 reads the
concatenated directions of layer l. The input part of every time step is one matrix product before the
loop, the weight gradients one product each after the backward loop.

Parameters carry torch's names: ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``,
``weight_hr_l{k}`` (lstm with ``proj_size``), with the suffix ``_reverse`` for the reverse direction.
float16/bfloat16 are computed in float32 throughout (the hidden state stays float32 between steps) and
rounded once; torch rounds every intermediate to the dtype, so its low-precision results are farther
from the exact ones.

Restrictions (a clear ValueError instead of torch's behaviour): batched input only (torch also takes
unbatched (T, I) / (I,)); no inter-layer ``dropout`` option; the cells take ``h`` (and ``c``) explicitly,
where torch's modules default them to zeros, and both biases or neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, same_dtype, up
from reference.smooth import _sigmoid

__all__ = [
    "gru_backward",
    "gru_cell_backward",
    "gru_cell_forward",
    "gru_forward",
    "lstm_backward",
    "lstm_cell_backward",
    "lstm_cell_forward",
    "lstm_forward",
    "rnn_backward",
    "rnn_cell_backward",
    "rnn_cell_forward",
    "rnn_forward",
]


# -- one time step of each cell: forward, and backward to the gate pre-activations --------------------
#
# step(gi, gh, h, c, W) -> (h', c', saved);  back(saved, dh', dc', W) -> (dgi, dgh, dh_direct, dc)
# where dgi/dgh are the gradients of gi and gh, and dh_direct the part of dh that does not go through gh.

class Weights(NamedTuple):
    """One layer and direction in working precision; absent biases / projection are None."""

    ih: Array
    hh: Array
    b_ih: Array | None
    b_hh: Array | None
    hr: Array | None


PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")  # torch's names of the Weights fields


def _tanh_step(gi: Array, gh: Array, h: Array, c: Array | None, W: Weights) -> tuple:
    h_new = np.tanh(gi + gh)
    return h_new, None, h_new


def _tanh_back(h_new: Array, dh: Array, dc: None, W: Weights) -> tuple:
    da = dh * (1 - h_new * h_new)  # tanh' = 1 - tanh^2
    return da, da, 0.0, None


def _relu_step(gi: Array, gh: Array, h: Array, c: Array | None, W: Weights) -> tuple:
    h_new = np.maximum(gi + gh, 0)
    return h_new, None, h_new


def _relu_back(h_new: Array, dh: Array, dc: None, W: Weights) -> tuple:
    da = np.where(h_new > 0, dh, 0)  # torch masks on the output: relu'(0) = 0
    return da, da, 0.0, None


class LSTMSaved(NamedTuple):
    i: Array
    f: Array
    g: Array
    o: Array
    c: Array  # the previous cell state
    tanh_c: Array  # tanh of the new cell state
    m: Array  # o * tanh(c'), the hidden state before the projection


def _lstm_step(gi: Array, gh: Array, h: Array, c: Array | None, W: Weights) -> tuple:
    a = gi + gh
    H = a.shape[-1] // 4
    gates = _sigmoid(a)  # one call for all blocks; the g block is replaced by its tanh
    i, f, o = gates[:, :H], gates[:, H:2 * H], gates[:, 3 * H:]
    g = np.tanh(a[:, 2 * H:3 * H])
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    m = o * tanh_c
    h_new = m if W.hr is None else m @ W.hr.T
    return h_new, c_new, LSTMSaved(i, f, g, o, c, tanh_c, m)


def _lstm_back(s: LSTMSaved, dh: Array, dc: Array, W: Weights) -> tuple:
    dm = dh if W.hr is None else dh @ W.hr
    dc = dc + dm * s.o * (1 - s.tanh_c * s.tanh_c)
    da = np.concatenate(
        [
            dc * s.g * s.i * (1 - s.i),
            dc * s.c * s.f * (1 - s.f),
            dc * s.i * (1 - s.g * s.g),
            dm * s.tanh_c * s.o * (1 - s.o),
        ],
        axis=-1,
    )
    return da, da, 0.0, dc * s.f


class GRUSaved(NamedTuple):
    r: Array
    z: Array
    n: Array
    hn: Array  # W_hn h + b_hn, the hidden part the reset gate scales
    h: Array  # the previous hidden state


def _gru_step(gi: Array, gh: Array, h: Array, c: Array | None, W: Weights) -> tuple:
    H = gi.shape[-1] // 3
    rz = _sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
    r, z, hn = rz[:, :H], rz[:, H:], gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * hn)
    return n + z * (h - n), None, GRUSaved(r, z, n, hn, h)


def _gru_back(s: GRUSaved, dh: Array, dc: None, W: Weights) -> tuple:
    dn = dh * (1 - s.z) * (1 - s.n * s.n)
    dr = dn * s.hn * s.r * (1 - s.r)
    dz = dh * (s.h - s.n) * s.z * (1 - s.z)
    return np.concatenate([dr, dz, dn], axis=-1), np.concatenate([dr, dz, dn * s.r], axis=-1), dh * s.z, None


class Cell(NamedTuple):
    gates: int
    step: Callable
    back: Callable


CELLS = {
    "rnn_tanh": Cell(1, _tanh_step, _tanh_back),
    "rnn_relu": Cell(1, _relu_step, _relu_back),
    "lstm": Cell(4, _lstm_step, _lstm_back),
    "gru": Cell(3, _gru_step, _gru_back),
}


# -- one layer and direction through time ---------------------------------------------------------------

def _affine(a: Array, w: Array, b: Array | None) -> Array:
    out = a @ w.T
    return out if b is None else out + b


class RunCache(NamedTuple):
    cell: Cell
    W: Weights
    x: Array  # (T, N, I) input in time order of the run (flipped for the reverse direction)
    h_prev: Array  # (T, N, Hout) the hidden state entering each step
    saved: list
    reverse: bool


def _run(cell: Cell, x: Array, h: Array, c: Array | None, W: Weights, reverse: bool):
    """``x`` (T, N, I), ``h`` (N, Hout), ``c`` (N, H) or None, all in working precision. Returns the
    outputs (T, N, Hout) in sequence order, the final h and c, and the cache."""
    xs = x[::-1] if reverse else x
    prev, saved = [], []
    with np.errstate(over="ignore", invalid="ignore"):  # IEEE results: products past the max are ±inf, as torch's
        gi = _affine(xs, W.ih, W.b_ih)  # every step's input part in one product
        for t in range(xs.shape[0]):
            h_new, c, s = cell.step(gi[t], _affine(h, W.hh, W.b_hh), h, c, W)
            prev.append(h)
            saved.append(s)
            h = h_new
    h_prev = np.stack(prev)
    out = np.concatenate([h_prev[1:], h[None]])  # step t's output is step t + 1's previous state
    return (out[::-1] if reverse else out), h, c, RunCache(cell, W, xs, h_prev, saved, reverse)


def _run_back(cache: RunCache, dout: Array, dh: Array, dc: Array | None):
    """Backward through time: ``dout`` (T, N, Hout) on the outputs, ``dh``/``dc`` on the final states.
    Returns dx (T, N, I) in sequence order, dh0, dc0 and the weight gradients by short name."""
    cell, W, xs, h_prev, saved, reverse = cache
    d = dout[::-1] if reverse else dout
    T = xs.shape[0]
    dgi, dgh, dhs = [None] * T, [None] * T, [None] * T
    with np.errstate(over="ignore", invalid="ignore"):  # as in _run
        for t in reversed(range(T)):
            dh = dh + d[t]
            dhs[t] = dh
            dgi[t], dgh[t], direct, dc = cell.back(saved[t], dh, dc, W)
            dh = direct + dgh[t] @ W.hh
        dGI, dGH = np.stack(dgi), np.stack(dgh)
        dx = dGI @ W.ih
        grads = {"weight_ih": _outer(dGI, xs), "weight_hh": _outer(dGH, h_prev)}
        if W.b_ih is not None:
            grads["bias_ih"] = dGI.sum(axis=(0, 1))
        if W.b_hh is not None:
            grads["bias_hh"] = dGH.sum(axis=(0, 1))
        if W.hr is not None:
            grads["weight_hr"] = _outer(np.stack(dhs), np.stack([s.m for s in saved]))
    return (dx[::-1] if reverse else dx), dh, dc, grads


def _outer(dy: Array, a: Array) -> Array:
    """sum over time and batch of dy^T a: the gradient of a weight used as ``a W^T`` at every step."""
    return dy.reshape(-1, dy.shape[-1]).T @ a.reshape(-1, a.shape[-1])


# -- stacked, possibly bidirectional layers ---------------------------------------------------------------

class Net(NamedTuple):
    op: str
    cell: Cell
    layers: int
    dirs: int
    bias: bool
    hidden: int  # H
    out: int  # Hout: H, or proj_size for an lstm with a projection
    inp: int  # input size I


def _names(layer: int, direction: int) -> dict[str, str]:
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    return {k: f"{k}{sfx}" for k in PARAMS}


def _expected_shapes(net: Net, proj: bool) -> dict[str, tuple[int, ...]]:
    gh = net.cell.gates * net.hidden
    shapes = {}
    for layer in range(net.layers):
        for d in range(net.dirs):
            n = _names(layer, d)
            shapes[n["weight_ih"]] = (gh, net.inp if layer == 0 else net.dirs * net.out)
            shapes[n["weight_hh"]] = (gh, net.out)
            if net.bias:
                shapes[n["bias_ih"]] = shapes[n["bias_hh"]] = (gh,)
            if proj:
                shapes[n["weight_hr"]] = (net.out, net.hidden)
    return shapes


def _int_option(op: str, name: str, value: object, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{op}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _net(op: str, kind: str, x: Array, params: dict[str, Array], num_layers: int, bias: bool,
         bidirectional: bool, proj_size: int) -> Net:
    """The network's sizes from its options and weight_hh_l0; every parameter's name and shape checked."""
    cell = CELLS[kind]
    show = (lambda n: n.removesuffix("_l0")) if op.endswith("_cell") else (lambda n: n)
    layers = _int_option(op, "num_layers", num_layers, 1)
    proj = _int_option(op, "proj_size", proj_size, 0)
    if "weight_hh_l0" not in params:
        raise ValueError(f"{op}: missing parameter {show('weight_hh_l0')}")
    hh = params["weight_hh_l0"]
    if hh.ndim != 2 or hh.shape[0] % cell.gates or hh.shape[0] == 0:
        raise ValueError(
            f"{op}: {show('weight_hh_l0')} must have shape ({cell.gates} * hidden_size, hidden_size), got {hh.shape}"
        )
    hidden = hh.shape[0] // cell.gates
    if proj and proj >= hidden:
        raise ValueError(f"{op}: proj_size {proj} must be smaller than hidden_size {hidden}")
    net = Net(op, cell, layers, 2 if bidirectional else 1, bool(bias), hidden, proj or hidden, x.shape[-1])
    expected = _expected_shapes(net, proj > 0)
    unknown, missing = sorted(set(params) - set(expected)), sorted(set(expected) - set(params))
    if unknown or missing:
        raise ValueError(
            f"{op}: parameters do not match num_layers={layers}, bias={bias}, bidirectional={bidirectional}, "
            f"proj_size={proj}: unexpected {unknown}, missing {missing}"
        )
    for name, shape in expected.items():
        if params[name].shape != shape:
            raise ValueError(
                f"{op}: {show(name)} must have shape {shape} for hidden_size {hidden} "
                f"({cell.gates} gate blocks) and input size {net.inp}, got {params[name].shape}"
            )
    return net


def _state(op: str, name: str, s: Array | None, shape: tuple[int, ...]) -> Array | None:
    if s is None:
        return None
    s = floating(op, name, s)
    if s.shape != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, got {s.shape}")
    return s


def _weights(net: Net, params: dict[str, Array], layer: int, direction: int) -> Weights:
    n = _names(layer, direction)
    return Weights(*(up(params[n[k]]) if n[k] in params else None for k in PARAMS))


class NetCache(NamedTuple):
    net: Net
    runs: list  # RunCache per layer * dirs + direction
    batch_first: bool
    given: tuple[str, ...]  # the states given (h0, c0) and parameter names, for the gradients
    shapes: dict[str, tuple[int, ...]]  # output shapes: out, h_n, c_n
    dtype: np.dtype


def _net_forward(op: str, kind: str, x: object, h0: object, c0: object, params: dict[str, Any], *,
                 num_layers: int = 1, bias: bool = True, batch_first: bool = False, bidirectional: bool = False,
                 proj_size: int = 0) -> tuple[tuple[Array, ...], NetCache]:
    x = floating(op, "x", x)
    if x.ndim != 3:
        layout = "(N, T, I)" if batch_first else "(T, N, I)"
        raise ValueError(f"{op}: expected x of shape {layout}, got {x.shape}")
    params = {k: floating(op, k, v) for k, v in params.items()}
    net = _net(op, kind, x, params, num_layers, bias, bidirectional, proj_size)
    seq = np.swapaxes(x, 0, 1) if batch_first else x
    if seq.shape[0] == 0:
        raise ValueError(f"{op}: expected a sequence length larger than 0, got x of shape {x.shape}")
    states = net.layers * net.dirs, seq.shape[1]
    h0 = _state(op, "h0", h0, (*states, net.out))
    c0 = _state(op, "c0", c0, (*states, net.hidden)) if kind == "lstm" else None
    given = {k: v for k, v in (("h0", h0), ("c0", c0)) if v is not None}
    dtype = same_dtype(op, x=x, **given, **params)
    work = up(seq)
    zeros = np.zeros((*states, net.out), work.dtype)
    hs = up(h0) if h0 is not None else zeros
    cs = up(c0) if c0 is not None else np.zeros((*states, net.hidden), work.dtype)
    runs, h_n, c_n = [], [], []
    for layer in range(net.layers):
        outs = []
        for d in range(net.dirs):
            k = layer * net.dirs + d
            c = cs[k] if kind == "lstm" else None
            out, h, c, run = _run(net.cell, work, hs[k], c, _weights(net, params, layer, d), reverse=d == 1)
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
            runs.append(run)
        work = outs[0] if net.dirs == 1 else np.concatenate(outs, axis=-1)
    out = down(np.swapaxes(work, 0, 1) if batch_first else work, dtype)
    results = (out, down(np.stack(h_n), dtype)) + ((down(np.stack(c_n), dtype),) if kind == "lstm" else ())
    shapes = dict(zip(("out", "h_n", "c_n"), (r.shape for r in results), strict=False))
    return results, NetCache(net, runs, batch_first, (*given, *params), shapes, dtype)


def _douts(op: str, dout: object, shapes: dict[str, tuple[int, ...]], dtype: np.dtype) -> list[Array]:
    if not isinstance(dout, (tuple, list)) or len(dout) != len(shapes):
        raise ValueError(f"{op}: dout must be a tuple of {len(shapes)} arrays ({', '.join(shapes)}), got {dout!r}")
    return [up(check_dout(op, d, shape, dtype)) for d, shape in zip(dout, shapes.values(), strict=True)]


def _net_backward(cache: NetCache, dout: object) -> dict[str, Array]:
    net, runs, batch_first, given, shapes, dtype = cache
    douts = _douts(net.op, dout, shapes, dtype)
    d_out, dh_n = douts[0], douts[1]
    dc_n = douts[2] if len(douts) == 3 else [None] * len(runs)
    d_out = np.swapaxes(d_out, 0, 1) if batch_first else d_out
    dh0, dc0, grads = [None] * len(runs), [None] * len(runs), {}
    for layer in reversed(range(net.layers)):
        d_in = 0.0
        for d in range(net.dirs):
            k = layer * net.dirs + d
            dx, dh0[k], dc0[k], g = _run_back(runs[k], d_out[..., d * net.out:(d + 1) * net.out], dh_n[k], dc_n[k])
            with np.errstate(over="ignore", invalid="ignore"):
                d_in = d_in + dx  # both directions read the same input
            grads.update({name: g[short] for short, name in _names(layer, d).items() if short in g})
        d_out = d_in
    grads["x"] = np.swapaxes(d_out, 0, 1) if batch_first else d_out
    grads["h0"] = np.stack(dh0)
    if dc0[0] is not None:
        grads["c0"] = np.stack(dc0)
    return {f"d{name}": down(grads[name], dtype) for name in ("x", *given)}


def rnn_forward(x: Array, h0: Array | None = None, *, num_layers: int = 1, nonlinearity: str = "tanh",
                bias: bool = True, batch_first: bool = False, bidirectional: bool = False,
                **params: Array) -> tuple[tuple[Array, Array], NetCache]:
    """``nn.RNN``: x (T, N, I) (or (N, T, I) with batch_first), h0 (layers * directions, N, H) or None
    (zeros). Returns ``((out, h_n), cache)``; out (T, N, directions * H)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'")
    return _net_forward("rnn", f"rnn_{nonlinearity}", x, h0, None, params, num_layers=num_layers, bias=bias,
                        batch_first=batch_first, bidirectional=bidirectional)


def rnn_backward(cache: NetCache, dout: tuple[Array, Array]) -> dict[str, Array]:
    """``dout = (dout, dh_n)``; gradients for x, h0 (if given) and every parameter, by torch's names."""
    return _net_backward(cache, dout)


def lstm_forward(x: Array, h0: Array | None = None, c0: Array | None = None, *, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, bidirectional: bool = False, proj_size: int = 0,
                 **params: Array) -> tuple[tuple[Array, Array, Array], NetCache]:
    """``nn.LSTM``: h0 (layers * directions, N, proj_size or H) and c0 (layers * directions, N, H), both
    or neither (zeros). Returns ``((out, h_n, c_n), cache)``."""
    if (h0 is None) != (c0 is None):
        raise ValueError("lstm: h0 and c0 must both be given or both be None")
    return _net_forward("lstm", "lstm", x, h0, c0, params, num_layers=num_layers, bias=bias,
                        batch_first=batch_first, bidirectional=bidirectional, proj_size=proj_size)


def lstm_backward(cache: NetCache, dout: tuple[Array, Array, Array]) -> dict[str, Array]:
    """``dout = (dout, dh_n, dc_n)``; gradients for x, h0, c0 (if given) and every parameter."""
    return _net_backward(cache, dout)


def gru_forward(x: Array, h0: Array | None = None, *, num_layers: int = 1, bias: bool = True,
                batch_first: bool = False, bidirectional: bool = False,
                **params: Array) -> tuple[tuple[Array, Array], NetCache]:
    """``nn.GRU``: as rnn_forward, with gate blocks r, z, n."""
    return _net_forward("gru", "gru", x, h0, None, params, num_layers=num_layers, bias=bias,
                        batch_first=batch_first, bidirectional=bidirectional)


def gru_backward(cache: NetCache, dout: tuple[Array, Array]) -> dict[str, Array]:
    return _net_backward(cache, dout)


# -- single cells: one step of the same runner ---------------------------------------------------------

_CELL_PARAMS = {"weight_ih": "weight_ih_l0", "weight_hh": "weight_hh_l0", "bias_ih": "bias_ih_l0",
                "bias_hh": "bias_hh_l0"}


class CellCache(NamedTuple):
    op: str
    run: RunCache
    given: tuple[str, ...]  # the cell's parameter names that were given
    shapes: tuple[tuple[int, ...], ...]  # output shapes: h' (and c')
    dtype: np.dtype


def _cell_forward(op: str, kind: str, x: object, h: object, c: object, params: dict[str, object]):
    x = floating(op, "x", x)
    if x.ndim != 2:
        raise ValueError(f"{op}: expected x of shape (N, I), got {x.shape}")
    given = {k: floating(op, k, v) for k, v in params.items() if v is not None}
    both_biases = "bias_ih" in given and "bias_hh" in given
    if not both_biases and ("bias_ih" in given or "bias_hh" in given):
        raise ValueError(f"{op}: bias_ih and bias_hh must both be given or both be None")
    net = _net(op, kind, x, {_CELL_PARAMS[k]: v for k, v in given.items()}, 1, both_biases, False, 0)
    h = _state(op, "h", h, (x.shape[0], net.hidden)) if h is not None else None
    if h is None:
        raise ValueError(f"{op}: h is required")
    c = _state(op, "c", c, (x.shape[0], net.hidden)) if kind == "lstm" else None
    states = {"h": h} if c is None else {"h": h, "c": c}
    dtype = same_dtype(op, x=x, **states, **given)
    W = Weights(*(up(given[k]) if k in given else None for k in _CELL_PARAMS), None)
    _, h_new, c_new, run = _run(net.cell, up(x)[None], up(h), None if c is None else up(c), W, reverse=False)
    results = (down(h_new, dtype),) + (() if c is None else (down(c_new, dtype),))
    return results, CellCache(op, run, tuple(given), tuple(r.shape for r in results), dtype)


def _cell_backward(cache: CellCache, dout: object) -> dict[str, Array]:
    op, run, given, shapes, dtype = cache
    if len(shapes) == 1:
        douts = [up(check_dout(op, dout, shapes[0], dtype))]
    else:
        douts = _douts(op, dout, dict(zip(("h", "c"), shapes, strict=True)), dtype)
    dh = douts[0]
    dc = douts[1] if len(douts) == 2 else None
    dx, dh, dc, g = _run_back(run, np.zeros_like(dh)[None], dh, dc)
    grads = {"dx": dx[0], "dh": dh, **({"dc": dc} if dc is not None else {}), **{f"d{k}": g[k] for k in given}}
    return {k: down(v, dtype) for k, v in grads.items()}


def rnn_cell_forward(x: Array, h: Array, weight_ih: Array, weight_hh: Array, bias_ih: Array | None = None,
                     bias_hh: Array | None = None, nonlinearity: str = "tanh") -> tuple[Array, CellCache]:
    """``nn.RNNCell``: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``; x (N, I), h (N, H)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_cell: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'")
    params = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}
    (h_new,), cache = _cell_forward("rnn_cell", f"rnn_{nonlinearity}", x, h, None, params)
    return h_new, cache


def rnn_cell_backward(cache: CellCache, dout: Array) -> dict[str, Array]:
    return _cell_backward(cache, dout)


def lstm_cell_forward(x: Array, h: Array, c: Array, weight_ih: Array, weight_hh: Array,
                      bias_ih: Array | None = None,
                      bias_hh: Array | None = None) -> tuple[tuple[Array, Array], CellCache]:
    """``nn.LSTMCell``: returns ``((h', c'), cache)``; gate blocks i, f, g, o."""
    params = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}
    return _cell_forward("lstm_cell", "lstm", x, h, c, params)


def lstm_cell_backward(cache: CellCache, dout: tuple[Array, Array]) -> dict[str, Array]:
    """``dout = (dh', dc')``."""
    return _cell_backward(cache, dout)


def gru_cell_forward(x: Array, h: Array, weight_ih: Array, weight_hh: Array, bias_ih: Array | None = None,
                     bias_hh: Array | None = None) -> tuple[Array, CellCache]:
    """``nn.GRUCell``: gate blocks r, z, n; ``h' = (1 - z) n + z h``."""
    params = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}
    (h_new,), cache = _cell_forward("gru_cell", "gru", x, h, None, params)
    return h_new, cache


def gru_cell_backward(cache: CellCache, dout: Array) -> dict[str, Array]:
    return _cell_backward(cache, dout)
