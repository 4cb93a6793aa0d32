"""Registry entries, one module per family of ops. Importing this package registers them all."""

from harness.ops import activations, classification, conv, layers, losses, normalization, seed  # noqa: F401
