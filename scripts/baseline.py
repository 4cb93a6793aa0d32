"""The accuracy baseline: a ratchet on the reference's error against the higher-precision oracle.

    python scripts/baseline.py check reports/verification.json            # CI: fails if any error rose
    python scripts/baseline.py update reports/verification.json --reason "why the figures changed"
    python scripts/baseline.py compare old/verification.json new/verification.json   # e.g. torch upgrade

``baselines/accuracy.json`` holds, per op × output × dtype × value family, the largest error of the
reference and of torch (same dtype) against the oracle, in ULPs of the dtype and relative, digests of both
results over the cell's cases, the versions that produced them and the history of updates with their
reasons. ``check`` fails (exit 1, with a table) when a cell's reference error exceeds its baseline, when a
cell is missing from the report (an op not run) or absent from the baseline (record it with ``update``);
errors that fell are listed as "may be tightened with update". ``compare`` lists what changed between two
reports or baselines — versions, errors of either side, bitwise changes of torch's or the reference's
results (inputs are seeded from test ids, so the same cases see the same inputs) — and always exits 0.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "baselines" / "accuracy.json"
FIGURES = ("ref_ulp", "ref_rel", "torch_ulp", "torch_rel", "ref_nonfinite", "torch_nonfinite")
KEPT = ("oracle", "cases", *FIGURES, "headroom", "torch_digest", "ref_digest")
VERSIONS = ("torch", "numpy", "python", "platform", "threads_per_worker")
SHOWN = 40  # rows per table


def key(c: dict) -> str:
    return f"{c['op']} · {c['output']} · {c['dtype']} · {c['family']}"


def load(path: Path) -> tuple[dict, dict[str, dict]]:
    """Versions and cells by key, from a report (verification.json) or a baseline file."""
    data = json.loads(Path(path).read_text())
    if "accuracy" in data:  # a report
        meta = data["meta"]
        cells = {key(c): {k: c[k] for k in KEPT if k in c} for c in data["accuracy"]}
        return {v: meta.get(v) for v in VERSIONS}, cells
    if "cells" in data and "history" in data:  # a baseline
        return data["versions"], data["cells"]
    sys.exit(f"{path}: neither a verification report with accuracy figures nor an accuracy baseline")


def _stored(cell: dict) -> dict:
    """A cell as the baseline keeps it: figures to 4 significant digits, the reference's rounded up (so
    that an unchanged figure never reads as a rise)."""
    return {k: (_sig(v, up=k.startswith("ref_")) if isinstance(v, float) else v) for k, v in cell.items()}


def _sig(x: float, up: bool) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    r = float(f"{x:.4g}")
    if up and r < x:
        r = float(f"{r + 10.0 ** (math.floor(math.log10(abs(x))) - 3):.4g}")
    return max(r, x) if up else r


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows[:SHOWN]]
    if len(rows) > SHOWN:
        lines.append(f"... and {len(rows) - SHOWN} more")
    return lines


def _versions(old: dict, new: dict, names: tuple[str, str]) -> list[str]:
    lines = []
    for v in VERSIONS:
        a, b = old.get(v), new.get(v)
        lines.append(f"  {v:20} {a}" + (f"  ->  {b} ({names[1]})" if a != b else "  (same)"))
    return lines


def check(report: Path, baseline: Path, slack: float) -> int:
    base_versions, base = load(baseline)
    versions, cells = load(report)
    rose, fell, missing, lost = [], [], [], []
    for k, b in base.items():
        c = cells.get(k)
        if c is None:
            missing.append([k])
            continue
        if b.get("oracle") and not c.get("oracle"):
            lost.append([k, str(b["oracle"])])
            continue
        if not b.get("oracle"):
            continue
        grew = c["ref_ulp"] > b["ref_ulp"] + slack or c.get("ref_nonfinite", 0) > b.get("ref_nonfinite", 0)
        row = [k, _fmt(b["ref_ulp"]), _fmt(c["ref_ulp"]), _fmt(b.get("torch_ulp")), _fmt(c.get("torch_ulp")),
               f"{b.get('ref_nonfinite', 0)} -> {c.get('ref_nonfinite', 0)}"]
        if grew:
            rose.append(row)
        elif _sig(c["ref_ulp"], up=True) < b["ref_ulp"]:  # as the baseline would store it
            fell.append(row)
    new = [[k] for k in cells if k not in base]
    print(f"accuracy baseline {baseline.relative_to(ROOT) if baseline.is_relative_to(ROOT) else baseline}: "
          f"{len(base)} cells; report {report}: {len(cells)} cells")
    if any(base_versions.get(v) != versions.get(v) for v in VERSIONS):
        print("versions differ from the baseline's (compare mode shows what changed):",
              *_versions(base_versions, versions, ("baseline", "report")), sep="\n")
    head = ["op · output · dtype · family", "baseline ref ULP", "ref ULP", "baseline torch ULP", "torch ULP",
            "ref NaN/Inf unlike oracle"]
    if fell:
        print(f"\n{len(fell)} cells where the reference's error fell (may be tightened with update):",
              *_table(head, fell), sep="\n")
    problems = 0
    for rows, what, cols in (
        (rose, "reference error ROSE above the baseline" + (f" (+{slack:g} ULP slack)" if slack else ""), head),
        (missing, "baseline cells MISSING from the report (an op, output or family not run)", ["cell"]),
        (lost, "cells that LOST their higher-precision oracle", ["cell", "baseline oracle"]),
        (new, "cells NOT IN THE BASELINE (record them with update --reason)", ["cell"]),
    ):
        if rows:
            problems += len(rows)
            print(f"\nFAIL: {len(rows)} {what}:", *_table(cols, rows), sep="\n")
    print("\naccuracy baseline check: " + ("FAILED" if problems else "passed"))
    return 1 if problems else 0


def update(report: Path, baseline: Path, reason: str) -> int:
    data = json.loads(Path(report).read_text())
    missing = data["meta"].get("ops", {}).get("missing", [])
    if missing:
        sys.exit(f"{report} is a partial run (no results for {', '.join(missing)}): run the whole suite first")
    versions, cells = load(report)
    cells = {k: _stored(c) for k, c in cells.items()}
    old = json.loads(baseline.read_text()) if baseline.exists() else {"history": [], "cells": {}}
    before = old["cells"]
    changed = sum(1 for k, c in cells.items() if k not in before or before[k] != c)
    entry = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "reason": reason,
             **{v: versions.get(v) for v in VERSIONS[:3]}, "cells": len(cells), "changed": changed,
             "removed": sum(1 for k in before if k not in cells)}
    out = {
        "about": "Largest error against the higher-precision oracle per op · output · dtype · family "
                 "(harness.accuracy.error: ULPs of the dtype at max(|oracle|, sum of |terms|)); "
                 "scripts/baseline.py check/update/compare. Never edit by hand: update records a reason.",
        "versions": versions,
        "history": [*old["history"], entry],
        "cells": dict(sorted(cells.items())),
    }
    baseline.parent.mkdir(parents=True, exist_ok=True)
    baseline.write_text(_dumps(out))
    print(f"{baseline}: {len(cells)} cells, {changed} new or changed, {entry['removed']} removed; reason: {reason}")
    return 0


def _dumps(data: dict) -> str:
    """The baseline with one cell per line, so that a diff shows which cells an update moved."""
    head = {k: v for k, v in data.items() if k != "cells"}
    lines = [json.dumps(head, indent=1)[:-2] + ',\n "cells": {']
    cells = [f" {json.dumps(k)}: {json.dumps(c, separators=(',', ':'))}" for k, c in data["cells"].items()]
    return "\n".join(lines) + "\n" + ",\n".join(cells) + "\n }\n}\n"


def compare(old_path: Path, new_path: Path) -> int:
    old_versions, old = load(old_path)
    new_versions, new = load(new_path)
    print(f"old: {old_path}\nnew: {new_path}\nversions:", *_versions(old_versions, new_versions, ("old", "new")),
          sep="\n")
    errors, bitwise = [], []
    for k in sorted(set(old) & set(new)):
        a, b = old[k], new[k]
        moved = [f for f in FIGURES if a.get(f) != b.get(f)]
        if moved:
            errors.append([k, *(f"{_fmt(a.get(f))} -> {_fmt(b.get(f))}" for f in FIGURES[:4])])
        flips = [side for side in ("torch", "ref") if a.get(f"{side}_digest") != b.get(f"{side}_digest")]
        if flips and not moved:
            bitwise.append([k, ", ".join("torch's results" if s == "torch" else "the reference's results"
                                         for s in flips)])
    print(f"\n{len(errors)} cells whose errors changed:",
          *_table(["op · output · dtype · family", "ref ULP", "ref rel", "torch ULP", "torch rel"], errors),
          sep="\n")
    print(f"\n{len(bitwise)} cells whose results changed bitwise with the same errors:",
          *_table(["op · output · dtype · family", "changed"], bitwise), sep="\n")
    for name, only in (("old", set(old) - set(new)), ("new", set(new) - set(old))):
        if only:
            print(f"\n{len(only)} cells only in the {name} file:", *_table(["cell"], [[k] for k in sorted(only)]),
                  sep="\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="fail when any cell's reference error rose above the baseline")
    p.add_argument("report", type=Path)
    p.add_argument("--baseline", type=Path, default=BASELINE)
    p.add_argument("--slack", type=float, default=0.0,
                   help="ULPs a cell may rise (e.g. on another CPU, whose BLAS kernels round differently); default 0")
    p = sub.add_parser("update", help="record the report's figures as the new baseline, with a reason")
    p.add_argument("report", type=Path)
    p.add_argument("--reason", required=True)
    p.add_argument("--baseline", type=Path, default=BASELINE)
    p = sub.add_parser("compare", help="what changed between two reports (or baselines)")
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.report, args.baseline, args.slack)
    if args.command == "update":
        return update(args.report, args.baseline, args.reason)
    return compare(args.old, args.new)


if __name__ == "__main__":
    sys.exit(main())
