"""Adapter: the textbook layer classes (``textbook_layers.py``: gradients in attributes) in our API.

``pytest --impl examples/adapter_layers.py``"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "tests")]

import textbook_layers as tb  # noqa: E402
from harness import adapters as ad  # noqa: E402

affine_forward, affine_backward = ad.layer_class(
    tb.Affine, inputs=("x", "W", "b"), params=("W", "b"), grads={"dW": "dW", "db": "db"})
relu_forward, relu_backward = ad.layer_class(tb.Relu)
sigmoid_forward, sigmoid_backward = ad.layer_class(tb.Sigmoid)
softmax_with_loss_forward, softmax_with_loss_backward = ad.layer_class(tb.SoftmaxWithLoss, inputs=("x", "t"))
dropout_forward, dropout_backward = ad.layer_class(
    tb.Dropout, options=lambda o: {"dropout_ratio": o.get("p", 0.5)}, mode="train_flg",
    dropout=ad.InjectMask())  # the book keeps where rand(...) > dropout_ratio

NON_INVERTED = {
    "op": "dropout",
    "checks": ["forward", "backward", "gradcheck", "property"],
    "match": "does not match|kept values must be",
    "reason": "non-inverted dropout, as the book teaches it: training keeps units unscaled and evaluation "
    "multiplies by 1 - p (torch scales kept units by 1 / (1 - p); its evaluation is the identity)",
}

DEVIATIONS = [
    NON_INVERTED,
]

# The newer kits: running statistics kept on the layer, gate blocks in another order, an in-place optimizer.


def _bn_options(momentum: float | None = 0.1, eps: float = 1e-5, num_batches_tracked: int = 0) -> dict:
    if momentum is None:
        raise ValueError("batch_norm: the book's layer has no cumulative average (momentum=None)")
    return {"momentum": 1 - momentum, "eps": eps}  # the book's momentum is the fraction kept


batch_norm_forward, batch_norm_backward = ad.layer_class(
    tb.BatchNormalization, inputs=("x", "weight", "bias"), params=("weight", "bias"),
    grads={"dweight": "dgamma", "dbias": "dbeta"}, mode="train_flg",
    buffers=ad.Buffers({"running_mean": "running_mean", "running_var": "running_var"}),
    options=lambda o: _bn_options(**o))
_CELL = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
lstm_cell_forward, lstm_cell_backward = ad.layer_class(
    tb.LSTMCell, inputs=("x", "h", "c", *_CELL), params=_CELL, returns=("dx", "dh", "dc"),
    grads={"dweight_ih": "dW_ih", "dweight_hh": "dW_hh", "dbias_ih": "db_ih", "dbias_hh": "db_hh"},
    layout=dict.fromkeys(_CELL, ad.gate_order("ifog", ad.LSTM_GATES)))
adam = ad.optimizer(
    tb.Adam, style="object", state={"exp_avg": "m", "exp_avg_sq": "v", "step": ad.step_count("iter")},
    options=lambda o: {"lr": ad.only(o, "lr", "betas").get("lr", 1e-3),
                       **dict(zip(("beta1", "beta2"), o.get("betas", (0.9, 0.999)), strict=True))})

DEVIATIONS += [
    ad.biased_running_var("the book's running variance takes the biased batch variance (torch: unbiased)"),
    {"op": "Adam", "checks": ["trajectory"], "reason": "the book adds eps = 1e-7 to sqrt(v) before the bias "
     "correction (torch adds eps = 1e-8 after it): steps differ where gradients are tiny"},
]
