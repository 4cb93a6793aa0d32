"""Summarise a mutmut run of reference/: per module, how many mutants were killed, timed out, survived
(split into those killed by a check added after the run, the equivalent ones, the open gaps
docs/mutation.md describes, and those it does not list yet), had no test, or were not run; the mutation
score over what ran; the seconds per mutant; and the survivors docs/mutation.md does not list yet (exit
status 1 if there is one).

    .venv/bin/python scripts/mutation_report.py [--survivors]

Reads mutmut's results in mutants/ (``mutmut run`` writes them); the score counts a mutant as killed
when a test failed on it or it timed out, or when docs/mutation.md's section "Killed by checks added for
them" names it (a check added after the run, verified against the mutant by hand), and leaves the
equivalent survivors out of the total. A survivor is equivalent only if docs/mutation.md's section
"Equivalent survivors" names it with its reason."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATUS = {1: "killed", 3: "killed", -11: "killed", 0: "survived", 5: "no tests", 33: "no tests", None: "not run",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
COLUMNS = ("killed", "timeout", "killed later", "equivalent", "open", "unexplained", "no tests", "not run", "other")


def _names(text: str) -> set[str]:
    return set(re.findall(r"`(reference\.[\w.]+__mutmut_\d+)`", text))


def _section(text: str, title: str) -> set[str]:
    """The names in the section ``## <title>`` (up to the next ``## `` heading)."""
    return _names(text.partition(f"\n## {title}")[2].partition("\n## ")[0])


def explained(doc: Path) -> tuple[set[str], set[str], set[str]]:
    """Mutant names docs/mutation.md lists (backticked ``reference.…__mutmut_N``): those in its sections
    "## Killed by checks added for them" and "## Equivalent survivors", and all of them."""
    text = doc.read_text() if doc.exists() else ""
    return _section(text, "Killed by checks added for them"), _section(text, "Equivalent survivors"), _names(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--survivors", action="store_true", help="list every unexplained survivor")
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants", help="mutmut's directory (default mutants/)")
    args = parser.parse_args()
    killed_later, equivalent, listed = explained(ROOT / "docs" / "mutation.md")
    rows: dict[str, Counter] = {}
    seconds: list[float] = []
    unexplained: list[str] = []
    for meta in sorted((args.mutants / "reference").glob("*.py.meta")):
        data = json.loads(meta.read_text())
        counts = Counter()
        for name, code in data["exit_code_by_key"].items():
            status = STATUS.get(code, "other")
            if status in ("survived", "no tests") and name in killed_later:
                status = "killed later"
            elif status in ("survived", "no tests") and name in equivalent:
                status = "equivalent"
            elif status == "survived" and name in listed:
                status = "open"  # a gap docs/mutation.md describes
            elif status == "survived":
                status = "unexplained"
                unexplained.append(name)
            counts[status] += 1
        if counts:
            rows[meta.name.removesuffix(".py.meta")] = counts
        seconds += [s for s in data.get("durations_by_key", {}).values() if s]
    total = sum(rows.values(), Counter())
    print("| module | " + " | ".join(COLUMNS) + " | score |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for module, counts in [*rows.items(), ("**all**", total)]:
        killed = counts["killed"] + counts["timeout"] + counts["killed later"]
        ran = killed + counts["open"] + counts["unexplained"] + counts["no tests"]
        score = f"{killed / ran:.1%}" if ran else "-"
        print(f"| {module} | " + " | ".join(str(counts[c]) for c in COLUMNS) + f" | {score} |")
    if seconds:
        print(f"\n{len(seconds)} mutants run, {sum(seconds) / len(seconds):.2f} s each on average "
              f"(median {sorted(seconds)[len(seconds) // 2]:.2f} s)")
    print(f"{len(unexplained)} survivor(s) not yet in docs/mutation.md")
    if args.survivors:
        print("\n".join(unexplained))
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
