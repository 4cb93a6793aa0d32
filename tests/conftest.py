"""The ``ctx`` fixture: every generic test gets its implementation, seeded RNG and recorder here."""

from __future__ import annotations

import numpy as np
import pytest
from harness import impl
from harness.cases import Case, seed_for
from harness.context import Ctx


@pytest.fixture
def ctx(request: pytest.FixtureRequest) -> Ctx:
    params = getattr(request.node, "callspec", None)
    params = params.params if params else {}
    case: Case | None = params.get("case")
    check = request.node.originalname.removeprefix("test_")
    case_id = case.id if case else request.node.callspec.id
    props = request.node.user_properties
    props.append(("verify", {
        "op": case.op if case else params.get("op", ""),
        "check": check,
        "dtype": case.dtype if case else "-",
        "case": case_id,
    }))
    return Ctx(
        impl=impl.current(),
        check=check,
        nodeid=request.node.nodeid,
        case=case,
        rng=np.random.default_rng(seed_for(request.node.originalname, case_id)),
        properties=props,
        op_name=params.get("op", ""),
    )
