"""The adapter kits (harness.adapters) on correct toy implementations: each style wrapping the
reference's own layers must give the reference's results, with layouts and gradients mapped back,
reused gradient arrays copied and inputs untouched. These test the kits, not an implementation, so
they use ``reference`` directly whatever ``--impl`` says."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable

import numpy as np
import pytest
from harness import adapters as ad
from harness import checks, stateful
from harness.cases import backward_cases, seed_for
from harness.context import Ctx
from harness.deviations import declared
from harness.dtypes import DTYPES
from harness.impl import Impl
from harness.optim import (
    CONFIGS,
    DTYPE_NAMES,
    SHAPE,
    compare_trajectories,
    gradients,
    reference_trajectory,
    torch_trajectory,
)

import reference as ref


def _affine_case(seed: int = 0):
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    return x, W, b, rng.standard_normal((4, 5))


# -- toy layers in the four styles, all computing the reference's affine -----------------------------


def _functional_forward(x, w, b):
    return ref.affine_forward(x, w, b)


def _functional_backward(dout, cache):
    g = ref.affine_backward(cache, dout)
    return g["dx"], g["dW"], g["db"]


class _AttrLinear:
    """Weights (out, in) as in torch's nn.Linear; gradients in attributes."""

    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias

    def forward(self, x):
        out, self.cache = ref.affine_forward(x, self.weight.T, self.bias)
        return out

    def backward(self, dout):
        g = ref.affine_backward(self.cache, dout)
        self.dweight, self.dbias = g["dW"].T, g["db"]
        return g["dx"]


class _ListLinear:
    """Gradients written into the same arrays by every backward."""

    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]

    def forward(self, x):
        out, self.cache = ref.affine_forward(x, *self.params)
        return out

    def backward(self, dout):
        g = ref.affine_backward(self.cache, dout)
        self.grads[0][...] = g["dW"]
        self.grads[1][...] = g["db"]
        return g["dx"]


class _LazyLinear:
    """Parameters created (at random) by the first forward; weights (out, in)."""

    def __init__(self, units):
        self.units, self.params, self.grads = units, {}, {}

    def forward(self, x):
        if not self.params:
            n_in = int(np.prod(x.shape[1:]))
            self.params = {"kernel": np.random.default_rng(1).standard_normal((self.units, n_in)),
                           "bias": np.ones(self.units)}
        out, self.cache = ref.affine_forward(x, self.params["kernel"].T, self.params["bias"])
        return out

    def backward(self, dout):
        g = ref.affine_backward(self.cache, dout)
        self.grads["kernel"], self.grads["bias"] = g["dW"].T, g["db"]
        return g["dx"]


KITS = {
    "functional": lambda: ad.functional(_functional_forward, _functional_backward, inputs=("x", "W", "b"),
                                        grads=("dx", "dW", "db")),
    "layer_class": lambda: ad.layer_class(_AttrLinear, inputs=("x", "W", "b"), params=("W", "b"),
                                          grads={"dW": "dweight", "db": "dbias"}, layout={"W": ad.TRANSPOSE}),
    "params_lists": lambda: ad.params_lists(_ListLinear, inputs=("x", "W", "b"), params=("W", "b")),
    "lazy": lambda: ad.lazy(lambda p: _LazyLinear(p["kernel"].shape[0]), inputs=("x", "W", "b"),
                            params={"W": "kernel", "b": "bias"}, layout={"W": ad.TRANSPOSE}),
}


@pytest.mark.parametrize("kit", KITS)
def test_kit_matches_reference(kit):
    """Each kit around a correct affine gives the reference's output and gradients, in our layout,
    without touching the inputs or dout, and backward twice gives the same gradients."""
    fwd, bwd = KITS[kit]()
    x, W, b, dout = _affine_case()
    before = [a.copy() for a in (x, W, b, dout)]
    out, cache = fwd(x, W, b)
    want_out, want_cache = ref.affine_forward(x, W, b)
    want = ref.affine_backward(want_cache, dout)
    got = bwd(cache, dout)
    np.testing.assert_array_equal(out, want_out)
    assert sorted(got) == ["dW", "db", "dx"]
    for k in want:
        assert got[k].shape == want[k].shape, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    again = bwd(cache, dout)
    for k in want:
        np.testing.assert_array_equal(again[k], want[k], err_msg=f"{k} on a second backward")
    for a, a0 in zip((x, W, b, dout), before, strict=True):
        np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("kit", ["params_lists", "lazy"])
