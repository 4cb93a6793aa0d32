"""Whole networks trained side by side with their torch twins.

One table of networks (the book's two-layer MLP, with and without dropout; a small CNN; an LSTM
language model), one generic check: the reference network (layers and optimizer from the
implementation under test) and a ``torch.nn`` twin start from identical weights and take the same
optimizer steps on the same generated batches (dropout through the reference layer's keep-mask).
In float64 the loss at every step and every parameter and buffer at the end must agree within a
stated tolerance; in float32 the two loss curves must stay within a stated band.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from harness import impl
from harness.dtypes import DTYPES, Tol, to_numpy
from test_layers import LayerCtx, LSTMOutput, SharedMaskDropout, copy_to_torch, from_torch, layers, sequence_loss
from torch import nn

STEPS = 100
BATCH = 8
BATCHES = STEPS + 1  # one optimizer step per batch, then the last batch evaluated in eval mode

# Float64: both sides compute the same functions; they differ only in summation order and BLAS
# kernels (~1e-16 relative per operation), which 100 steps amplify but do not make chaotic at these
# learning rates. Measured: losses within 1e-13 relative, parameters within 1e-14 absolute (the
# largest relative differences, ~3e-12, are on parameters near zero). The tolerance leaves a margin
# of ~1000 on losses and ~100 on parameters, and still fails any real difference of semantics.
TOL64 = Tol(1e-10, 1e-12, "float64 training: rounding differences amplified over the steps; measured 1e-13 / 1e-14")
# Float32: each step's rounding differences (~6e-8 relative per operation) feed the next steps; the
# curves agree to ~1e-7 until rounding decides a near-tie differently (a max-pool window whose two
# largest values are within an ULP, or a ReLU input at zero). The gradients then differ by a discrete
# amount and the trajectories separate, as two float32 runs of torch itself would (seen in
# scripts/train.py's float32 run: the first max-pool flip against float64, then growth). Measured over
# the 100 steps: within 2e-6 relative for the MLPs and the LSTM, 4e-5 for the CNN (from step ~75).
BAND32 = Tol(1e-3, 1e-4, "float32 training: a band around torch's loss curve; measured within 4e-5 relative")


# -- generated data --------------------------------------------------------------------------------

def mixture(rng: np.random.Generator, dim: int = 6, classes: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """Points around one of ``classes`` random centres in ``dim`` dimensions; the label is the centre."""
    centres = rng.normal(0, 1.5, (classes, dim))
    t = rng.integers(0, classes, (BATCHES, BATCH))
    x = centres[t] + rng.standard_normal((BATCHES, BATCH, dim))
    return list(zip(x, t, strict=True))


def bars(rng: np.random.Generator, size: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    """1 × 8 × 8 images in noise: a horizontal bar (class 0), a vertical bar (1) or a 3 × 3 block (2)."""
    t = rng.integers(0, 3, (BATCHES, BATCH))
    x = 0.3 * rng.standard_normal((BATCHES, BATCH, 1, size, size))
    r, c = rng.integers(0, size - 2, (2, BATCHES, BATCH))
    for s, b in np.ndindex(BATCHES, BATCH):
        i, j = r[s, b], c[s, b]
        shape = [(i, slice(None)), (slice(None), j), (slice(i, i + 3), slice(j, j + 3))][t[s, b]]
        x[s, b, 0][shape] += 1
    return list(zip(x, t, strict=True))


def markov(rng: np.random.Generator, vocab: int = 11, length: int = 6) -> list[tuple[np.ndarray, np.ndarray]]:
    """Token sequences from a random Markov chain with peaked transitions; the target is the next token."""
    cum = np.cumsum(rng.dirichlet(np.full(vocab, 0.2), vocab), axis=1)
    seq = np.empty((BATCHES, BATCH, length + 1), np.int64)
    seq[..., 0] = rng.integers(0, vocab, (BATCHES, BATCH))
    for i in range(length):
        u = rng.random((BATCHES, BATCH, 1))
        seq[..., i + 1] = np.minimum((cum[seq[..., i]] < u).sum(axis=-1), vocab - 1)
    return [(s[:, :-1], s[:, 1:]) for s in seq]


# -- the table of networks -------------------------------------------------------------------------

@dataclass(frozen=True)
class Network:
    name: str
    doc: str
    build: Callable  # (layers module, rng, dtype) -> (Sequential, loss layer)
    twin: Callable  # (reference net) -> (torch nn.Sequential with the same child names, loss function)
    data: Callable  # rng -> [(x, t)] * BATCHES
    optimizer: tuple[str, dict]  # reference (from the implementation) and torch.optim class name, options


def mlp(dropout: float = 0.0) -> tuple[Callable, Callable]:
    def build(L: object, rng: np.random.Generator, dtype: object) -> tuple:
        body = [L.Affine(6, 16, rng, dtype=dtype), L.ReLU()]
        body += [L.Dropout(dropout, rng)] if dropout else []
        return L.Sequential(*body, L.Affine(16, 3, rng, dtype=dtype)), L.SoftmaxWithLoss()

    def twin(net: object) -> tuple:
        drop = [SharedMaskDropout(net[2])] if dropout else []
        return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), *drop, nn.Linear(16, 3)), F.cross_entropy

    return build, twin


def cnn_build(L: object, rng: np.random.Generator, dtype: object) -> tuple:
    # No convolution bias: batch norm removes it, so its gradient is rounding noise (~1e-17), which Adam
    # would turn into full-size steps of either sign on each side.
    return L.Sequential(
        L.Conv2d(1, 4, 3, rng, padding=1, bias=False, dtype=dtype), L.BatchNorm2d(4, dtype=dtype), L.ReLU(),
        L.MaxPool2d(2), L.Flatten(), L.Affine(64, 3, rng, dtype=dtype),
    ), L.CrossEntropyLoss()


def cnn_twin(net: object) -> tuple:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 3)), F.cross_entropy


def lm_build(L: object, rng: np.random.Generator, dtype: object) -> tuple:
    return L.Sequential(
        L.Embedding(11, 8, rng, dtype=dtype), L.LSTM(8, 16, rng, batch_first=True, dtype=dtype),
        L.TimeAffine(16, 11, rng, dtype=dtype),
    ), L.SequenceCrossEntropyLoss()


def lm_twin(net: object) -> tuple:
    return nn.Sequential(nn.Embedding(11, 8), LSTMOutput(8, 16, batch_first=True), nn.Linear(16, 11)), sequence_loss


NETWORKS = [
    Network("mlp", "Affine(6, 16) → ReLU → Affine(16, 3) → SoftmaxWithLoss (the book's two-layer net)",
            *mlp(), mixture, ("SGD", {"lr": 0.1, "momentum": 0.9})),
    Network("mlp-dropout", "Affine(6, 16) → ReLU → Dropout(0.3) → Affine(16, 3) → SoftmaxWithLoss",
            *mlp(0.3), mixture, ("Adam", {"lr": 0.01})),
    Network("cnn", "Conv2d(1, 4, 3, padding=1, no bias) → BatchNorm2d(4) → ReLU → MaxPool2d(2) → Flatten → "
            "Affine(64, 3) → CrossEntropyLoss on 1 × 8 × 8 images", cnn_build, cnn_twin, bars,
            ("Adam", {"lr": 0.03})),
    Network("lstm-lm", "Embedding(11, 8) → LSTM(8, 16) → TimeAffine(16, 11) → SequenceCrossEntropyLoss, "
            "sequences of 6 tokens", lm_build, lm_twin, markov, ("SGD", {"lr": 0.5, "momentum": 0.9})),
]
BY_NAME = {n.name: n for n in NETWORKS}


@dataclass
class Trained:
    ref: np.ndarray  # loss per step, then the loss in eval mode on the last batch
    torch: np.ndarray
    ref_state: dict[str, np.ndarray]  # parameters and buffers at the end
    torch_state: dict[str, np.ndarray]
    seconds: float


def train(network: Network, dtype: np.dtype, rng: np.random.Generator) -> Trained:
    """Both networks from the same initial weights: STEPS optimizer steps on the same batches, then the
    last batch in eval mode (batch norm on its running statistics, no dropout)."""
    L = layers()
    net, loss = network.build(L, rng, dtype)
    twin, twin_loss = network.twin(net)
    twin = twin.to(DTYPES[np.dtype(dtype).name].torch)
    copy_to_torch(net, twin)
    kind, options = network.optimizer
    opt = impl.current().get(kind)(net.params(), **options)
    topt = getattr(torch.optim, kind)(twin.parameters(), **options)
    data = [(x.astype(dtype) if x.dtype.kind == "f" else x, t) for x, t in network.data(rng)]
    ref, tor = [], []
    start = time.perf_counter()
    for step, (x, t) in enumerate(data):
        if step == STEPS:
            net.eval()
            twin.eval()
        net.zero_grad()
        ref.append(loss.forward(net.forward(x), t))
        out = twin_loss(twin(torch.from_numpy(x)), torch.from_numpy(t))
        tor.append(to_numpy(out))
        if step < STEPS:
            net.backward(loss.backward())
            opt.step(net.grads())
            topt.zero_grad()
            out.backward()
            topt.step()
    seconds = time.perf_counter() - start
    ref_state = {k: v.copy() for k, v in net.state_dict().items()}
    return Trained(np.array(ref), np.array(tor), ref_state, from_torch(net, twin), seconds)


def training_ctx(ctx: object, network: Network, dtype: str, t: Trained) -> LayerCtx:
    kind, options = network.optimizer
    about = [
        f"  network   {network.doc}",
        f"  training  {STEPS} steps of {kind}({', '.join(f'{k}={v}' for k, v in options.items())}), batch {BATCH}, "
        f"{dtype}, in {t.seconds:.2f} s",
        f"  losses    reference {t.ref[0]:.6g} → {t.ref[-2]:.6g} (eval {t.ref[-1]:.6g}), "
        f"torch {t.torch[0]:.6g} → {t.torch[-2]:.6g} (eval {t.torch[-1]:.6g})",
    ]
    out = LayerCtx(ctx.impl, ctx.check, ctx.nodeid, ctx.case, ctx.rng, ctx.properties, ctx.op_name)
    out.about = about
    return out


@pytest.mark.parametrize("op", list(BY_NAME))
def test_training_float64(ctx, op):
    network = BY_NAME[op]
    t = train(network, np.float64, ctx.rng)
    ctx = training_ctx(ctx, network, "float64", t)
    f64 = DTYPES["float64"]
    ctx.compare(f"loss at every step (index = step; {STEPS} is eval mode)", t.ref, t.torch, f64, TOL64, {})
    for name, a in t.ref_state.items():
        if a.dtype.kind == "i":
            if a != t.torch_state[name]:
                ctx.fail(name, f"is {a} after training, torch's is {t.torch_state[name]}")
        else:
            ctx.compare(f"{name} after training", a, t.torch_state[name], f64, TOL64, {})
    first, last = t.ref[:10].mean(), t.ref[STEPS - 10:STEPS].mean()
    if not last < 0.8 * first:  # a network that does not learn would make the comparison weak
        ctx.fail("loss", f"mean of 10 steps did not fall by 20% (from {first:.4g} to {last:.4g}): data or step size")


@pytest.mark.parametrize("op", list(BY_NAME))
def test_training_float32(ctx, op):
    network = BY_NAME[op]
    t = train(network, np.float32, ctx.rng)
    ctx = training_ctx(ctx, network, "float32", t)
    ctx.compare(f"loss at every step (index = step; {STEPS} is eval mode)", t.ref, t.torch, DTYPES["float32"],
                BAND32, {})
