"""Registry entries, one module per family of ops. Importing this package registers them all."""

from harness.ops import (  # noqa: F401
    activations,
    attention,
    classification,
    conv,
    layers,
    losses,
    normalization,
    pool,
    recurrent,
    seed,
)
