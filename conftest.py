"""Command-line options and per-worker setup for the verification suite.

Threads are capped before NumPy or torch are imported, so that pytest-xdist workers do not
oversubscribe the cores (and so that reduction order, which depends on thread count, is fixed)."""

from __future__ import annotations

import os

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _var in _THREAD_VARS:
    os.environ.setdefault(_var, os.environ.get("VERIFY_THREADS", "1"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("verification")
    group.addoption(
        "--impl",
        default="reference",
        help="implementation under test: a module name or a path to a .py file (default: reference)",
    )
    group.addoption(
        "--threads",
        type=int,
        default=int(os.environ.get("VERIFY_THREADS", "1")),
        help="threads per worker for torch and BLAS (default 1, or $VERIFY_THREADS)",
    )
    group.addoption(
        "--verify-report",
        metavar="DIR",
        default=None,
        help="write the op x check x dtype matrix to DIR/verification.md and DIR/verification.json",
    )
    group.addoption(
        "--shrink-budget",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with --verify-report: time to spend shrinking the smallest failing case of each op x check x dtype "
        "to the smallest inputs that still fail (default 60; 0 = off); saved to DIR/shrunk/",
    )


def pytest_configure(config: pytest.Config) -> None:
    import torch
    from harness import impl
    from threadpoolctl import threadpool_limits

    threads = config.getoption("--threads")
    torch.set_num_threads(threads)
    config._verify_threadpool = threadpool_limits(threads)  # keeps the limit for the session
    impl.use(config.getoption("--impl"))
    from harness.deviations import DeviationPlugin, declared

    deviations = declared(impl.current().module)
    if deviations:
        config.pluginmanager.register(DeviationPlugin(deviations), "deviations")
    out_dir = config.getoption("--verify-report")
    if out_dir:
        from pathlib import Path

        from harness.report import VerifyReport

        config.pluginmanager.register(VerifyReport(config, Path(out_dir)), "verify-report")


def pytest_report_header(config: pytest.Config) -> list[str]:
    import torch
    from harness import impl
    from harness.registry import ops

    current = impl.current()
    registered = ops().values()
    missing = [
        s.name for s in registered if not (current.provides(s.forward_name) and current.provides(s.backward_name))
    ]
    provided = len(registered) - len(missing)
    return [
        f"implementation under test: {current.describe()}",
        f"  provides {provided} of {len(registered)} registered ops"
        + (f"; not implemented (skipped): {', '.join(missing)}" if missing else ""),
        f"oracle: torch {torch.__version__}, numpy {np.__version__}, "
        f"{config.getoption('--threads')} thread(s) per worker",
    ]
