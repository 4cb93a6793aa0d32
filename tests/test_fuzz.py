"""Property-based tests: every registry op on examples drawn by Hypothesis beyond the fixed grid (shapes,
layouts, dtypes, variants and special values, see harness/fuzz.py), compared with torch by the generic
forward and backward checks. The deterministic "ci" profile runs by default; ``--hypothesis-profile=thorough``
runs hundreds of examples per op and keeps failures in Hypothesis's database (tests/conftest.py)."""

import pytest
from harness import fuzz
from harness.registry import ops
from hypothesis import given
from hypothesis import strategies as st


@pytest.fixture
def target(ctx, op):
    spec = ops()[op]
    ctx.impl.get(spec.forward_name)  # skipped as not implemented when the implementation lacks the op
    ctx.impl.get(spec.backward_name)
    return fuzz.Target(ctx, spec)


@pytest.mark.parametrize("op", list(ops()), ids=str)
@given(data=st.data())
def test_fuzz(target, data):
    fuzz.run(target, data.draw(fuzz.examples(target.spec), label="example"))
