"""Reference NumPy layers with PyTorch's semantics.

Every op is a pair in the seed's style: ``<op>_forward(*inputs, **options) -> (out, cache)`` and
``<op>_backward(cache, dout) -> {"dx": ..., "dW": ...}``, one gradient per input or parameter.
Pure functions: no hidden state, inputs and ``dout`` are never mutated, and the output dtype is the
input dtype (float16 and bfloat16 are computed in float32 and rounded once). NumPy only.
"""

from reference.activations import relu_backward, relu_forward, sigmoid_backward, sigmoid_forward
from reference.linear import affine_backward, affine_forward
from reference.nodes import (
    add_backward,
    add_forward,
    exp_backward,
    exp_forward,
    log_backward,
    log_forward,
    mul_backward,
    mul_forward,
    reciprocal_backward,
    reciprocal_forward,
)
from reference.piecewise import (
    hardsigmoid_backward,
    hardsigmoid_forward,
    leaky_relu_backward,
    leaky_relu_forward,
)
from reference.smooth import (
    silu_backward,
    silu_forward,
    softplus_backward,
    softplus_forward,
    tanh_backward,
    tanh_forward,
)
from reference.softmax import (
    cross_entropy_backward,
    cross_entropy_forward,
    log_softmax_backward,
    log_softmax_forward,
    softmax_backward,
    softmax_forward,
    softmax_with_loss_backward,
    softmax_with_loss_forward,
)

__all__ = [
    "add_backward",
    "add_forward",
    "affine_backward",
    "affine_forward",
    "cross_entropy_backward",
    "cross_entropy_forward",
    "exp_backward",
    "exp_forward",
    "hardsigmoid_backward",
    "hardsigmoid_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "log_backward",
    "log_forward",
    "log_softmax_backward",
    "log_softmax_forward",
    "mul_backward",
    "mul_forward",
    "reciprocal_backward",
    "reciprocal_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "silu_backward",
    "silu_forward",
    "softmax_backward",
    "softmax_forward",
    "softmax_with_loss_backward",
    "softmax_with_loss_forward",
    "softplus_backward",
    "softplus_forward",
    "tanh_backward",
    "tanh_forward",
]
