"""relu (a layer class through the layer_class kit): what backward masks with is saved by the first forward only."""

from harness import adapters as ad

import reference as _ref
from reference import *  # noqa: F403

TARGETS = ("relu",)


class Relu:
    def __init__(self):
        self.saved = None

    def forward(self, x):
        out, saved = _ref.relu_forward(x)
        if self.saved is None:  # meant as a lazy allocation, but never refreshed
            self.saved = saved
        return out

    def backward(self, dout):
        return _ref.relu_backward(self.saved, dout)["dx"]


relu_forward, relu_backward = ad.layer_class(Relu)
