"""The verification matrix: op × check × dtype with pass/fail counts and the largest observed error,
written as Markdown for people and JSON for machines. A pytest plugin, registered by the root
conftest when ``--verify-report DIR`` is given; it works under pytest-xdist (it reads the reports
the workers send to the controller)."""

from __future__ import annotations

import json
import math
import platform
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from harness.accuracy_report import Accuracy, accuracy_markdown
from harness.deviations import PREFIX
from harness.dtypes import ALL_DTYPES

ERRORS = ("max_abs", "max_rel", "max_ulp")


class VerifyReport:
    def __init__(self, config: pytest.Config, out_dir: Path) -> None:
        self.config, self.out_dir = config, out_dir
        self.cells: dict[tuple[str, str, str], dict] = defaultdict(
            lambda: {"passed": 0, "failed": 0, "skipped": 0, "deviation": 0, **dict.fromkeys(ERRORS, 0.0)}
        )
        self.failures: list[dict] = []
        self.accuracy = Accuracy()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict((k, v) for k, v in report.user_properties if k == "verify")
        info = props.get("verify") or {"op": "(harness)", "check": report.nodeid.split("::")[-1].split("[")[0],
                                       "dtype": "-", "case": report.nodeid}
        if report.when == "call":
            self.accuracy.add(m for k, m in report.user_properties if k == "accuracy")
        if report.when == "call" or (report.when == "setup" and not report.passed):
            cell = self.cells[(info["op"], info["check"], info["dtype"])]
            documented = getattr(report, "wasxfail", "").startswith(PREFIX)
            cell["deviation" if documented else report.outcome] += 1
            for key, m in report.user_properties:
                if key == "metric":
                    for e in ERRORS:
                        if math.isfinite(m[e]):
                            cell[e] = max(cell[e], m[e])
            if report.failed:
                first = str(report.longrepr).strip().splitlines()
                headline = next((ln[1:].strip() for ln in first if ln.startswith("E ")), first[-1] if first else "")
                bad = [m for k, m in report.user_properties if k == "metric" and m.get("mismatches")]
                self.failures.append({
                    "nodeid": report.nodeid, **info, "message": headline,
                    "reproduce": f"pytest '{report.nodeid}'{impl_suffix()}",
                    **({e: bad[0][e] for e in ("size", "mismatches", *ERRORS)} if bad else {}),
                })

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):
            return  # only the controller writes
        import torch

        from harness import impl

        meta = {
            "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "implementation": impl.current().describe(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "threads_per_worker": self.config.getoption("--threads"),
            "workers": getattr(self.config.option, "numprocesses", None) or 0,
            "command": " ".join(sys.argv),
            "exit_status": int(exitstatus),
        }
        cells = [{"op": op, "check": check, "dtype": dt, **c} for (op, check, dt), c in sorted(self.cells.items())]
        meta["ops"] = coverage(cells)
        plugin = self.config.pluginmanager.get_plugin("deviations")
        meta["deviations"] = {
            "declared": [str(d) for d in plugin.deviations] if plugin else [],
            "stale": [str(d) for d in plugin.stale()] if plugin else [],
        }
        accuracy = self.accuracy.cells()
        shrunk = self._shrink()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "verification.json").write_text(json.dumps(
            {"meta": meta, "cells": cells, "failures": self.failures, "accuracy": accuracy,
             "shrunk": [{"op": k[0], "check": k[1], "dtype": k[2], **v} for k, v in shrunk.items()]}, indent=1)
        )
        (self.out_dir / "verification.md").write_text(
            markdown(meta, cells, self.failures, shrunk) + accuracy_markdown(accuracy, self.out_dir)
        )

    def _shrink(self) -> dict[tuple, dict]:
        """The smallest failing case of each op · check · dtype, shrunk (harness.shrink) within the budget."""
        budget = self.config.getoption("--shrink-budget")
        if not self.failures or budget <= 0:
            return {}
        from harness import impl
        from harness.shrink import shrink_failures

        return shrink_failures(_by_cell(self.failures), impl.current(), self.out_dir, budget)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not hasattr(self.config, "workerinput"):
            terminalreporter.write_sep("=", f"verification matrix written to {self.out_dir}/verification.md")


def coverage(cells: list[dict]) -> dict:
    """Registered ops and the ones this run produced no forward or backward result for (a partial
    run, e.g. ``-k relu``, lists the rest; the full suite must list none)."""
    from harness.registry import ops

    registered = sorted(ops())
    ran = {(c["op"], c["check"]) for c in cells if c["passed"] + c["failed"]}
    needed = {op: ["forward"] + (["backward"] if ops()[op].grads else []) for op in registered}
    missing = [op for op in registered if any((op, check) not in ran for check in needed[op])]
    return {"registered": len(registered), "missing": missing}


