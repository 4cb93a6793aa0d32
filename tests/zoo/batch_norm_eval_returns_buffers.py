"""batch_norm: in eval mode the given running_mean/running_var arrays are returned themselves, not copies."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ("batch_norm",)
_m = mutant(
    "normalization",
    (
        "new_mean, new_var = running_mean.copy(), running_var.copy()",
        "new_mean, new_var = running_mean, running_var",
    ),
)
batch_norm_forward = _m.batch_norm_forward
batch_norm_backward = _m.batch_norm_backward
