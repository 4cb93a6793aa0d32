"""The adapter kits (harness.adapters) on correct toy implementations: each style wrapping the
reference's own layers must give the reference's results, with layouts and gradients mapped back,
reused gradient arrays copied and inputs untouched. These test the kits, not an implementation, so
they use ``reference`` directly whatever ``--impl`` says."""

from __future__ import annotations

import numpy as np
import pytest
from harness import adapters as ad

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


def test_optimizer_kit():
    """cs231n ``sgd_momentum(w, dw, config)`` and the book's in-place ``SGD.update(params, grads)``,
    as steps on named arrays that leave the caller's arrays untouched."""

    def sgd_momentum(w, dw, config):
        config.setdefault("learning_rate", 0.1)
        v = config.get("velocity", np.zeros_like(w))
        v = 0.9 * v - config["learning_rate"] * dw
        config["velocity"] = v
        return w + v, config

    class SGD:
        def update(self, params, grads):
            for k in params:
                params[k] -= 0.1 * grads[k]

    w, g = {"w": np.ones(3)}, {"w": np.full(3, 2.0)}
    step = ad.optimizer(sgd_momentum)
    w1, state = step(w, g)
    w2, state = step(w1, g, state)
    np.testing.assert_allclose(w2["w"], 1 - 0.2 - (0.9 * 0.2 + 0.2))
    w3, _ = ad.optimizer(SGD().update, style="inplace")(w, g)
    np.testing.assert_allclose(w3["w"], 0.8)
    np.testing.assert_array_equal(w["w"], 1.0)
