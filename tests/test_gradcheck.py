"""Every gradient against float64 central differences: an oracle independent of torch."""

import pytest
from harness import checks
from harness.cases import gradcheck_cases


@pytest.mark.parametrize("case", gradcheck_cases(), ids=str)
def test_gradcheck(case, ctx):
    checks.gradcheck(ctx)
