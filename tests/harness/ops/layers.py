"""Registry entries for dropout, embedding, flatten and matmul (issue 3, last part)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from harness import highprec_ops as hp
from harness.checks import BITWISE
from harness.dtypes import DTYPES, to_numpy, to_torch
from harness.registry import BadInput, OpSpec, Property, Variant, register
from harness.values import FAMILIES, LAYOUTS, Hints, normal

# -- dropout ---------------------------------------------------------------------------------------

DROPOUT_VARIANTS = (
    Variant("p=0.5", {"p": 0.5}),
    Variant("p=0.3", {"p": 0.3}),  # 1 / 0.7 is not representable: the scale's rounding to the dtype shows
    Variant("p=0", {"p": 0.0}),
    Variant("p=1", {"p": 1.0}),
    Variant("eval", {"p": 0.5, "training": False}),
)


def _noise_shape(op: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape[:2] + (1,) * (len(shape) - 2) if op == "dropout2d" else shape


def _dropout_sample(op: str):
    def sample(rng, dtype, shape, fam, variant, hints):
        p = variant.options.get("p", 0.5)
        return {
            "x": FAMILIES[fam](rng, shape, dtype, hints),
            "mask": rng.random(_noise_shape(op, shape)) >= p,  # True = keep, with probability 1 - p
        }

    return sample


def torch_dropout(x, mask, p=0.5, training=True):
    """torch's CPU dropout kernel with the keep-mask injected: the noise ``mask / (1 - p)`` is formed
    in x's dtype and multiplied in; ``p = 1`` multiplies by zero; eval and ``p = 0`` return x. The
    ``torch_kernel`` property checks that this equals ``F.dropout``/``F.dropout2d`` bit for bit."""
    if not training or p == 0:
        return x
    if p == 1:
        return x * torch.zeros((), dtype=x.dtype)
    return x * (mask.to(x.dtype) / (1 - p))


Z_FALSE_ALARM = 5.0  # two-sided normal tail beyond 5 sigma: a false alarm about once in 1.7 million runs


def _keep_fraction(op: str):
    def check(ctx) -> None:
        fwd = ctx.impl.get(f"{op}_forward")
        n = 200_000
        shape = (n // 100, 100, 1, 1) if op == "dropout2d" else (n,)
        for p in (0.1, None, 0.9):  # None: the default p, torch's 0.5
            out, _ = fwd(np.ones(shape, np.float32), **({} if p is None else {"p": p}), rng=ctx.rng)
            p = 0.5 if p is None else p
            kept = int(np.count_nonzero(out))
            bound = Z_FALSE_ALARM * math.sqrt(n * p * (1 - p))
            if abs(kept - n * (1 - p)) > bound:
                ctx.fail("keep_fraction", f"p={p}: kept {kept} of {n}, expected {n * (1 - p):.0f} ± {bound:.0f} "
                         f"(binomial, {Z_FALSE_ALARM} sigma)")
            scale = np.float32(1) / np.float32(1 - p)
            if not np.all((out == 0) | (out == scale)):
                ctx.fail("keep_fraction", f"p={p}: kept values must be 1 / (1 - p) = {scale}, got {np.unique(out)[:5]}")

    return Property("keep_fraction", check, f"seeded Generator: kept fraction = 1 - p within {Z_FALSE_ALARM} sigma")


class _GridGenerator(np.random.Generator):
    """A Generator whose ``random()`` returns given draws (its other methods are a seeded PCG64's)."""

    def __init__(self, draws: np.ndarray) -> None:
        super().__init__(np.random.PCG64(0))
        self.draws = draws

    def random(self, size=None, dtype=np.float64, out=None):
        return self.draws.reshape(size)


def _keep_exact(op: str):
    """Keep probability exactly 1 - p, not 1 - p - 2^-53: a Generator whose random() draws are the grid
    k / 64 (k = 0..63, shuffled), a uniform distribution in small, must keep exactly 64 (1 - p) of 64 for
    p in {0.25, 0.5, 0.75}. Either exact convention passes (keep iff u >= p, the harness's sampler's, or
    torch's bernoulli(1 - p), keep iff u < 1 - p); u > p misses the draw u = p."""

    def check(ctx) -> None:
        fwd = ctx.impl.get(f"{op}_forward")
        shape = (4, 16, 1, 1) if op == "dropout2d" else (64,)
        for p in (0.25, 0.5, 0.75):
            rng = _GridGenerator(ctx.rng.permutation(64) / 64)
            out, _ = fwd(np.ones(shape), p=p, rng=rng)
            kept = int(np.count_nonzero(out))
            if kept != 64 * (1 - p):
                ctx.fail("keep_exact", f"p={p}: the draws k / 64 (k = 0..63) kept {kept}, expected {64 * (1 - p):.0f}")

    return Property("keep_exact", check, "draws on the grid k / 64: exactly 64 (1 - p) of 64 kept")


def _torch_kernel(op: str, torch_fn):
    """torch's real kernel, its mask read back by running it on ones with the same seed (and the same
    strides: torch draws the mask in memory order), against the reference given that mask."""

    def check(ctx) -> None:
        fwd, bwd = ctx.impl.get(f"{op}_forward"), ctx.impl.get(f"{op}_backward")
        for dt in DTYPES.values():
            for layout in ("C", "F"):
                for p in (0.3, 0.5):
                    x = LAYOUTS[layout].apply(normal(ctx.rng, (4, 3, 5, 2), dt, None))
                    dout = normal(ctx.rng, x.shape, dt, None)
                    xt = torch.from_numpy(x.astype(np.float64)).to(dt.torch).requires_grad_()
                    seed = int(ctx.rng.integers(2**31))
                    with torch.random.fork_rng():
                        torch.manual_seed(seed)
                        yt = torch_fn(xt, p)
                        torch.manual_seed(seed)
                        keep = torch_fn(torch.ones_like(xt), p) != 0
                    (dxt,) = torch.autograd.grad(yt, xt, to_torch(dout))
                    mask = keep.numpy()[:, :, :1, :1] if op == "dropout2d" else keep.numpy()
                    out, cache = fwd(x, p=p, mask=mask)
                    ctx.compare("out", out, to_numpy(yt), dt, BITWISE, {"x": x}, oracle=f"F.{op} ({layout} layout)")
                    ctx.compare("dx", bwd(cache, dout)["dx"], to_numpy(dxt), dt, BITWISE, {"x": x, "dout": dout},
                                oracle=f"F.{op} backward ({layout} layout)")

    return Property("torch_kernel", check, f"given torch's own mask, the reference reproduces F.{op} bitwise")


def _p_call(op_shape, **options):
    return lambda rng: ((np.ones(op_shape),), options)


# Where dropout is the identity (eval, p = 0) torch returns x itself and autograd passes dout through;
# an implementation may do the same (the reference copies).
IDENTITY_ALIASES = {
    ("out", "x"): "F.dropout returns its input itself in eval mode and for p = 0",
    ("dx", "dout"): "torch.autograd.grad through the identity returns dout itself",
}
_X_3D = BadInput("x_3d", _p_call((2, 3, 4), p=0.5), ValueError, r"\(N, C, H, W\)")
for _op, _fn, _shapes, _extra, _doc in (
    ("dropout", F.dropout, ((), (0, 3), (3, 5, 7)), (), "inverted; the keep-mask is injected on both sides"),
    ("dropout2d", F.dropout2d, ((2, 3, 4, 5), (3, 2, 0, 2)), (_X_3D,), "inverted, whole channels; mask injected"),
):
    register(
        OpSpec(
            name=_op,
            inputs=("x",),
            grads=("x",),
            torch_fn=torch_dropout,
            sample=_dropout_sample(_op),
            shapes=_shapes,
            families=("normal", "nonfinite"),
            variants=DROPOUT_VARIANTS,
            bad_inputs=(
                BadInput("p_high", _p_call(_shapes[-1], p=1.5), ValueError, "between 0 and 1, got 1.5"),
                BadInput("p_negative", _p_call(_shapes[-1], p=-0.1), ValueError, "got -0.1"),
                BadInput("no_mask", _p_call(_shapes[-1], p=0.5), ValueError, "keep-mask"),
                BadInput("mask_float", _p_call(_shapes[-1], p=0.5, mask=np.ones(_noise_shape(_op, _shapes[-1]))),
                         TypeError, "boolean"),
                BadInput("mask_shape", _p_call(_shapes[-1], p=0.5, mask=np.ones((2, 1), bool)), ValueError,
                         r"mask has shape \(2, 1\)"),
            )
            + _extra,
            properties=(_keep_fraction(_op), _keep_exact(_op), _torch_kernel(_op, _fn)),
            highprec=getattr(hp, _op),
            elementwise=_op == "dropout",  # its keep-mask has x's shape; dropout2d's is per channel
            aliases=IDENTITY_ALIASES,
            doc=_doc,
        )
    )


# -- embedding -------------------------------------------------------------------------------------

NUM_EMBEDDINGS, EMBEDDING_DIM = 10, 4
PADDING = (Variant(), Variant("padding_idx=0", {"padding_idx": 0}), Variant("padding_idx=-10", {"padding_idx": -10}))
# padding_idx=-10 is -num_embeddings, the most negative index torch accepts (row 0)


def _embedding_sample(rng, dtype, shape, fam, variant, hints):
    idx = rng.integers(NUM_EMBEDDINGS, size=shape)  # 10 rows: longer index arrays repeat rows
    pad = variant.options.get("padding_idx")
    if pad is not None and fam == "smooth":
        # The padding row gets no gradient by definition, though the output depends on it: finite
        # differences (the smooth family) see a derivative there, so their indices avoid that row.
        idx = (pad % NUM_EMBEDDINGS + 1 + rng.integers(NUM_EMBEDDINGS - 1, size=shape)) % NUM_EMBEDDINGS
    elif pad is not None and idx.size:
        idx.flat[rng.integers(idx.size, size=max(1, idx.size // 4))] = pad % NUM_EMBEDDINGS
    return {"idx": idx, "W": FAMILIES[fam](rng, (NUM_EMBEDDINGS, EMBEDDING_DIM), dtype, hints)}


def _embedding_call(idx, w_shape=(NUM_EMBEDDINGS, EMBEDDING_DIM), **options):
    return lambda rng: ((np.asarray(idx), np.ones(w_shape)), options)


def _repeated_max() -> Property:
    """A row used three times, its gradients ``[max, max, -max]`` in index order, and another row's
    ``[-max, max, max]``: torch adds a row's gradients one at a time in index order, in the dtype, so
    the first row overflows to inf for good and the second comes back to max (a float64 accumulator
    would give max for both). dW bitwise torch's in bfloat16, float32 and float64; float16 is left
    out: torch's float16 gradient overflows at max + max, the reference's float32 sum does not."""

    def check(ctx) -> None:
        idx = np.array([3, 5, 3, 5, 3, 5])
        for dt in (DTYPES["bfloat16"], DTYPES["float32"], DTYPES["float64"]):
            big = float(dt.finfo.max)
            W = FAMILIES["normal"](ctx.rng, (NUM_EMBEDDINGS, EMBEDDING_DIM), dt, Hints())
            dout = np.repeat(np.array([1, -1, 1, 1, -1, 1])[:, None] * big, EMBEDDING_DIM, axis=1).astype(dt.np)
            _, cache = ctx.impl.get("embedding_forward")(idx, W)
            Wt = to_torch(W, requires_grad=True)
            want = to_numpy(torch.autograd.grad(F.embedding(torch.from_numpy(idx), Wt), Wt, to_torch(dout))[0])
            ctx.compare("dW", ctx.impl.get("embedding_backward")(cache, dout)["dW"], want, dt, BITWISE,
                        {"idx": idx, "W": W, "dout": dout}, oracle="torch autograd (repeated rows at ±max)")

    return Property("repeated_max", check, "a row's gradients at ±max add in index order, in the dtype, as torch")


register(
    OpSpec(
        name="embedding",
        inputs=("idx", "W"),
        grads=("W",),
        torch_fn=lambda idx, W, padding_idx=None: F.embedding(idx, W, padding_idx),
        sample=_embedding_sample,
        shapes=((), (2, 7), (0,), (64,)),
        families=("normal", "wide", "nonfinite"),
        variants=PADDING,
        reduces=True,  # repeated indices sum their gradients; the order of the sum is the kernel's
        bad_inputs=(
            BadInput("index_high", _embedding_call([[1, 10]]), ValueError, r"index 10 at \(0, 1\) is out of range"),
            BadInput("index_negative", _embedding_call([-1]), ValueError, "index -1"),
            BadInput("index_float", _embedding_call([1.0]), TypeError, "integer"),
            BadInput("W_1d", _embedding_call([1], (10,)), ValueError, r"\(10,\)"),
            BadInput("padding_idx", _embedding_call([1], padding_idx=10), ValueError, "padding_idx 10"),
        ),
        properties=(_repeated_max(),),
        doc="gather; backward accumulates repeated indices, the padding row gets no gradient",
        highprec=hp.embedding,
    )
)


# -- flatten ---------------------------------------------------------------------------------------

FLATTEN = (
    Variant(),
    Variant("start_dim=1", {"start_dim": 1}),
    Variant("start_dim=1,end_dim=2", {"start_dim": 1, "end_dim": 2}),
    Variant("start_dim=-2", {"start_dim": -2}),
)


def _has_dims(variant: Variant, shape: tuple[int, ...]) -> bool:
    dims = [variant.options.get("start_dim", 0), variant.options.get("end_dim", -1)]
    return all(-max(len(shape), 1) <= d < max(len(shape), 1) for d in dims)


register(
    OpSpec(
        name="flatten",
        inputs=("x",),
        grads=("x",),
        torch_fn=lambda x, start_dim=0, end_dim=-1: torch.flatten(x, start_dim, end_dim),
        sample=lambda rng, dtype, shape, fam, variant, hints: {"x": FAMILIES[fam](rng, shape, dtype, hints)},
        shapes=((), (0, 3), (4, 3), (2, 3, 1, 4)),
        families=("normal",),  # a reshape copies values untouched: shapes, dims and layouts are what vary
        variants=FLATTEN,
        applies=_has_dims,
        aliases={  # an implementation may return views, as torch does (the reference copies)
            ("out", "x"): "torch.flatten returns a view of its input",
            ("dx", "dout"): "flatten's backward reshapes dout into a view",
        },
        bad_inputs=(
            BadInput("order", lambda rng: ((np.ones((2, 3, 4)),), {"start_dim": 2, "end_dim": 1}), ValueError,
                     "start_dim 2 comes after end_dim 1"),
            BadInput("dim", lambda rng: ((np.ones((2, 3)),), {"start_dim": 2}), ValueError, "axis 2 is out of range"),
            BadInput("end_dim", lambda rng: ((np.ones((2, 3)),), {"end_dim": -3}), ValueError,
                     "axis -3 is out of range"),
        ),
        doc="torch.flatten (start_dim=0 by default; nn.Flatten's start_dim=1 is a variant)",
        highprec=hp.flatten,
    )
)


# -- matmul ----------------------------------------------------------------------------------------

MATMUL_OUT = 6


def _b_shape(a: tuple[int, ...], how: str) -> tuple[int, ...]:
    k = a[-1]
    return {
        "batch": a[:-2] + (k, MATMUL_OUT),
        "matrix": (k, MATMUL_OUT),
        "vector": (k,),
        "broadcast": (3, k, MATMUL_OUT),
    }[how]


def _matmul_applies(variant: Variant, a: tuple[int, ...]) -> bool:
    how = variant.sampling["b"]
    if how == "batch":
        return len(a) >= 2
    if how == "matrix":
        return len(a) >= 3
    return how == "vector" or len(a) <= 2 or a[-3] == 1


def _matmul_sample(rng, dtype, shape, fam, variant, hints):
    draw = FAMILIES[fam]
    return {"a": draw(rng, shape, dtype, hints), "b": draw(rng, _b_shape(shape, variant.sampling["b"]), dtype, hints)}


def _matmul_call(a_shape, b_shape, b_dtype=np.float64, a_dtype=np.float64):
    return lambda rng: ((np.ones(a_shape, a_dtype), np.ones(b_shape, b_dtype)), {})


register(
    OpSpec(
        name="matmul",
        inputs=("a", "b"),
        grads=("a", "b"),
        torch_fn=torch.matmul,
        sample=_matmul_sample,
        shapes=((5,), (3, 4, 5), (2, 1, 4, 5), (3, 4, 0), (8, 16, 32)),
        families=("normal", "wide", "nonfinite"),
        variants=tuple(Variant(f"b={how}", sampling={"b": how}) for how in ("batch", "matrix", "vector", "broadcast")),
        applies=_matmul_applies,
        reduces=True,
        magnitude=True,
        bad_inputs=(
            BadInput("inner", _matmul_call((4, 5), (4, 6)), ValueError, r"\(4, 5\) and \(4, 6\)"),
            BadInput("batch", _matmul_call((2, 4, 5), (3, 5, 6)), ValueError, "batch dimensions"),
            BadInput("scalar", _matmul_call((), (3,)), ValueError, "at least one dimension"),
            BadInput("dtype_mix", _matmul_call((4, 5), (5, 6), np.float32), TypeError, "float32"),
            # Each input on its own, named as the message's subject (the generic a_int64's pattern
            # `\ba\b.*floating` is also matched by the article in "must be a floating-point array").
            BadInput("a_int32", _matmul_call((4, 5), (5, 6), a_dtype=np.int32), TypeError, "^matmul: a must be"),
            BadInput("b_int64", _matmul_call((4, 5), (5, 6), np.int64), TypeError, "^matmul: b must be"),
        ),
        highprec=hp.matmul,
        doc="torch.matmul: broadcasting batch dimensions, 1-D operands as vectors",
    )
)