def test_reused_gradient_arrays_are_copied(kit):
    """A second backward on the same layer must not change the gradients the first one returned."""
    fwd, bwd = KITS[kit]()
    x, W, b, dout = _affine_case()
    _, cache = fwd(x, W, b)
    first = bwd(cache, dout)
    kept = {k: v.copy() for k, v in first.items()}
    bwd(cache, 2 * dout)
    for k in kept:
        np.testing.assert_array_equal(first[k], kept[k], err_msg=k)


def test_options_dict_and_positional_cache_order():
    """functional: our options reach the user's param dict; ``dout_first=False`` for (cache, dout)."""
    seen = {}

    def forward(x, param):
        seen.update(param)
        return ref.leaky_relu_forward(x, negative_slope=param["alpha"])

    fwd, bwd = ad.functional(forward, lambda cache, dout: ref.leaky_relu_backward(cache, dout)["dx"],
                             options=lambda o: {"alpha": o["negative_slope"]}, dout_first=False)
    x = np.array([-2.0, 0.0, 3.0])
    out, cache = fwd(x, negative_slope=0.5)
    assert seen == {"alpha": 0.5}
    np.testing.assert_array_equal(out, [-1.0, 0.0, 3.0])
    np.testing.assert_array_equal(bwd(cache, np.ones(3))["dx"], [0.5, 0.5, 1.0])


def test_channels_last_layout():
    """A channel-last per-channel PReLU mapped to our NCHW one: input, output, dout and gradients."""

    class PReLUNHWC:
        def __init__(self, alpha):
            self.alpha = alpha

        def forward(self, x):
            self.x = x
            return np.where(x > 0, x, self.alpha * x)

        def backward(self, dout):
            self.dalpha = np.sum(np.where(self.x > 0, 0, self.x) * dout, axis=(0, 1, 2))
            return np.where(self.x > 0, dout, self.alpha * dout)

    fwd, bwd = ad.layer_class(PReLUNHWC, inputs=("x", "weight"), params=("weight",), grads={"dweight": "dalpha"},
                              layout={"x": ad.CHANNELS_LAST, "out": ad.CHANNELS_LAST})
    rng = np.random.default_rng(2)
    x, w, dout = rng.standard_normal((2, 3, 4, 5)), rng.random(3), rng.standard_normal((2, 3, 4, 5))
    out, cache = fwd(x, w)
    want_out, want_cache = ref.prelu_forward(x, w)
    np.testing.assert_allclose(out, want_out, rtol=1e-15)
    got, want = bwd(cache, dout), ref.prelu_backward(want_cache, dout)
    for k in ("dx", "dweight"):
        assert got[k].shape == want[k].shape
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, err_msg=k)


class _BookDropout:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask / (1 - self.dropout_ratio)
        return x

    def backward(self, dout):
        return dout * self.mask / (1 - self.dropout_ratio)


@pytest.mark.parametrize("training", [True, False])
def test_dropout_mask_injection_and_mode(training):
    """The harness's keep-mask reaches code that draws it with np.random.rand; np.random.rand is put
    back; ``training`` reaches the ``train_flg`` keyword."""
    fwd, bwd = ad.layer_class(_BookDropout, options=lambda o: {"dropout_ratio": o["p"]}, mode="train_flg",
                              dropout=ad.InjectMask())
    rand = np.random.rand
    rng = np.random.default_rng(3)
    x, dout, mask = rng.standard_normal((5, 7)), rng.standard_normal((5, 7)), rng.random((5, 7)) >= 0.3
    out, cache = fwd(x, p=0.3, training=training, mask=mask)
    assert np.random.rand is rand
    want_out, want_cache = ref.dropout_forward(x, p=0.3, training=training, mask=mask)
    np.testing.assert_allclose(out, want_out, rtol=1e-15)
    if training:
        np.testing.assert_allclose(bwd(cache, dout)["dx"], ref.dropout_backward(want_cache, dout)["dx"], rtol=1e-15)


def test_scalar_results_are_arrays():
    fwd, bwd = ad.functional(lambda x: (np.sum(x), x.shape), lambda dout, shape: np.full(shape, dout))
    out, cache = fwd(np.ones(3))
    assert isinstance(out, np.ndarray) and out.shape == ()
    assert isinstance(bwd(cache, np.asarray(2.0))["dx"], np.ndarray)


