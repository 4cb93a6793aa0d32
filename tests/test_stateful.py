"""The stateful pass (issue 7): for every op, whatever implementation or adapter is under test, the
caller's arrays are never changed or aliased (``no_alias``), backward can be repeated on one forward
(``backward_twice``), and a call's results do not depend on earlier calls (``fresh_state``). One item
per op and check, each running every variant of the op; see ``harness.stateful``."""

import dataclasses
import types

import numpy as np
import pytest
from harness import registry, stateful
from harness.context import Ctx
from harness.impl import Impl

OPS = stateful.stateful_ops()


@pytest.mark.parametrize("op", OPS)
def test_no_alias(ctx, op):
    stateful.run(ctx, op, stateful.no_alias)


@pytest.mark.parametrize("op", OPS)
def test_backward_twice(ctx, op):
    stateful.run(ctx, op, stateful.backward_twice)


@pytest.mark.parametrize("op", OPS)
def test_fresh_state(ctx, op):
    stateful.run(ctx, op, stateful.fresh_state)


# -- the pass's own behaviour on declared aliases (independent of --impl) --------------------------------


def _relu_passing_dout_through() -> Impl:
    module = types.ModuleType("relu_dout_through")
    module.relu_forward = lambda x: (np.maximum(x, 0), x)
    module.relu_backward = lambda cache, dout: {"dx": dout}  # dx IS dout
    return Impl("relu_dout_through", module)


@pytest.mark.parametrize("declared", [False, True], ids=["undeclared", "declared"])
def test_alias_declarations_follow_torch(declared, monkeypatch):
    """dx returned as dout itself fails as an alias; declaring it does not help, because torch's relu
    gradient is a new array: a declaration must describe torch's semantics."""
    spec = registry.ops()["relu"]
    aliases = {("dx", "dout"): "a wrong declaration"} if declared else {}
    monkeypatch.setitem(registry.REGISTRY, "relu", dataclasses.replace(spec, aliases=aliases))
    ctx = Ctx(_relu_passing_dout_through(), "no_alias", "x", None, np.random.default_rng(0), op_name="relu")
    expected = "torch returns a separate array" if declared else r"dx: \(gradient\) shares memory with dout"
    with pytest.raises(AssertionError, match=expected):
        stateful.run(ctx, "relu", stateful.no_alias)
