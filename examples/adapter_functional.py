"""Adapter: the textbook functional layers (``textbook_functional.py``, cs231n style) in our API.

``pytest --impl examples/adapter_functional.py``"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "tests")]

import textbook_functional as tb  # noqa: E402
from harness import adapters as ad  # noqa: E402

affine_forward, affine_backward = ad.functional(
    tb.affine_forward, tb.affine_backward, inputs=("x", "W", "b"), grads=("dx", "dW", "db"))
relu_forward, relu_backward = ad.functional(tb.relu_forward, tb.relu_backward)
sigmoid_forward, sigmoid_backward = ad.functional(tb.sigmoid_forward, tb.sigmoid_backward)
softmax_with_loss_forward, softmax_with_loss_backward = ad.functional(
    tb.softmax_loss_forward, tb.softmax_loss_backward, inputs=("x", "t"))
dropout_forward, dropout_backward = ad.functional(
    tb.dropout_forward, tb.dropout_backward,
    options=lambda o: {"p": 1 - o.get("p", 0.5), "mode": "train" if o.get("training", True) else "test"},
    dropout=ad.InjectMask(keep=0.0, drop=1.0))  # cs231n keeps where rand(...) < keep probability



def _adam_options(o: dict) -> dict:
    """torch's Adam options -> cs231n's config (NotImplementedError, reported as not implemented, for others)."""
    o = ad.only(o, "lr", "betas", "eps")
    beta1, beta2 = o.get("betas", (0.9, 0.999))
    return {"learning_rate": o.get("lr", 1e-3), "beta1": beta1, "beta2": beta2, "epsilon": o.get("eps", 1e-8)}


# An optimizer: the core tests/test_optim.py runs, with torch's state entries mapped to the config's.
adam = ad.optimizer(tb.adam, state={"exp_avg": "m", "exp_avg_sq": "v", "step": ad.step_count("t")},
                    options=_adam_options)

DEVIATIONS = []  # cs231n dropout is inverted, as torch's: nothing documented differs; the rest are bugs