# -- the suite through a kit: the registry's checks on an implementation module made of kit pairs --------


def _suite(op: str, pairs: dict[str, Callable], variants: tuple[str, ...] | None = None) -> list[str]:
    """Forward and backward against torch on the op's normal-family float64 cases (the kits never touch
    dtypes), and with every variant (``variants`` None) the stateful pass, for a module holding ``pairs``;
    the failures' headlines."""
    module = types.ModuleType(f"kit_{op}")
    vars(module).update(pairs)
    impl = Impl(f"kit_{op}", module)
    failures = []

    def attempt(check: str, case_id: str, case, run: Callable) -> None:
        ctx = Ctx(impl, check, f"test_adapters[{case_id}]", case, np.random.default_rng(seed_for(check, case_id)),
                  op_name=op)
        try:
            run(ctx)
        except AssertionError as err:
            failures.append(str(err).splitlines()[0])

    for case in backward_cases():
        if case.op == op and case.family == "normal" and case.layout == "C" and case.dtype == "float64":
            if variants is None or case.variant in variants:
                attempt("forward", case.id, case, checks.forward)
                attempt("backward", case.id, case, checks.backward)
    for name, fn in stateful.CHECKS.items() if variants is None else ():
        attempt(name, op, None, functools.partial(stateful.run, op=op, check=fn))
    return failures


def _reorder(a: np.ndarray, order: str, to: str) -> np.ndarray:
    """Row blocks of ``a`` (gate blocks in ``order``) put in the order ``to`` (the test's own code, not the kit's)."""
    h = a.shape[0] // len(order)
    return np.concatenate([a[order.index(g) * h:(order.index(g) + 1) * h] for g in to])


class _UserCell:
    """A recurrent cell storing its gate blocks in ``ORDER``; computes through the reference in torch's order,
    gradients left in ``d<param>`` attributes in its own order."""

    OP, TORCH, ORDER, DATA = "lstm_cell", "ifgo", "ifog", ("x", "h", "c")

    def __init__(self, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        given = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}
        self.params = {k: v for k, v in given.items() if v is not None}

    def forward(self, *data):
        torch_order = {k: _reorder(v, self.ORDER, self.TORCH) for k, v in self.params.items()}
        out, self.cache = getattr(ref, f"{self.OP}_forward")(*data, **torch_order)
        return out

    def backward(self, dout):
        g = getattr(ref, f"{self.OP}_backward")(self.cache, dout)
        for k in self.params:
            setattr(self, f"d{k}", _reorder(g[f"d{k}"], self.TORCH, self.ORDER))
        return tuple(g[f"d{n}"] for n in self.DATA)


class _UserGRUCell(_UserCell):
    OP, TORCH, ORDER, DATA = "gru_cell", "rzn", "zrn", ("x", "h")


CELL_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _cell_kit(cls: type, order: str) -> dict[str, Callable]:
    gates = ad.gate_order(order, ad.LSTM_GATES if cls.OP == "lstm_cell" else ad.GRU_GATES)
    fwd, bwd = ad.layer_class(cls, inputs=cls.DATA + CELL_PARAMS, params=CELL_PARAMS,
                              grads={f"d{p}": f"d{p}" for p in CELL_PARAMS}, returns=tuple(f"d{n}" for n in cls.DATA),
                              layout=dict.fromkeys(CELL_PARAMS, gates))
    return {f"{cls.OP}_forward": fwd, f"{cls.OP}_backward": bwd}


@pytest.mark.parametrize("cls", [_UserCell, _UserGRUCell], ids=["lstm_cell-ifog", "gru_cell-zrn"])
def test_gate_order_kit(cls):
    """A cell with its own gate order passes the suite through ``gate_order``; with the identity mapping
    (our order assumed) the forward check fails."""
    assert _suite(cls.OP, _cell_kit(cls, cls.ORDER)) == []
    wrong = _suite(cls.OP, _cell_kit(cls, cls.TORCH))
    assert any(f"{cls.OP} · forward" in f and "does not match torch" in f for f in wrong), wrong


