"""Invalid calls raise a clear ValueError/TypeError that names the op."""

import pytest
from harness import checks
from harness.cases import bad_input_cases
from harness.registry import ops


@pytest.mark.parametrize(("op", "label"), bad_input_cases(), ids=lambda v: v)
def test_bad_input(ctx, op, label):
    checks.bad_input(ctx, ops()[op], label)
