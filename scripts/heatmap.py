"""Render the accuracy heatmap (op × dtype, log2 of the reference's error over torch's against the
higher-precision oracle) from a verification report's JSON. Needs matplotlib (the ``plot`` extra).

    python scripts/heatmap.py reports/verification.json docs/accuracy_heatmap.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="a verification.json written by --verify-report")
    parser.add_argument("png", type=Path, help="where to write the image")
    args = parser.parse_args(argv)
    from harness.accuracy_report import render_heatmap

    accuracy = json.loads(args.report.read_text()).get("accuracy")
    if not accuracy:
        sys.exit(f"{args.report} has no accuracy figures (a report from before issue 8, or no forward/backward run)")
    if render_heatmap(accuracy, args.png) is None:
        sys.exit("matplotlib is not installed: pip install -e '.[plot]'")
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
