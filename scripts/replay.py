"""Rerun a shrunk failing case saved by the verification report.

    python scripts/replay.py reports/shrunk/relu-backward-float32.npz
    python scripts/replay.py reports/shrunk/relu-backward-float32.npz --impl my_layers.py

The report shrinks the smallest failing case of every op · check · dtype to the smallest inputs that
still fail the same way and saves them; this runs the suite's own check on them again and prints the
whole story (exit status 1 while it fails, 0 once it passes)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", type=Path, help="a .npz file from reports/shrunk/")
    parser.add_argument("--impl", default=None, help="implementation (default: the one the report ran)")
    args = parser.parse_args(argv)

    from harness import impl
    from harness.cases import Case
    from harness.shrink import attempt, load

    meta, inputs = load(args.case)
    spec = args.impl or meta["impl"]
    current = impl.use(spec)
    case = Case(meta["op"], meta["variant"], meta["dtype"], (), meta["family"], meta["layout"])
    suffix = "" if spec == impl.DEFAULT else f" --impl {spec}"
    failure = attempt(current, case, meta["check"], inputs, command=f"python scripts/replay.py {args.case}{suffix}")
    if failure is None:
        print(f"{meta['op']} · {meta['check']} · {meta['dtype']}: passes on the saved inputs ({current.describe()})")
        return 0
    print(failure.message)
    return 1


if __name__ == "__main__":
    sys.exit(main())
