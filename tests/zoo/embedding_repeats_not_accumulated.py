"""embedding: dW[idx] += dout (fancy-index assignment keeps one of repeated rows)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('embedding',)
_m = mutant(
    "shape",
    (
        'np.add.at(dW, idx.ravel(), g.reshape(-1, dim))',
        'dW[idx.ravel()] += g.reshape(-1, dim)',
    ),
)
embedding_backward = _m.embedding_backward
