"""The ``ctx`` fixture: every generic test gets its implementation, seeded RNG and recorder here."""

from __future__ import annotations

import pytest
from harness.context import Ctx, node_ctx


@pytest.fixture
def ctx(request: pytest.FixtureRequest) -> Ctx:
    params = getattr(request.node, "callspec", None)
    params = params.params if params else {}
    return node_ctx(request.node, case=params.get("case"), op=params.get("op", ""))
