"""The accuracy measure and the baseline ratchet (issue 8): a few direct checks of their arithmetic."""

import json
import sys
from pathlib import Path

import numpy as np
from harness.accuracy import allowed, error
from harness.dtypes import DTYPES

F32 = DTYPES["float32"]
ROOT = Path(__file__).resolve().parents[1]


def test_error_is_ulps_of_the_oracle():
    o = np.array([1.0, 3.0])
    v = np.array([1.0 + 2 * 2.0**-23, 3.0], dtype=np.float32)
    e = error(v, o, F32)
    assert e.ulp == 2.0 and e.worst == (0,) and e.rel == 2 * 2.0**-23


def test_cancellation_is_measured_at_the_terms_magnitude():
    """1e-12 left by cancelling O(1) terms: 1e-8 of error is ~0.1 ULP of the terms, not ~1e11 ULPs."""
    o, v = np.array([1e-12]), np.array([1e-8], dtype=np.float32)
    assert error(v, o, F32).ulp > 1e10
    assert error(v, o, F32, magnitude=np.array([1.0])).ulp < 0.2
    assert error(np.array([1e-8, 1.0], np.float32), np.array([1e-12, 1.0]), F32, normwise=True).ulp < 0.2


def test_specials_count_apart():
    o = np.array([np.inf, np.nan, 1e39, 2.0])  # 1e39 rounds to inf in float32
    v = np.array([np.inf, np.nan, np.inf, np.inf], dtype=np.float32)
    e = error(v, o, F32)
    assert e.nonfinite == 1 and e.ulp == 0.0


def test_allowance_scales_with_torchs_error():
    assert allowed(0.5, 2.0) == 2.5 and allowed(10.0, 2.0) == 30.0


def _report(tmp: Path, name: str, ref_ulp: float) -> Path:
    cell = {"op": "relu", "output": "out", "dtype": "float32", "family": "normal", "oracle": "torch float64",
            "cases": 1, "measured": 1, "ref_ulp": ref_ulp, "ref_rel": 0.0, "torch_ulp": 0.0, "torch_rel": 0.0,
            "ref_nonfinite": 0, "torch_nonfinite": 0, "headroom": 0.0, "torch_digest": "a", "ref_digest": "b"}
    path = tmp / name
    path.write_text(json.dumps({"meta": {"torch": "t", "numpy": "n", "ops": {"missing": []}}, "accuracy": [cell]}))
    return path


def test_baseline_ratchet(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import baseline

    base = str(tmp_path / "base.json")
    assert baseline.main(["update", str(_report(tmp_path, "a.json", 1.0)), "--reason", "test", "--baseline", base]) == 0
    assert baseline.main(["check", str(_report(tmp_path, "b.json", 0.5)), "--baseline", base]) == 0
    capsys.readouterr()
    assert baseline.main(["check", str(_report(tmp_path, "c.json", 1.5)), "--baseline", base]) == 1
    out = capsys.readouterr().out
    assert "ROSE" in out and "relu · out · float32 · normal" in out
    assert json.loads(Path(base).read_text())["history"][0]["reason"] == "test"
