"""Declared deviations: documented semantic choices of an implementation under test.

An implementation module may define ``DEVIATIONS``, a list of plain dicts (no import from the harness
needed)::

    DEVIATIONS = [
        {"op": "relu", "checks": ["backward"], "match": "dx", "reason": "textbook mask x < 0 passes dout at 0"},
        {"op": "dropout", "reason": "non-inverted dropout: scaled at eval time instead"},
    ]

``op`` is required; ``checks`` (test names without ``test_``), ``dtypes`` and ``match`` (a regular
expression searched in the failure message) narrow it; ``reason`` is required. A failure covered by a
declaration is reported as an expected failure, "documented deviation: <reason>", not as a bug; a
declaration that covered no failure in a run that exercised its op is reported as stale.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import pytest

PREFIX = "documented deviation"


@dataclass(frozen=True)
class Deviation:
    index: int
    op: str
    reason: str
    checks: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    match: str = ""

    def covers(self, op: str, check: str, dtype: str, message: str) -> bool:
        return (
            op == self.op
            and (not self.checks or check in self.checks)
            and (not self.dtypes or dtype in self.dtypes)
            and (not self.match or re.search(self.match, message) is not None)
        )

    def __str__(self) -> str:
        scope = "/".join(self.checks) or "every check"
        return f"#{self.index} {self.op} ({scope}): {self.reason}"


def declared(module: object) -> list[Deviation]:
    """The module's ``DEVIATIONS``, validated; a malformed declaration is a usage error."""
    out = []
    for i, d in enumerate(getattr(module, "DEVIATIONS", None) or ()):
        if not isinstance(d, dict) or not d.get("op") or not d.get("reason"):
            raise pytest.UsageError(f"DEVIATIONS[{i}] must be a dict with at least 'op' and 'reason', got {d!r}")
        out.append(Deviation(i, d["op"], d["reason"], tuple(d.get("checks", ())), tuple(d.get("dtypes", ())),
                             d.get("match", "")))
    return out


class DeviationPlugin:
    """Turns covered failures into expected failures (in every worker) and reports stale declarations
    (on the controller, from the reports the workers send)."""

    def __init__(self, deviations: list[Deviation]) -> None:
        self.deviations = deviations
        self.used: Counter[int] = Counter()
        self.ops_run: set[str] = set()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        info = dict(item.user_properties).get("verify")
        if report.when != "call" or not report.failed or not info or call.excinfo is None:
            return
        message = str(call.excinfo.value)
        hit = next((d for d in self.deviations if d.covers(info["op"], info["check"], info["dtype"], message)), None)
        if hit is not None:
            report.outcome = "skipped"
            report.wasxfail = f"{PREFIX} #{hit.index}: {hit.reason}"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        info = dict(report.user_properties).get("verify")
        if info and report.when == "call":
            self.ops_run.add(info["op"])
        reason = getattr(report, "wasxfail", "")
        if reason.startswith(PREFIX):
            self.used[int(reason[len(PREFIX) + 2 :].split(":")[0])] += 1

    def stale(self) -> list[Deviation]:
        return [d for d in self.deviations if d.op in self.ops_run and not self.used[d.index]]

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if hasattr(terminalreporter.config, "workerinput"):
            return
        lines = [f"{self.used[d.index]} failure(s) covered by {d}" for d in self.deviations if self.used[d.index]]
        lines += [f"STALE (covered no failure): {d}" for d in self.stale()]
        if lines:
            terminalreporter.write_sep("=", "declared deviations")
            for line in lines:
                terminalreporter.write_line(line)
