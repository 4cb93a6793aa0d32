"""Self-tests of the harness: the reference is NumPy-only, the tolerance table is torch's, seeds are
stable, and the seed's own formulas (which differ from torch) are caught with a clear message."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from harness import checks
from harness.cases import Case, seed_for
from harness.context import Ctx
from harness.dtypes import DTYPES
from harness.impl import load
from torch.testing._comparison import default_tolerances

ROOT = Path(__file__).resolve().parents[1]
SEED_VARIANTS = "tests/selftest/seed_variants.py"


def test_reference_never_imports_torch():
    for path in sorted((ROOT / "reference").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "torch" or n.startswith("torch.") for n in names), f"{path} imports torch"
    code = "import sys, reference; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0, "importing reference loads torch"


@pytest.mark.parametrize("name", list(DTYPES))
def test_default_tolerances_are_torchs(name):
    dt = DTYPES[name]
    assert (dt.default_tol.rtol, dt.default_tol.atol) == default_tolerances(dt.torch)


def test_seeds_are_stable_across_processes():
    # crc32 of the id, not Python's salted hash(): the same number in every worker and run.
    assert seed_for("test_forward", "relu-float32-(4,3)-kink") == 1391579258


def _run(check, case: Case, impl_spec: str) -> str:
    ctx = Ctx(
        impl=load(impl_spec),
        check=check.__name__,
        nodeid=f"tests/selftest::{check.__name__}[{case.id}]",
        case=case,
        rng=np.random.default_rng(seed_for(check.__name__, case.id)),
    )
    with pytest.raises(AssertionError) as info:
        check(ctx)
    return str(info.value)


SEED_BUGS = [
    pytest.param(
        checks.backward, Case("relu", "", "float32", (4, 3), "kink"),
        ["relu · backward · dx: does not match torch", "expected 0.0; input there: x = ", "0.0"],
        id="relu-mask-x<0-passes-gradient-at-0",
    ),
    pytest.param(
        checks.forward, Case("sigmoid", "", "float32", (4, 3), "wide"),
        ["sigmoid · forward · forward: emitted RuntimeWarning: overflow encountered in exp"],
        id="sigmoid-naive-overflows",
    ),
    pytest.param(
        checks.forward, Case("cross_entropy", "t=index", "float64", (4, 3), "gap1e3"),
        ["cross_entropy · forward · out: does not match torch", "got 8.0590477", "expected 500.0021"],
        id="cross-entropy-plus-1e-7-caps-at-16.1-per-row",
    ),
]


@pytest.mark.parametrize(("check", "case", "phrases"), SEED_BUGS)
def test_seed_formulas_are_caught(check, case, phrases):
    message = _run(check, case, SEED_VARIANTS)
    for phrase in phrases:
        assert phrase in message, message
    assert f"pytest 'tests/selftest::{check.__name__}[{case.id}]' --impl {SEED_VARIANTS}" in message


@pytest.mark.parametrize(("check", "case", "phrases"), SEED_BUGS)
def test_reference_passes_where_the_seed_fails(check, case, phrases):
    ctx = Ctx(load("reference"), check.__name__, "n/a", case, np.random.default_rng(0))
    check(ctx)


def test_float16_arbiter_accepts_only_what_is_closer_to_float64():
    from harness.compare import compare

    f16 = DTYPES["float16"]
    expected, truth = np.array([1.0], np.float16), np.array([1.00390625])
    closer, farther = np.array([1.00390625], np.float16), np.array([0.99414062], np.float16)
    assert compare(closer, expected, f16, f16.default_tol, reference64=lambda: truth).ok
    assert not compare(farther, expected, f16, f16.default_tol, reference64=lambda: truth).ok
    assert torch.finfo(torch.float16).eps == 2**-10


def test_declared_deviations_are_documented_and_stale_ones_reported():
    """A failure covered by the implementation's DEVIATIONS is an expected failure naming the reason;
    a declaration that covered nothing in the run is reported stale."""
    ids = [
        "tests/test_backward.py::test_backward[relu-float32-(4,3)-kink]",
        "tests/test_backward.py::test_backward[tanh-float32-(4,3)-normal]",
    ]
    done = subprocess.run(
        # scripts.mutation_select builds only the two requested items (collecting all of them costs ~2 s)
        [sys.executable, "-m", "pytest", "-q", "-rx", "-p", "no:cacheprovider", "-p", "scripts.mutation_select", *ids,
         "--impl", "tests/selftest/declared_deviations.py"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 xfailed" in done.stdout, done.stdout
    assert "documented deviation #0: textbook mask x < 0" in done.stdout, done.stdout
    assert "STALE (covered no failure): #1 tanh" in done.stdout, done.stdout
