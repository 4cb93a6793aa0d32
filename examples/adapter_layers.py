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
