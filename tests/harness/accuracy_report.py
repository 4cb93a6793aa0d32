"""The accuracy part of the verification report: the ``accuracy`` records of the forward and backward
tests (``harness.accuracy``) aggregated per op × output × dtype × value family, a Markdown table of
reference vs torch error per op × dtype, and the heatmap PNG (with matplotlib, the ``plot`` extra)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from harness.dtypes import ALL_DTYPES

ACCURACY = ("ref_ulp", "ref_rel", "torch_ulp", "torch_rel", "headroom")
HEATMAP = "accuracy_heatmap.png"


class Accuracy:
    """The ``accuracy`` records of every test, aggregated per op × output × dtype × value family: the
    largest error of the implementation and of torch over the cell's cases, the largest headroom, and
    digests of both results over all cases (a bitwise change shows even when the errors do not move)."""

    def __init__(self) -> None:
        self._cells: dict[tuple[str, str, str, str], dict] = {}

    def add(self, records) -> None:
        for r in records:
            key = (r["op"], r["output"], r["dtype"], r["family"])
            cell = self._cells.setdefault(key, {"cases": 0, "measured": 0, "oracle": None,
                                                "ref_nonfinite": 0, "torch_nonfinite": 0, "digests": []})
            cell["cases"] += 1
            cell["digests"].append((r["case"], r["torch_digest"], r["ref_digest"]))
            cell["headroom"] = max(cell.get("headroom", 0.0), r["headroom"])
            if r.get("oracle"):
                cell["measured"] += 1
                cell["oracle"] = r["oracle"]
                for e in ACCURACY[:4]:
                    cell[e] = max(cell.get(e, 0.0), r[e])
                for e in ("ref_nonfinite", "torch_nonfinite"):
                    cell[e] += r[e]
                cell["excess"] = max(cell.get("excess", -math.inf), r["excess"])

    def cells(self) -> list[dict]:
        out = []
        for (op, output, dtype, family), c in sorted(self._cells.items()):
            digests = sorted(c.pop("digests"))
            out.append({"op": op, "output": output, "dtype": dtype, "family": family, **c,
                        "torch_digest": _combined(d[:2] for d in digests),
                        "ref_digest": _combined((d[0], d[2]) for d in digests)})
        return out


def _combined(pairs) -> str:
    import hashlib

    h = hashlib.blake2b(digest_size=8)
    for case, digest in pairs:
        h.update(f"{case}={digest};".encode())
    return h.hexdigest()


def by_op_dtype(accuracy: list[dict]) -> dict[tuple[str, str], dict]:
    """Per op × dtype, the largest figures over its outputs and families (measured cells only), and the
    largest headroom over all of them; ``measured`` False where no cell had an oracle."""
    out: dict[tuple[str, str], dict] = {}
    for c in accuracy:
        s = out.setdefault((c["op"], c["dtype"]), {"measured": False, "headroom": 0.0,
                                                   **dict.fromkeys(ACCURACY[:4], 0.0)})
        s["headroom"] = max(s["headroom"], c.get("headroom", 0.0))
        if c["measured"]:
            s["measured"] = True
            for e in ACCURACY[:4]:
                s[e] = max(s[e], c[e])
    return out


def ratio(s: dict) -> float:
    """log2 of the reference's error over torch's (each plus half a ULP, so that exact results compare)."""
    return math.log2((s["ref_ulp"] + 0.5) / (s["torch_ulp"] + 0.5))


def _acc_cell(s: dict | None) -> str:
    if s is None:
        return ""
    head = f" · h {s['headroom']:.2g}"
    if not s["measured"]:
        return "no oracle" + head
    mark = "**" if s["ref_ulp"] > s["torch_ulp"] + 2 else ""
    return f"{mark}{s['ref_ulp']:.3g} / {s['torch_ulp']:.3g}{mark}" + head


def accuracy_markdown(accuracy: list[dict], out_dir: Path | None = None) -> str:
    if not accuracy:
        return ""
    summary = by_op_dtype(accuracy)
    dtypes = [d for d in ALL_DTYPES if any(k[1] == d for k in summary)]
    ops = sorted({k[0] for k in summary})
    image = render_heatmap(accuracy, out_dir / HEATMAP) if out_dir is not None else None
    lines = [
        "", "## Accuracy against a higher-precision oracle", "",
        f"{len(accuracy)} cells (op × output × dtype × value family). Each entry: the largest error of the "
        "reference / of torch in the same dtype against the oracle (torch in float64 on the same inputs; for "
        "float64 the entry's high-precision oracle), in ULPs of the dtype at max(|oracle|, sum of |terms|) "
        "(harness.accuracy.error), over outputs, gradients and families; **bold**: the reference exceeds "
        "torch by more than the default allowance of 2 ULP. h: headroom, the largest share of the tolerance "
        "used against torch (1 = at the limit). \"no oracle\": float64 without a high-precision oracle.",
        "",
    ]
    if image:
        lines += [f"![reference error / torch error]({image.name})", ""]
    lines += ["| op | " + " | ".join(dtypes) + " |", "|---|" + "---|" * len(dtypes)]
    lines += [f"| {op} | " + " | ".join(_acc_cell(summary.get((op, d))) for d in dtypes) + " |" for op in ops]
    worse = [c for c in accuracy if c["measured"] and c["ref_ulp"] > c["torch_ulp"] + 2]
    if worse:
        lines += ["", "Cells where the reference is less accurate than torch by more than 2 ULP:", "",
                  "| op | output | dtype | family | reference ULP | torch ULP | reference rel | torch rel |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {c['op']} | {c['output']} | {c['dtype']} | {c['family']} | {c['ref_ulp']:.3g} | "
                  f"{c['torch_ulp']:.3g} | {c['ref_rel']:.3g} | {c['torch_rel']:.3g} |" for c in worse]
    return "\n".join(lines) + "\n"


def render_heatmap(accuracy: list[dict], path: Path) -> Path | None:
    """op × dtype, coloured by log2(reference error / torch error) (red: the reference is less accurate),
    annotated with both maxima in ULPs; grey: no higher-precision oracle. Needs matplotlib (the ``plot``
    extra); returns None without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    summary = by_op_dtype(accuracy)
    dtypes = [d for d in ALL_DTYPES if any(k[1] == d for k in summary)]
    ops = sorted({k[0] for k in summary})
    grid = np.full((len(ops), len(dtypes)), np.nan)
    fig, ax = plt.subplots(figsize=(1.6 * len(dtypes) + 2.6, 0.24 * len(ops) + 1.4))
    for i, op in enumerate(ops):
        for j, d in enumerate(dtypes):
            s = summary.get((op, d))
            if s is None:
                continue
            text = "no oracle"
            if s["measured"]:
                grid[i, j] = ratio(s)
                text = f"{s['ref_ulp']:.2g} / {s['torch_ulp']:.2g}"
            dark = abs(grid[i, j]) > 2.5  # NaN (no oracle) compares False
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color="white" if dark else "black")
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-4, vmax=4, aspect="auto")
    ax.set_xticks(range(len(dtypes)), dtypes)
    ax.set_yticks(range(len(ops)), ops, fontsize=7)
    ax.xaxis.tick_top()
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="log2(reference ULP error / torch ULP error)")
    ax.set_title("max error against the higher-precision oracle: reference / torch (ULP)", fontsize=8, pad=18)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
