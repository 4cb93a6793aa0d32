"""Forward output of every op against torch, for every case in the registry's grid."""

import pytest
from harness import checks
from harness.cases import value_cases


@pytest.mark.parametrize("case", value_cases(), ids=str)
def test_forward(case, ctx):
    checks.forward(ctx)
