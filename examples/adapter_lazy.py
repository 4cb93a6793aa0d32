"""Adapter: the textbook lazily built layers (``textbook_lazy.py``) in our API. Their weights are laid out
(out, in), ours (in, out): the kit transposes on the way in and the gradient on the way out.

``pytest --impl examples/adapter_lazy.py``"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "tests")]

import textbook_lazy as tb  # noqa: E402
from harness import adapters as ad  # noqa: E402

affine_forward, affine_backward = ad.lazy(
    lambda p: tb.Dense(units=p["W"].shape[0]), inputs=("x", "W", "b"), params={"W": "W", "b": "b"},
    layout={"W": ad.TRANSPOSE})
relu_forward, relu_backward = ad.lazy(tb.ReLU)
sigmoid_forward, sigmoid_backward = ad.lazy(tb.Sigmoid)
softmax_with_loss_forward, softmax_with_loss_backward = ad.lazy(tb.SoftmaxCrossEntropy, inputs=("x", "t"))

DEVIATIONS = [
    {"op": "affine", "match": "matmul|mismatch", "reason": "Dense takes (N, in) only: N-D input is not flattened"},
]