def test_gate_order_mapping():
    """Blocks permuted both ways, composed with a transpose; a non-permutation is refused."""
    w = np.repeat(np.arange(4.0), 2)[:, None] * np.ones((1, 3))  # blocks i=0, f=1, g=2, o=3 (ours)
    lay = ad.gate_order("ifog", ad.LSTM_GATES)
    np.testing.assert_array_equal(lay.to_user(w)[::2, 0], [0, 1, 3, 2])
    np.testing.assert_array_equal(lay.from_user(lay.to_user(w)), w)
    both = lay.then(ad.TRANSPOSE)
    assert both.to_user(w).shape == (3, 8)
    np.testing.assert_array_equal(both.from_user(both.to_user(w)), w)
    with pytest.raises(ValueError, match="not a permutation"):
        ad.gate_order("ifgg", ad.LSTM_GATES)


class _UserBatchNorm:
    """Running statistics as attributes the forward updates in place (nn.BatchNorm-like); ``biased``: the
    running variance takes the biased batch variance."""

    def __init__(self, gamma=None, beta=None, momentum=0.1, eps=1e-5, nbt=0, biased=False):
        self.gamma, self.beta, self.momentum, self.eps, self.nbt, self.biased = gamma, beta, momentum, eps, nbt, biased
        self.running_mean = self.running_var = None
        self.train_flg = True

    def forward(self, x):
        old = self.running_var.copy() if self.running_var is not None else None
        (out, mean, var), self.cache = ref.batch_norm_forward(
            x, self.gamma, self.beta, self.running_mean, self.running_var, training=self.train_flg,
            momentum=self.momentum, eps=self.eps, num_batches_tracked=self.nbt)
        if self.running_mean is not None:
            n = x.size // x.shape[1]
            if self.biased and self.train_flg and n > 1:
                m = self.momentum if self.momentum is not None else 1 / (self.nbt + 1)
                var = ((1 - m) * old + (var - (1 - m) * old) * ((n - 1) / n)).astype(var.dtype)
            self.running_mean[...] = mean
            self.running_var[...] = var
        return out

    def backward(self, dout):
        g = ref.batch_norm_backward(self.cache, dout)
        self.dgamma, self.dbeta = g.get("dweight"), g.get("dbias")
        return g["dx"]


def _bn_kit(names: dict[str, str], biased: bool = False) -> dict[str, Callable]:
    fwd, bwd = ad.layer_class(
        functools.partial(_UserBatchNorm, biased=biased), inputs=("x", "weight", "bias"), params=("weight", "bias"),
        grads={"dweight": "dgamma", "dbias": "dbeta"}, buffers=ad.Buffers(names),
        options=lambda o: {"momentum": o.get("momentum", 0.1), "eps": o.get("eps", 1e-5),
                           "nbt": o.get("num_batches_tracked", 0)},
        mode=lambda layer, training: setattr(layer, "train_flg", training))
    return {"batch_norm_forward": fwd, "batch_norm_backward": bwd}


BN_BUFFERS = {"running_mean": "running_mean", "running_var": "running_var"}


def test_batch_norm_buffers_kit():
    """Running statistics updated in place on the layer pass the suite through ``Buffers``; swapped names
    fail; a biased running variance fails only on running_var, which ``biased_running_var()`` declares."""
    assert _suite("batch_norm", _bn_kit(BN_BUFFERS)) == []
    swapped = _suite("batch_norm", _bn_kit(dict(zip(BN_BUFFERS, reversed(BN_BUFFERS.values()), strict=True))),
                     variants=("train",))
    assert any("batch_norm · forward · running_mean" in f for f in swapped), swapped
    biased = _suite("batch_norm", _bn_kit(BN_BUFFERS, biased=True), variants=("train", "eval"))
    assert biased and all("batch_norm · forward · running_var" in f for f in biased), biased
    declaration = declared(types.SimpleNamespace(DEVIATIONS=[ad.biased_running_var()]))[0]
    assert all(declaration.covers("batch_norm", "forward", "float32", f) for f in biased)