def _deviation_lines(deviations: dict) -> list[str]:
    declared, stale = deviations.get("declared", []), deviations.get("stale", [])
    if not declared:
        return []
    lines = ["", f"Declared deviations ({len(declared)}, failures they cover count as documented, not failed):"]
    lines += [f"- {d}" + (" — **stale**: covered no failure" if d in stale else "") for d in declared]
    return lines


def impl_suffix() -> str:
    from harness import impl

    return impl.current().option_suffix


def _by_cell(failures: list[dict]) -> list[list[dict]]:
    """The failures of each op · check · dtype, the one with the fewest elements first."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for f in failures:
        groups[(f["op"], f["check"], f["dtype"])].append(f)
    return [sorted(groups[k], key=lambda f: (f.get("size", math.inf), f["nodeid"])) for k in sorted(groups)]


def _smallest_row(group: list[dict], shrunk: dict | None) -> str:
    """The failure of this op · check · dtype with the fewest elements, and what shrinking it found:
    the inputs (values when small), its errors and the command that replays it."""
    f = group[0]
    found = f"{_inputs(shrunk['inputs'])}{'' if shrunk['complete'] else ' (budget ran out)'}" if shrunk else ""
    m = shrunk or f
    errors = " | ".join(f"{m[e]:.3g}" if e in m else "" for e in ERRORS)
    replay = f"`{shrunk['replay']}`" if shrunk else ""
    return (f"| {f['op']} | {f['check']} | {f['dtype']} | {len(group)} | `{f['case']}` | {f.get('size', '')} | "
            f"{found} | {errors} | `{f['reproduce']}` | {replay} |")


def _inputs(inputs: dict) -> str:
    return "; ".join(f"{n} {tuple(a['shape'])}" + (f" = {a['values']}" if "values" in a else "")
                     for n, a in inputs.items())


def _coverage_line(ops: dict) -> str:
    missing = ops["missing"]
    have = ops["registered"] - len(missing)
    return f"Ops with forward and backward results: {have} of {ops['registered']} registered" + (
        f" (missing: {', '.join(missing)})." if missing else "."
    )


def _cell(c: dict | None) -> str:
    if c is None:
        return ""
    total = c["passed"] + c["failed"]
    mark = "✗ " if c["failed"] else ""
    err = f" · {c['max_ulp']:.3g} ulp" if c["max_ulp"] else ""
    skipped = f" ({c['skipped']} skipped)" if c["skipped"] else ""
    documented = f" ({c['deviation']} documented deviation)" if c.get("deviation") else ""
    return f"{mark}{c['passed']}/{total}{err}{skipped}{documented}"


def markdown(meta: dict, cells: list[dict], failures: list[dict], shrunk: dict | None = None) -> str:
    dtypes = [d for d in (*ALL_DTYPES, "-") if any(c["dtype"] == d for c in cells)]
    index = {(c["op"], c["check"], c["dtype"]): c for c in cells}
    rows = sorted({(c["op"], c["check"]) for c in cells})
    passed = sum(c["passed"] for c in cells)
    failed = sum(c["failed"] for c in cells)
    lines = [
        "# Verification matrix",
        "",
        f"Implementation `{meta['implementation']}` against torch {meta['torch']} (numpy {meta['numpy']}, "
        f"Python {meta['python']}, {meta['threads_per_worker']} thread(s) per worker), {meta['generated']}.",
        "",
        _coverage_line(meta["ops"]),
        *_deviation_lines(meta.get("deviations", {})),
        "",
        f"**{passed} passed, {failed} failed.** Each cell: passed/run and the largest error observed "
        "against the oracle in ULPs of the dtype (gradcheck cells: against float64 central differences).",
        "",
        "| op | check | " + " | ".join(dtypes) + " |",
        "|---|---|" + "---|" * len(dtypes),
    ]
    lines += [f"| {op} | {check} | " + " | ".join(_cell(index.get((op, check, d))) for d in dtypes) + " |"
              for op, check in rows]
    if failures:
        lines += ["", "## Smallest failing case per op · check · dtype", "",
                  "The suite's failing case with the fewest elements, and the smallest inputs a shrinking search "
                  "(harness.shrink: slices along each axis, then simpler values) found that still fail the same "
                  "output or gradient, with that case's errors.", "",
                  "| op | check | dtype | failures | smallest suite case | elements | shrunk to | max abs | max rel | "
                  "max ULP | reproduce | replay shrunk |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [_smallest_row(group, (shrunk or {}).get(tuple(group[0][k] for k in ("op", "check", "dtype"))))
                  for group in _by_cell(failures)]
        lines += ["", "## Failures", ""]
        lines += [f"- `{f['nodeid']}`: {f['message']}" for f in failures[:200]]
    return "\n".join(lines) + "\n"

