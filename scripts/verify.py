"""Run the verification suite and print the op × check × dtype matrix.

    python scripts/verify.py                      # reference, all cores, report in reports/
    python scripts/verify.py --impl my_layers.py  # your implementation
    python scripts/verify.py -k relu -n 0         # extra arguments go to pytest

Writes reports/verification.md and reports/verification.json (with torch and numpy versions) and
exits with pytest's status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", default="reference", help="module name or path to a .py file")
    parser.add_argument("--out", default=str(ROOT / "reports"), help="report directory (default: reports/)")
    parser.add_argument("-n", "--workers", default="auto", help="pytest-xdist workers (default: auto; 0 = none)")
    args, rest = parser.parse_known_args(argv)
    status = pytest.main(
        ["--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "-q", "--no-header", "-p", "no:cacheprovider",
         "-n", str(args.workers), "--impl", args.impl, "--verify-report", args.out, *rest, str(ROOT / "tests")]
    )
    md = Path(args.out) / "verification.md"
    if md.exists():
        print(md.read_text())
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
