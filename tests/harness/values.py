"""Value families and memory layouts: how the harness fills and lays out every input.

A family is a function ``(rng, shape, dtype, hints) -> array in dtype``. ``hints`` carries what the
op's registry entry declares (``kinks``, the class ``axis`` of a logits input)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from harness.dtypes import DType


@dataclass(frozen=True)
class Hints:
    kinks: tuple[float, ...] = ()
    axis: int = -1  # the class axis for logit families
    positive: bool = False  # smooth family: the op is differentiable only for x > 0


Family = Callable[[np.random.Generator, tuple[int, ...], DType, Hints], np.ndarray]
FAMILIES: dict[str, Family] = {}


def family(fn: Family) -> Family:
    FAMILIES[fn.__name__] = fn
    return fn


def cast(values: np.ndarray, dtype: DType) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.asarray(values, dtype=np.float64).astype(dtype.np)


def _sprinkle(rng: np.random.Generator, base: np.ndarray, specials: np.ndarray) -> np.ndarray:
    """Replace about half of ``base`` (at least one element) with values drawn from ``specials``."""
    out = base.copy()
    if out.size:
        hit = rng.random(out.shape) < 0.5
        hit.flat[rng.integers(out.size)] = True
        out[hit] = rng.choice(specials, size=int(hit.sum()))
    return out


@family
def normal(rng, shape, dtype, hints):
    return cast(rng.standard_normal(shape), dtype)


@family
def wide(rng, shape, dtype, hints):
    """Uniform over [-1000, 1000]: saturates sigmoid, overflows exp in every dtype."""
    return cast(rng.uniform(-1e3, 1e3, shape), dtype)


@family
def kink(rng, shape, dtype, hints):
    """Exact kink points of the op (0.0 and -0.0 unless it declares others) among normal values."""
    return cast(_sprinkle(rng, rng.standard_normal(shape), np.array(hints.kinks or (0.0, -0.0))), dtype)


@family
def subnormal(rng, shape, dtype, hints):
    """Subnormals of the dtype (the smallest, random ones, the largest) and the smallest normal."""
    fi = dtype.finfo
    tiny, sub = float(fi.smallest_normal), float(fi.smallest_subnormal)
    mags = np.array([sub, 2 * sub, tiny / 3, tiny - sub, tiny, 0.0])
    signs = rng.choice([-1.0, 1.0], size=shape)
    return cast(signs * rng.choice(mags, size=shape), dtype)


def log_max_edges(dtype: DType) -> tuple[float, float, float]:
    """``log(max)`` of the dtype (where ``exp`` overflows) and one step either side."""
    edge = float(cast(np.log(float(dtype.finfo.max)), dtype))
    step = float(np.spacing(np.float32(edge))) if dtype.low_precision else float(np.spacing(edge))
    step = max(step, float(dtype.finfo.eps) * edge)
    return edge - step, edge, edge + step


@family
def overflow(rng, shape, dtype, hints):
    """Values at ``log(max)`` of the dtype, where ``exp`` overflows (±88.72 in float32, ±709.78 in
    float64, ±11.09 in float16), one ULP either side, and a little beyond."""
    below, edge, above = log_max_edges(dtype)
    mags = np.array([below, edge, above, edge + 1.0])
    return cast(rng.choice([-1.0, 1.0], size=shape) * rng.choice(mags, size=shape), dtype)


@family
def nonfinite(rng, shape, dtype, hints):
    """NaN, +inf and -inf among normal values."""
    return cast(_sprinkle(rng, rng.standard_normal(shape), np.array([np.nan, np.inf, -np.inf])), dtype)


HUGE = (1.0, -1.0, np.inf, -np.inf, 0.0)  # the huge family's specials; ±1 stands for ±max of the dtype


def huge_values(specials: tuple[float, ...], dtype: DType) -> np.ndarray:
    """``specials`` with ±1 read as ±max of the dtype."""
    big = float(dtype.finfo.max)
    return np.array([big * s if abs(s) == 1 else s for s in specials])


@family
def huge(rng, shape, dtype, hints):
    """±max, ±inf and 0.0 among normal values: elementwise sums, products and exps overflow, inf·0 and
    inf−inf give NaN (the extreme check's inputs of elementwise ops)."""
    return cast(_sprinkle(rng, rng.standard_normal(shape), huge_values(HUGE, dtype)), dtype)


@family
def one_max(rng, shape, dtype, hints):
    """Normal values and one element at ±max: every sum it takes part in has exactly one overflowing
    term (a product with it, or its square), so overflows to ±inf whatever the order of the sum."""
    out = rng.standard_normal(shape)
    if out.size:
        out.flat[rng.integers(out.size)] = rng.choice([-1.0, 1.0]) * float(dtype.finfo.max)
    return cast(out, dtype)


@family
def infinite(rng, shape, dtype, hints):
    """±inf and 0.0 among normal values: every product and sum with them has one IEEE result whatever
    the order or fusion of the arithmetic (the extreme check's douts)."""
    return cast(_sprinkle(rng, rng.standard_normal(shape), np.array([np.inf, -np.inf, 0.0])), dtype)


@family
def sum_overflow(rng, shape, dtype, hints):
    """Negative values from 0.6 to 0.9 times the dtype's max: a sum of two or more overflows to -inf in
    the dtype, whatever the order (e.g. a float16 loss total rounded to the dtype before its mean)."""
    return cast(-rng.uniform(0.6, 0.9, shape) * float(dtype.finfo.max), dtype)


@family
def smooth(rng, shape, dtype, hints):
    """Normal values at least 0.05 from every kink (or in [0.1, ∞) for ops defined on x > 0):
    where central differences are a valid oracle."""
    v = rng.standard_normal(shape)
    if hints.positive:
        return cast(np.abs(v) + 0.1, dtype)
    for k in hints.kinks or ():
        near = np.abs(v - k) < 0.05
        v[near] = k + np.copysign(0.05 + np.abs(v[near] - k), v[near] - k)
    return cast(v, dtype)


def _rows(rng: np.random.Generator, shape: tuple[int, ...], hints: Hints) -> tuple[np.ndarray, np.ndarray]:
    """Normal logits and a one-hot marker of one random class per row along the class axis."""
    v = rng.standard_normal(shape)
    axis = hints.axis % max(len(shape), 1)
    pick = np.zeros(shape, dtype=bool)
    if v.size:
        idx = rng.integers(shape[axis], size=shape[:axis] + (1,) + shape[axis + 1 :])
        np.put_along_axis(pick, idx, True, axis=axis)
    return v, pick


def _gap(size: float) -> Family:
    def gap(rng, shape, dtype, hints):
        v, pick = _rows(rng, shape, hints)
        return cast(np.where(pick, v + size, v), dtype)

    gap.__doc__ = f"One logit per row exceeds the rest by {size:g}: softmax saturates to one-hot."
    return gap


for _size, _name in ((50.0, "gap50"), (1e3, "gap1e3"), (1e4, "gap1e4")):
    FAMILIES[_name] = _gap(_size)


@family
def equal(rng, shape, dtype, hints):
    """All values along the op's axis equal: a tie over every class, a constant normalisation group."""
    v, _ = _rows(rng, shape, hints)
    if v.size:
        v = np.broadcast_to(np.take(v, [0], axis=hints.axis % max(len(shape), 1)), shape) * 10
    return cast(v, dtype)


@family
def neginf(rng, shape, dtype, hints):
    """About half the logits -inf but one finite logit per row (a masked row), plus normal ones."""
    v, pick = _rows(rng, shape, hints)
    return cast(np.where(pick | (rng.random(shape) < 0.5), v, -np.inf), dtype)


@family
def ties(rng, shape, dtype, hints):
    """Small integers in {-1, 0, 1}: most pooling windows hold a tied maximum, some are all equal."""
    return cast(rng.integers(-1, 2, size=shape), dtype)


@family
def zeros(rng, shape, dtype, hints):
    """All zeros (+0.0 and -0.0): every window ties, and every max is a signed zero."""
    return cast(rng.choice([0.0, -0.0], size=shape), dtype)


FAMILY_DOCS = {name: (fn.__doc__ or "").split("\n")[0] for name, fn in FAMILIES.items()}


# -- memory layouts ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    name: str
    doc: str
    apply: Callable[[np.ndarray], np.ndarray] = field(repr=False)


def _transposed(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.T).T if a.ndim >= 2 else a


def _strided(a: np.ndarray) -> np.ndarray:
    if a.ndim == 0:
        return a
    buf = np.full(a.shape[:-1] + (2 * a.shape[-1],), np.nan, dtype=a.dtype)
    buf[..., ::2] = a
    return buf[..., ::2]


LAYOUTS = {
    lay.name: lay
    for lay in (
        Layout("C", "C-contiguous", lambda a: np.array(a, order="C")),  # (ascontiguousarray makes 0-d 1-d)
        Layout("F", "Fortran order", lambda a: np.array(a, order="F")),
        Layout("T", "a transposed view of a C array", _transposed),
        Layout("S", "a view with stride 2 along the last axis", _strided),
    )
}


def layout_applies(name: str, shape: tuple[int, ...]) -> bool:
    """Only layouts that really differ from C for this shape."""
    if name == "C":
        return True
    if name == "S":
        return len(shape) >= 1 and shape[-1] > 0
    return len(shape) >= 2 and sum(n > 1 for n in shape) >= 2
