"""Train the reference CNN on generated images, side by side with its torch twin, and plot both loss curves.

    python scripts/train.py                      # 6 epochs, float64, plot to reports/train_cnn.png
    python scripts/train.py --dtype float32 --epochs 10 --save reports/cnn.npz

The data set is made here (no download): 16 x 16 grey images of four shapes — a horizontal bar, a
vertical bar, a hollow square and a diagonal — at random positions and sizes in Gaussian noise; 1024
for training, 256 held out. The network is built from ``reference.layers``:

    Conv2d(1, 8, 3, padding=1, no bias) → BatchNorm2d → ReLU → MaxPool2d(2)
    → Conv2d(8, 16, 3, padding=1, no bias) → BatchNorm2d → ReLU → MaxPool2d(2) → Flatten → Affine(256, 4)
    → CrossEntropyLoss, trained with Adam. The convolutions have no bias: batch norm removes it, so its
    gradient is rounding noise, which Adam would turn into full-size steps.

torch's twin (``torch.nn``) starts from the same weights and sees the same batches. The plot (PNG)
shows both loss curves and, below, their difference. In float64 the curves agree to ~1e-15. In
float32 they agree to ~1e-7 until rounding decides a near-tie differently (a max-pool window whose
two largest values are within an ULP, or a ReLU input at zero): the gradients then differ by a
discrete amount and the two trainings separate, to ~1e-2 after a few dozen steps, as two float32
runs of torch itself do. It needs matplotlib: ``pip install -e ".[plot]"``. Without torch the
reference trains alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ("horizontal bar", "vertical bar", "hollow square", "diagonal")


def make_images(rng, n: int, size: int = 16):
    """``n`` images (N, 1, size, size) of the four SHAPES in noise, and their labels."""
    import numpy as np

    labels = rng.integers(0, len(SHAPES), n)
    x = 0.4 * rng.standard_normal((n, 1, size, size))
    for img, label in zip(x[:, 0], labels, strict=True):
        k = int(rng.integers(5, 10))  # the shape's extent
        r, c = rng.integers(0, size - k + 1, 2)
        if label == 0:
            img[r + k // 2, c:c + k] += 1
        elif label == 1:
            img[r:r + k, c + k // 2] += 1
        elif label == 2:
            img[r, c:c + k] += 1
            img[r + k - 1, c:c + k] += 1
            img[r + 1:r + k - 1, c] += 1
            img[r + 1:r + k - 1, c + k - 1] += 1
        else:
            img[r + np.arange(k), c + np.arange(k)] += 1
    return x, labels


def build(L, rng, dtype):
    def block(c_in, c_out):
        return [L.Conv2d(c_in, c_out, 3, rng, padding=1, bias=False, dtype=dtype), L.BatchNorm2d(c_out, dtype=dtype),
                L.ReLU(), L.MaxPool2d(2)]

    net = L.Sequential(*block(1, 8), *block(8, 16), L.Flatten(), L.Affine(16 * 4 * 4, len(SHAPES), rng, dtype=dtype))
    return net, L.CrossEntropyLoss()


def torch_twin(L, net, dtype):
    """``nn.Sequential`` with the same children (by index) and the reference's parameters and buffers."""
    import torch
    from torch import nn

    twin = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, len(SHAPES)),
    ).to(getattr(torch, dtype))
    with torch.no_grad():
        for key, layer in net.layers.items():
            for name, a in layer.state_dict().items():
                # the seed's Affine keeps W as (in, out), nn.Linear's weight is (out, in)
                value = a.T if isinstance(layer, L.Affine) and name == "W" else a
                getattr(twin.get_submodule(key), {"W": "weight", "b": "bias"}.get(name, name)).copy_(
                    torch.from_numpy(value.copy()))
    return twin


class Progress:
    """A plain-text progress bar: redrawn in place on a terminal, one line per epoch otherwise."""

    def __init__(self, total: int, width: int = 30) -> None:
        self.total, self.width, self.start = total, width, time.perf_counter()
        self.tty = sys.stdout.isatty()

    def show(self, done: int, text: str, end_of_epoch: bool) -> None:
        if not (self.tty or end_of_epoch):
            return
        filled = self.width * done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {done:4d}/{self.total} {text} {time.perf_counter() - self.start:6.1f} s"
        if self.tty:  # redrawn in place; the spaces clear a longer previous line's end
            print(f"\r{line}  ", end="" if done < self.total else "\n", flush=True)
        else:
            print(line, flush=True)


def evaluate(net, loss, x, t):
    """Loss and accuracy in eval mode (batch norm on its running statistics)."""
    net.eval()
    logits = net.forward(x)
    value = float(loss.forward(logits, t))
    net.train()
    return value, float((logits.argmax(axis=1) == t).mean())