def test_batch_norm_buffers_functional_and_returned():
    """cs231n's ``bn_param["running_mean"]`` (functional kit) and a forward returning (out, mean, var)."""

    def bn_forward(x, gamma, beta, bn_param):
        (out, m, v), cache = ref.batch_norm_forward(
            x, gamma, beta, bn_param["running_mean"], bn_param["running_var"], training=bn_param["mode"] == "train")
        bn_param["running_mean"][...], bn_param["running_var"][...] = m, v  # in place, as cs231n's code does
        return out, cache

    def bn_returning(x, gamma, beta, rm, rv):
        (out, m, v), cache = ref.batch_norm_forward(x, gamma, beta, rm, rv)
        return out, m, v, cache

    def bn_backward(dout, cache):
        g = ref.batch_norm_backward(cache, dout)
        return g["dx"], g["dweight"], g["dbias"]

    grads = ("dx", "dweight", "dbias")
    names = {"running_mean": "running_mean", "running_var": "running_var"}
    kits = [
        ad.functional(bn_forward, bn_backward, inputs=("x", "weight", "bias"), grads=grads, buffers=ad.Buffers(names),
                      options=lambda o: {"mode": "train" if o.get("training", True) else "test"}),
        ad.functional(bn_returning, bn_backward, inputs=("x", "weight", "bias", "running_mean", "running_var"),
                      grads=grads, buffers=ad.Buffers(names, returned=True)),
    ]
    rng = np.random.default_rng(5)
    x, w, b, dout = rng.standard_normal((4, 3)), rng.random(3), rng.random(3), rng.standard_normal((4, 3))
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    kept = rm.copy(), rv.copy()
    (want, want_m, want_v), cache = ref.batch_norm_forward(x, w, b, rm, rv)
    want_g = ref.batch_norm_backward(cache, dout)
    for fwd, bwd in kits:
        (out, m, v), cache = fwd(x, w, b, running_mean=rm, running_var=rv)
        for got, expected in ((out, want), (m, want_m), (v, want_v)):
            np.testing.assert_array_equal(got, expected)
        for k, g in bwd(cache, dout).items():
            np.testing.assert_array_equal(g, want_g[k], err_msg=k)
        np.testing.assert_array_equal(rm, kept[0])  # ours are never written
        np.testing.assert_array_equal(rv, kept[1])


# -- one layer across calls ---------------------------------------------------------------------------


class _CopyingLinear(_AttrLinear):
    """Keeps a copy of its parameters: it cannot be handed new ones, so every call builds a fresh layer."""

    def __init__(self, weight, bias):
        super().__init__(weight.copy(), bias.copy())


@pytest.mark.parametrize("kit", [*KITS, "copying"])
def test_reuse_layers(kit):
    """Inside ``reuse_layers`` a class kit keeps one layer and gives it the next call's parameters (the
    outputs are those of the new parameters); outside, or when the layer copied its parameters, each
    forward builds a fresh layer."""
    fwd, _ = KITS[kit]() if kit != "copying" else ad.layer_class(
        _CopyingLinear, inputs=("x", "W", "b"), params=("W", "b"), grads={"dW": "dweight", "db": "dbias"},
        layout={"W": ad.TRANSPOSE})
    x, W, b, _ = _affine_case()
    W2, b2 = 2 * W, b - 1
    with ad.reuse_layers():
        out1, c1 = fwd(x, W, b)
        out2, c2 = fwd(x, W2, b2)
    np.testing.assert_array_equal(out1, ref.affine_forward(x, W, b)[0])
    np.testing.assert_array_equal(out2, ref.affine_forward(x, W2, b2)[0])
    same = c1.user is c2.user
    assert same == (kit not in ("functional", "copying")), same
    assert fwd(x, W, b)[1].user is not fwd(x, W, b)[1].user or kit == "functional"


# -- optimizers ---------------------------------------------------------------------------------------


def _cs231n_adam(w, dw, config):
    """cs231n's ``adam(w, dw, config) -> (next_w, config)`` (m, v, t in the config), computing through the
    reference's adam."""
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    state = {"step": np.asarray(config["t"], np.float32), "exp_avg": config["m"], "exp_avg_sq": config["v"]} \
        if "t" in config else {}
    next_w, state = ref.adam(w, dw, state, lr=config["learning_rate"], betas=(config["beta1"], config["beta2"]),
                             eps=config["epsilon"])
    config["m"], config["v"], config["t"] = state["exp_avg"], state["exp_avg_sq"], int(state["step"])
    return next_w, config


