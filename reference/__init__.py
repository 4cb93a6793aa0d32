"""Reference NumPy layers with PyTorch's semantics.

Every op is a pair in the seed's style: ``<op>_forward(*inputs, **options) -> (out, cache)`` and
``<op>_backward(cache, dout) -> {"dx": ..., "dW": ...}``, one gradient per input or parameter.
Pure functions: no hidden state, inputs and ``dout`` are never mutated, and the output dtype is the
input dtype (float16 and bfloat16 are computed in float32 and rounded once). NumPy only.

Each module lists its public pairs in ``__all__``; this package re-exports all of them.
"""

from reference import (
    activations,
    attention,
    classification,
    conv,
    dropout,
    init,
    layers,
    linear,
    losses,
    nodes,
    normalization,
    optim,
    piecewise,
    pool,
    recurrent,
    shape,
    smooth,
    softmax,
)
from reference.activations import *  # noqa: F403
from reference.attention import *  # noqa: F403
from reference.classification import *  # noqa: F403
from reference.conv import *  # noqa: F403
from reference.dropout import *  # noqa: F403
from reference.init import *  # noqa: F403
from reference.layers import *  # noqa: F403
from reference.linear import *  # noqa: F403
from reference.losses import *  # noqa: F403
from reference.nodes import *  # noqa: F403
from reference.normalization import *  # noqa: F403
from reference.optim import *  # noqa: F403
from reference.piecewise import *  # noqa: F403
from reference.pool import *  # noqa: F403
from reference.recurrent import *  # noqa: F403
from reference.shape import *  # noqa: F403
from reference.smooth import *  # noqa: F403
from reference.softmax import *  # noqa: F403

_MODULES = (
    activations, attention, classification, conv, dropout, init, layers, linear, losses,
    nodes, normalization, optim, piecewise, pool, recurrent, shape, smooth, softmax,
)
__all__ = sorted(name for module in _MODULES for name in module.__all__)
