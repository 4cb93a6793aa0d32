"""Results independent of memory layout, and identical when repeated."""

import pytest
from harness import checks
from harness.cases import layout_cases, repeat_cases


@pytest.mark.parametrize("case", layout_cases(), ids=str)
def test_layout(case, ctx):
    checks.layout(ctx)


@pytest.mark.parametrize("case", repeat_cases(), ids=str)
def test_repeat(case, ctx):
    checks.repeat(ctx)
