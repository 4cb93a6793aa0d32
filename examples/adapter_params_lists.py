"""Adapter: the textbook ``params``/``grads`` list layers (``textbook_params_lists.py``) in our API; the
kit copies the reused gradient arrays right after each backward.

``pytest --impl examples/adapter_params_lists.py``"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "tests")]

import textbook_params_lists as tb  # noqa: E402
from harness import adapters as ad  # noqa: E402

affine_forward, affine_backward = ad.params_lists(tb.Affine, inputs=("x", "W", "b"), params=("W", "b"))
relu_forward, relu_backward = ad.params_lists(tb.Relu)
sigmoid_forward, sigmoid_backward = ad.params_lists(tb.Sigmoid)
softmax_with_loss_forward, softmax_with_loss_backward = ad.params_lists(tb.SoftmaxWithLoss, inputs=("x", "t"))
dropout_forward, dropout_backward = ad.params_lists(
    tb.Dropout, options=lambda o: {"dropout_ratio": o.get("p", 0.5)}, mode="train_flg", dropout=ad.InjectMask())

NON_INVERTED = {
    "op": "dropout",
    "checks": ["forward", "backward", "gradcheck", "property"],
    "match": "does not match|kept values must be",
    "reason": "non-inverted dropout, as the book teaches it: training keeps units unscaled and evaluation "
    "multiplies by 1 - p (torch scales kept units by 1 / (1 - p); its evaluation is the identity)",
}

DEVIATIONS = [
    NON_INVERTED,
    {"op": "affine", "match": "shapes .* not aligned", "reason": "Affine takes (N, in) only: N-D input is not "
     "flattened (the book's second volume dropped the reshape)"},
]
