"""Every gradient of every op against torch autograd, with a random and with a zero ``dout``, and with
extreme values: ±max in the inputs of elementwise ops, ±inf and 0 in ``dout``."""

import pytest
from harness import checks
from harness.cases import backward_cases, extreme_cases, overflow_cases, zero_dout_cases


@pytest.mark.parametrize("case", backward_cases(), ids=str)
def test_backward(case, ctx):
    checks.backward(ctx)


@pytest.mark.parametrize("case", zero_dout_cases(), ids=str)
def test_zero_dout(case, ctx):
    checks.backward(ctx, zero=True)


@pytest.mark.parametrize("case", extreme_cases(), ids=str)
def test_extreme(case, ctx):
    checks.extreme(ctx)


@pytest.mark.parametrize("case", overflow_cases(), ids=str)
def test_overflow_quiet(case, ctx):
    checks.overflow_quiet(ctx)
