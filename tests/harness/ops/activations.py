"""Registry entries for the activation catalogue (issue 3, first part: tanh, leaky_relu, silu,
softplus, hardsigmoid)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness.ops.seed import elementwise
from harness.registry import BadInput, Variant


def _options(**choices):
    """Variants for one option each, e.g. _options(alpha=(1.0, 0.5)): first value is the default."""
    return (Variant(),) + tuple(
        Variant(f"{k}={v:g}", {k: v}) for k, values in choices.items() for v in values[1:]
    )


ZEROS = (0.0, -0.0)
elementwise("tanh", torch.tanh, doc="gradient 1 - y^2")
elementwise("leaky_relu", F.leaky_relu, ZEROS, _options(negative_slope=(0.01, 0.2)), doc="leaky_relu'(0) = slope")
elementwise("silu", F.silu)
elementwise(
    "softplus", F.softplus, (20.0, 2.5, 0.0), _options(beta=(1.0, 2.0), threshold=(20.0, 5.0)),
    bad=(BadInput("beta", lambda rng: ((np.ones(3),), {"beta": 0.0}), ValueError, "beta"),),
    doc="linear above threshold in beta * x",
)
elementwise("hardsigmoid", F.hardsigmoid, (-3.0, 3.0) + ZEROS, doc="gradient 0 at ±3")