class _BookAdam:
    """The book's ``Adam(lr, beta1, beta2).update(params, grads)``: in place, state in self.m/self.v
    (dicts by parameter) and self.iter, computing through the reference's adam."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2, self.iter, self.m, self.v = lr, beta1, beta2, 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m, self.v = {}, {}
        for k in params:
            state = ({"step": np.asarray(self.iter, np.float32), "exp_avg": self.m[k], "exp_avg_sq": self.v[k]}
                     if k in self.m else {})
            new, state = ref.adam(params[k], grads[k], state, lr=self.lr, betas=(self.beta1, self.beta2))
            params[k][...] = new
            self.m[k], self.v[k] = state["exp_avg"], state["exp_avg_sq"]
        self.iter += 1


def _cs231n_options(o):
    o = ad.only(o, "lr", "betas", "eps")
    beta1, beta2 = o.get("betas", (0.9, 0.999))
    return {"learning_rate": o.get("lr", 1e-3), "beta1": beta1, "beta2": beta2, "epsilon": o.get("eps", 1e-8)}


def _book_options(o):
    o = ad.only(o, "lr", "betas")
    beta1, beta2 = o.get("betas", (0.9, 0.999))
    return {"lr": o.get("lr", 1e-3), "beta1": beta1, "beta2": beta2}


ADAM_STATE = {"exp_avg": "m", "exp_avg_sq": "v"}
OPTIMIZER_KITS = {
    "config": lambda state: ad.optimizer(_cs231n_adam, state={**state, "step": ad.step_count("t")},
                                         options=_cs231n_options),
    "object": lambda state: ad.optimizer(_BookAdam, style="object", state={**state, "step": ad.step_count("iter")},
                                         options=_book_options),
}


def _trajectories(core: Callable) -> tuple[list[str], list[str]]:
    """tests/test_optim.py's Adam trajectories (float32 and float64) for a module whose ``adam`` is ``core``:
    (configurations passed, failure headlines); unsupported configurations are skipped."""
    impl = Impl("kit_adam", types.SimpleNamespace(adam=core))
    passed, failures = [], []
    for cfg in CONFIGS:
        for dtype in DTYPE_NAMES:
            if cfg.optimizer != "Adam":
                continue
            case_id = f"{cfg.id}-{dtype}"
            ctx = Ctx(impl, "trajectory", case_id, None, np.random.default_rng(seed_for("test_trajectory", case_id)),
                      op_name="Adam")
            dt = DTYPES[dtype]
            param0, grads = ctx.rng.standard_normal(SHAPE).astype(dt.np), gradients(ctx.rng, dt)
            try:
                ours = reference_trajectory(ctx, cfg, param0, grads)
                compare_trajectories(ctx, cfg, dt, grads, param0, ours, torch_trajectory(cfg, param0, grads))
                passed.append(case_id)
            except AssertionError as err:
                failures.append(str(err).splitlines()[0])
            except pytest.skip.Exception:
                continue
    return passed, failures


@pytest.mark.parametrize("style", OPTIMIZER_KITS)
def test_optimizer_kit(style):
    """A cs231n-style and a book-style Adam run tests/test_optim.py's trajectories through the kit (the
    configurations they support; the others are skipped as not implemented); swapping the two moment
    entries in the mapping fails."""
    passed, failures = _trajectories(OPTIMIZER_KITS[style](ADAM_STATE))
    assert failures == [] and len(passed) >= 4, (passed, failures)
    _, wrong = _trajectories(OPTIMIZER_KITS[style]({"exp_avg": "v", "exp_avg_sq": "m"}))
    assert wrong and all("state['exp_avg" in f for f in wrong), wrong


def test_optimizer_kit_leaves_inputs_alone():
    """The user's code gets copies: its in-place updates never reach the caller's param, grad or state."""
    core = OPTIMIZER_KITS["object"](ADAM_STATE)
    w, g = np.ones(3), np.full(3, 2.0)
    w1, state = core(w, g, {}, lr=0.1)
    kept = {k: np.array(v, copy=True) for k, v in state.items()}
    w2, _ = core(w1, g, state, lr=0.1)
    np.testing.assert_array_equal(w, 1.0)
    for k, v in kept.items():
        np.testing.assert_array_equal(state[k], v)
    want1, s = ref.adam(w, g, {}, lr=0.1)
    np.testing.assert_array_equal(w1, want1)
    np.testing.assert_array_equal(w2, ref.adam(want1, g, s, lr=0.1)[0])
    assert state["step"].dtype == np.float32 and float(state["step"]) == 1