def need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit('scripts/train.py: the plot needs matplotlib: pip install -e ".[plot]" (or pip install matplotlib)')


def plot(path: Path, ref, tor, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = np.arange(1, len(ref) + 1)
    panels = 2 if tor is not None else 1
    fig, axes = plt.subplots(panels, 1, figsize=(8, 3 + 2.5 * (panels - 1)), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2][:panels]})
    ax = axes[0, 0]
    if tor is not None:
        ax.plot(steps, tor, color="tab:orange", lw=4, alpha=0.5, label="torch twin")
    ax.plot(steps, ref, color="tab:blue", lw=1, label="reference (NumPy)")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    if tor is not None:
        diff = np.abs(np.asarray(ref, float) - np.asarray(tor, float))
        axes[1, 0].semilogy(steps, np.where(diff > 0, diff, np.nan), ".", ms=3, color="tab:gray")
        axes[1, 0].set_ylabel("|reference - torch|")
        axes[1, 0].grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's learning rate (default 0.01)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="threads for BLAS and torch (default 1)")
    parser.add_argument("--plot", type=Path, default=ROOT / "reports" / "train_cnn.png", help="the PNG to write")
    parser.add_argument("--save", type=Path, default=None, help="also save the trained reference network (.npz)")
    parser.add_argument("--no-torch", action="store_true", help="train the reference only")
    args = parser.parse_args(argv)
    need_matplotlib()  # before training, not after
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before NumPy loads its BLAS
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import reference as L
    from reference.optim import Adam

    torch = None
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            print("torch is not installed: training the reference alone (pip install -e \".[test]\" for the twin)")

    rng = np.random.default_rng(args.seed)
    x, t = make_images(rng, 1024 + 256)
    x = x.astype(args.dtype)
    (x_train, x_test), (t_train, t_test) = np.split(x, [1024]), np.split(t, [1024])
    net, loss = build(L, rng, args.dtype)
    opt = Adam(net.params(), lr=args.lr)
    if torch is not None:
        twin = torch_twin(L, net, args.dtype)
        topt = torch.optim.Adam(twin.parameters(), lr=args.lr)
    per_epoch = len(x_train) // args.batch_size
    print(f"training the reference CNN on {len(x_train)} generated images ({', '.join(SHAPES)}), "
          f"{args.epochs} epochs x {per_epoch} steps of {args.batch_size}, Adam(lr={args.lr}), {args.dtype}")
    bar = Progress(args.epochs * per_epoch)
    ref_losses, torch_losses, ref_time, torch_time = [], [], 0.0, 0.0
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        for i in range(per_epoch):
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            xb, tb = x_train[idx], t_train[idx]
            start = time.perf_counter()
            net.zero_grad()
            ref_losses.append(float(loss.forward(net.forward(xb), tb)))
            net.backward(loss.backward())
            opt.step(net.grads())
            ref_time += time.perf_counter() - start
            if torch is not None:
                start = time.perf_counter()
                topt.zero_grad()
                out = torch.nn.functional.cross_entropy(twin(torch.from_numpy(xb)), torch.from_numpy(tb))
                out.backward()
                topt.step()
                torch_time += time.perf_counter() - start
                torch_losses.append(out.item())
            done = epoch * per_epoch + i + 1
            text = f"epoch {epoch + 1}/{args.epochs} loss {np.mean(ref_losses[-per_epoch:]):.4f}"
            bar.show(done, text + (f" (torch {np.mean(torch_losses[-per_epoch:]):.4f})" if torch_losses else ""),
                     end_of_epoch=i == per_epoch - 1)

    test_loss, accuracy = evaluate(net, loss, x_test, t_test)
    print(f"reference: final training loss {ref_losses[-1]:.6f}, held-out loss {test_loss:.4f}, "
          f"accuracy {accuracy:.1%}, {ref_time:.1f} s")
    if torch is not None:
        twin.eval()
        with torch.no_grad():
            logits = twin(torch.from_numpy(x_test))
            t_loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(t_test)).item()
            t_acc = (logits.argmax(1).numpy() == t_test).mean()
        diff = np.max(np.abs(np.array(ref_losses) - np.array(torch_losses)))
        print(f"torch:     final training loss {torch_losses[-1]:.6f}, held-out loss {t_loss:.4f}, "
              f"accuracy {t_acc:.1%}, {torch_time:.1f} s")
        print(f"largest difference between the two loss curves: {diff:.3g}")
    if args.save:
        net.save(args.save)
        print(f"saved the reference network to {args.save}")
    title = f"reference CNN{' vs torch twin' if torch_losses else ''}: {len(ref_losses)} steps of Adam, {args.dtype}"
    plot(args.plot, ref_losses, torch_losses or None, title)
    print(f"loss curves plotted to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
