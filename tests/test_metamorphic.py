"""Metamorphic relations of every op (harness/metamorphic.py): the generic ones (backward linear in dout,
the VJP dot-product test, permutation equivariance of elementwise ops) and those its entry declares."""

import pytest
from harness import metamorphic
from harness.registry import ops


@pytest.mark.parametrize(("op", "label"), metamorphic.relation_cases(), ids=lambda v: v)
def test_metamorphic(ctx, op, label):
    metamorphic.check(ctx, ops()[op], label)
