"""Time the reference against torch, side by side in one run, on realistic convolution and pooling sizes.

    python scripts/benchmark.py                 # 1 thread, 7 repeats, table to reports/benchmark.{md,json}
    python scripts/benchmark.py --threads 2 --repeats 15 -k conv

Each case is forward + backward (a random ``dout``) in float32. Repeats alternate reference and torch
so that both see the same machine noise; the table gives the median of each, their ratio
(reference / torch: below 1 the reference is faster) and the peak memory each needs above what the
inputs already take, measured in a fresh process per case and side (growth of the peak RSS).
torch runs on the same number of threads as NumPy's BLAS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bench:
    name: str
    x: tuple[int, ...]  # input shape
    ref: str  # reference op
    torch: str  # torch.nn.functional function
    options: dict = field(default_factory=dict)
    weight: tuple[int, ...] | None = None  # conv weight shape; a bias of weight[0] (or [1] * groups) too


CASES = (
    Bench("conv2d 3x3 pad 1", (64, 16, 32, 32), "conv2d", "conv2d", {"padding": 1}, (32, 16, 3, 3)),
    Bench("conv2d 3x3 stride 2", (64, 16, 32, 32), "conv2d", "conv2d", {"stride": 2, "padding": 1}, (32, 16, 3, 3)),
    Bench("conv2d 3x3 dilation 2", (64, 16, 32, 32), "conv2d", "conv2d", {"dilation": 2, "padding": 2}, (32, 16, 3, 3)),
    Bench("conv_transpose2d 3x3 stride 2", (64, 32, 16, 16), "conv_transpose2d", "conv_transpose2d",
          {"stride": 2, "padding": 1, "output_padding": 1}, (32, 16, 3, 3)),
    Bench("max_pool2d 2x2", (64, 16, 32, 32), "max_pool2d", "max_pool2d", {"kernel_size": 2}),
    Bench("max_pool2d 3x3 stride 2", (64, 16, 32, 32), "max_pool2d", "max_pool2d", {"kernel_size": 3, "stride": 2}),
    Bench("avg_pool2d 2x2", (64, 16, 32, 32), "avg_pool2d", "avg_pool2d", {"kernel_size": 2}),
)


def _limit_threads(n: int) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    _limit_threads.keep = threadpool_limits(n)  # the limit lasts while this object lives


def _callables(case: Bench, seed: int = 0) -> tuple[Callable[[], object], Callable[[], object]]:
    """Forward + backward of the reference and of torch on the same float32 data."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    import reference

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.x).astype(np.float32)
    arrays = {}
    if case.weight:
        arrays["W"] = (rng.standard_normal(case.weight) / np.sqrt(np.prod(case.weight[1:]))).astype(np.float32)
        out_channels = case.weight[0] if case.ref == "conv2d" else case.weight[1] * case.options.get("groups", 1)
        arrays["b"] = rng.standard_normal(out_channels).astype(np.float32)
    fwd, bwd = getattr(reference, f"{case.ref}_forward"), getattr(reference, f"{case.ref}_backward")
    tfn = getattr(F, case.torch)
    meta = [torch.empty(a.shape, device="meta") for a in (x, *arrays.values())]
    dout = rng.standard_normal(tuple(tfn(*meta, **case.options).shape)).astype(np.float32)  # shape only: no run

    def ref() -> object:
        _, cache = fwd(x, *arrays.values(), **case.options)
        return bwd(cache, dout)

    tx = torch.tensor(x, requires_grad=True)
    targs = [torch.tensor(a, requires_grad=True) for a in arrays.values()]
    tdout = torch.tensor(dout)

    def tor() -> object:
        out = tfn(tx, *targs, **case.options)
        return torch.autograd.grad(out, [tx, *targs], tdout)

    return ref, tor


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peak_mb(case: Bench, side: str, threads: int) -> float:
    """Peak RSS growth of one forward + backward, in a fresh process (after imports and inputs)."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/scripts']; import benchmark as b; "
        "b._limit_threads(int(sys.argv[4])); case = next(c for c in b.CASES if c.name == sys.argv[2]); "
        "ref, tor = b._callables(case); fn = ref if sys.argv[3] == 'reference' else tor; "
        "before = b.high_water_kib(); fn(); print(b.high_water_kib() - before)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(ROOT), case.name, side, str(threads)],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def high_water_kib() -> int:
    """This process's peak resident memory (VmHWM, Linux). Not getrusage's ru_maxrss, which a process
    started from a large parent inherits."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def run(cases: list[Bench], threads: int, repeats: int, memory: bool) -> list[dict]:
    _limit_threads(threads)
    rows = []
    for case in cases:
        ref, tor = _callables(case)
        ref()  # warm up (allocator, BLAS buffers, oneDNN primitives)
        tor()
        times = {"reference": [], "torch": []}
        for _ in range(repeats):
            times["reference"].append(_time(ref))
            times["torch"].append(_time(tor))
        ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        row = {"case": case.name, "input": list(case.x), "options": case.options,
               "reference_ms": ms["reference"], "torch_ms": ms["torch"], "ratio": ms["reference"] / ms["torch"]}
        if memory:
            row.update({f"{side}_peak_mb": _peak_mb(case, side, threads) for side in ("reference", "torch")})
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _line(r: dict) -> str:
    mem = f" | {r['reference_peak_mb']:.0f} | {r['torch_peak_mb']:.0f}" if "torch_peak_mb" in r else " | | "
    return f"| {r['case']} | {r['reference_ms']:.1f} | {r['torch_ms']:.1f} | {r['ratio']:.2f}{mem} |"


HEADER = (
    "| case (forward + backward, float32) | reference ms | torch ms | ratio | reference peak MB | torch peak MB |\n"
    "|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="threads for torch and NumPy's BLAS (default 1)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per case and side (default 7)")
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--out", default=str(ROOT / "reports"), help="directory for benchmark.md/json")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    cases = [c for c in CASES if args.k in c.name]
    meta = {
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "threads": args.threads, "repeats": args.repeats, "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "command": " ".join(sys.argv),
    }
    print(f"reference vs torch {meta['torch']} (numpy {meta['numpy']}), {args.threads} thread(s), "
          f"median of {args.repeats}\n{HEADER}", flush=True)
    rows = run(cases, args.threads, args.repeats, not args.no_memory)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (out / "benchmark.md").write_text(
        f"Reference vs torch {meta['torch']} (numpy {meta['numpy']}), {args.threads} thread(s), median of "
        f"{args.repeats} alternating repeats, {meta['generated']}.\n\n{HEADER}\n" + "\n".join(map(_line, rows)) + "\n"
    )
    print(f"written to {out}/benchmark.md and benchmark.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
