"""The ``ctx`` fixture: every generic test gets its implementation, seeded RNG and recorder here."""

from __future__ import annotations

import pytest
from harness.context import Ctx, node_ctx
from hypothesis import HealthCheck, settings

# Hypothesis profiles (tests/test_fuzz.py). "ci", the default: deterministic (derandomized, no example
# database), few examples so the fuzz module stays within the suite's time bound. "thorough", selected with
# --hypothesis-profile=thorough: hundreds of examples per op, failures kept in .hypothesis/ and replayed
# first next time. Neither has a deadline (an op's first call includes torch's warm-up); the ctx fixture is
# function-scoped on purpose (each example makes its own context from it), and drawing an example samples
# the entry (an RNN's weights too), which Hypothesis counts as slow data generation.
_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=6, derandomize=True, database=None, **_COMMON)
settings.register_profile("thorough", max_examples=500, **_COMMON)


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile(config.getoption("--hypothesis-profile", None) or "ci")


@pytest.fixture
def ctx(request: pytest.FixtureRequest) -> Ctx:
    params = getattr(request.node, "callspec", None)
    params = params.params if params else {}
    return node_ctx(request.node, case=params.get("case"), op=params.get("op", ""))
