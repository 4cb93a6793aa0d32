"""Each entry's own properties that are not one comparison with torch (e.g. statistical bounds)."""

import pytest
from harness import checks
from harness.cases import property_cases
from harness.registry import ops


@pytest.mark.parametrize(("op", "label"), property_cases(), ids=lambda v: v)
def test_property(ctx, op, label):
    checks.prop(ctx, ops()[op], label)
