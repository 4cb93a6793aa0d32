"""Higher-precision oracles for float64 cases (issue 8): an op's formula evaluated well beyond float64 and
rounded once, against which torch's and the reference's float64 errors are measured in ULPs.

A formula is written once as ``formula(m, *arrays)`` with ``m`` one of two engines: ``LONG``
(``np.longdouble``: the x87 80-bit format, 64-bit significand, 11 bits beyond float64, vectorised) and
``MP`` (mpmath at ``MP_PREC`` bits, element by element, imported on first use).

* ``elementwise``: the formula in extended precision; a result within ``MARGIN`` float64 ULPs of a
  rounding boundary, or where ``exact_where`` says the formula amplifies rounding (exp of a large computed
  argument), is recomputed in mpmath (Ziv's strategy). Results are correctly rounded, and an exact
  operation (a product, ``x / 6``) is not reported 1 ULP off through double rounding.
* ``dot``: sums of products of float64 values, exact (Dekker's two-product summed by ``math.fsum`` or
  Sum2, integers for products that under- or overflow, IEEE rules for non-finite factors), rounded once.
* ``total``: the exact sum of extended-precision terms (two ``math.fsum``), for losses' reductions.
* Row-wise formulas (softmax) run in extended precision and are rounded once: within about 1 ULP, a few
  ULPs where a gradient cancels by more than the 11 extra bits.

Formulas avoid the cancellations that the extra bits could not absorb (``sigmoid(x) sigmoid(-x)`` for
``y (1 - y)``, ``1 / cosh(x)^2`` for ``1 - tanh(x)^2``, log-sum-exp through ``log1p``). Parameters
(alpha, beta, gelu's 0.044715) are their float64 values taken exactly; mathematical constants (pi,
sqrt 2) are exact. Special values (NaN, ±inf, signed zeros, the gradient chosen at a kink) follow torch;
a formula mirrors the structure of torch's kernel where that is what decides them. A finite input whose
exact result is finite gets that result, even where torch overflows an intermediate (exp's gradient
``dout * exp(x)`` at x = 709.78: torch inf). Where ``np.longdouble`` is only float64 (Windows, ARM macOS),
``elementwise`` recomputes every element in mpmath (correct, ~100 times slower) and the row-wise oracles
return None (no oracle for the case).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LONG_DT = np.longdouble
EXTENDED = np.finfo(LONG_DT).nmant >= 63
MP_PREC = 160  # bits: 48 decimal digits
MARGIN = 2.0**-8  # in float64 ULPs: a rounding decision closer than this is remade in mpmath
_SPLIT = 134217729.0  # 2^27 + 1, Dekker's splitter
_BIG = LONG_DT(2) ** 1024  # the first power of two beyond float64: where results round to inf


class _Engine:
    """The functions a formula uses beyond + - * / and comparisons (which both engines overload)."""

    name: str

    def lift(self, a: np.ndarray) -> Any:
        raise NotImplementedError

    def c(self, value: float) -> Any:
        """A float64 constant taken exactly."""
        raise NotImplementedError

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b)


class _Long(_Engine):
    name = "longdouble"
    exp, expm1, log, log1p, tanh, cosh, sqrt = np.exp, np.expm1, np.log, np.log1p, np.tanh, np.cosh, np.sqrt
    pi = np.arccos(LONG_DT(-1))

    def lift(self, a):
        return np.asarray(a, dtype=LONG_DT)

    def c(self, value):
        return LONG_DT(value)

    @staticmethod
    def ndtr(a):
        """The normal CDF erfc(-x / sqrt 2) / 2 of float64-valued x: NumPy has no extended erfc, so
        mpmath's from the exact x (erfc amplifies an argument's rounding by 2 z^2), to extended precision."""
        import mpmath

        with mpmath.workprec(MP_PREC):
            flat = [MP.ndtr(mpmath.mpf(float(v))) for v in np.ravel(a)]
            hi = np.array([float(v) for v in flat])
            lo = np.array([float(v - h) if mpmath.isfinite(v) else 0.0 for v, h in zip(flat, hi, strict=True)])
        return (hi.astype(LONG_DT) + lo.astype(LONG_DT)).reshape(np.shape(a))


class _Mp(_Engine):
    """mpmath, element by element over object arrays; imported on first use (a rounding in doubt), so
    that collecting the suite does not pay for it."""

    name = "mpmath"
    _UFUNCS = ("exp", "expm1", "log", "log1p", "tanh", "cosh", "sqrt")

    def __getattr__(self, name: str) -> Any:
        import mpmath

        if name == "pi":
            return +mpmath.pi  # at the working precision: not cached
        if name in self._UFUNCS:
            fn = np.frompyfunc(getattr(mpmath, name), 1, 1)
        elif name == "ndtr":
            fn = np.frompyfunc(lambda v: mpmath.erfc(-v / mpmath.sqrt(2)) / 2, 1, 1)
        else:
            raise AttributeError(name)
        setattr(self, name, fn)
        return fn

    def lift(self, a):
        import mpmath

        a = np.asarray(a, dtype=np.float64)
        return np.array([mpmath.mpf(float(v)) for v in a.flat], dtype=object).reshape(a.shape)

    def c(self, value):
        import mpmath

        return mpmath.mpf(float(value))


LONG, MP = _Long(), _Mp()


def _mp_round(v: Any) -> float:
    """An mpmath value correctly rounded to float64, subnormals and overflow included (mpmath's float()
    rounds twice below the normal range)."""
    import mpmath

    if isinstance(v, mpmath.mpc):
        return math.nan if v.imag else _mp_round(v.real)
    v = mpmath.mpf(v)
    if not mpmath.isfinite(v) or not v:
        return float(v)
    if abs(v) < mpmath.ldexp(1, -1022):
        return float(mpmath.nint(mpmath.ldexp(v, 1074))) * 2.0**-1074
    return float(v)


def round64(a: Any) -> np.ndarray:
    """Round an extended (or mpmath object) array to float64 once."""
    a = np.asarray(a)
    if a.dtype == object:
        return np.array([_mp_round(v) for v in a.flat], dtype=np.float64).reshape(a.shape)
    return a.astype(np.float64)


def _ambiguous(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Where the extended value ``r`` lies within MARGIN ULPs of the midpoint between ``f`` (its float64
    rounding) and the neighbour on r's side: there the rounding needs more bits to be sure."""
    with np.errstate(all="ignore"):
        fl = np.where(np.isinf(f), np.copysign(_BIG, f), f.astype(LONG_DT))
        side = np.where(r >= fl, np.nextafter(f, np.inf), np.nextafter(f, -np.inf))
        sl = np.where(np.isinf(side), np.copysign(_BIG, side), side.astype(LONG_DT))
        gap = np.abs(sl - fl)
        return np.isfinite(r) & (np.abs(r - (fl + sl) / 2) <= LONG_DT(MARGIN) * gap)


def elementwise(
    formula: Callable[..., Any], *arrays: np.ndarray, exact_where: Callable[..., np.ndarray] | None = None
) -> np.ndarray:
    """``formula(m, *arrays)`` for an elementwise formula of broadcastable float64 arrays, correctly
    rounded to float64: evaluated in extended precision, then in mpmath wherever the rounding is in doubt
    (everywhere without an extended format) and wherever ``exact_where(*arrays)`` says that the formula
    amplifies the extended format's rounding errors (e.g. exp of a large computed argument). An element
    where mpmath raises (a division by zero in a branch that np.where discards, or at a special value)
    keeps its extended result."""
    xs = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arrays))
    shape = xs[0].shape if xs else ()
    with np.errstate(all="ignore"):
        r = np.broadcast_to(np.asarray(formula(LONG, *(LONG.lift(x) for x in xs))), shape)
        f = np.array(round64(r), copy=True)
        doubt = _ambiguous(r, f) if EXTENDED else np.ones(shape, bool)
        if exact_where is not None:
            doubt = doubt | np.broadcast_to(exact_where(*xs), shape)
    redo = np.flatnonzero(doubt)
    if redo.size:
        flat, args = f.reshape(-1), [x.reshape(-1)[redo] for x in xs]
        try:
            flat[redo] = _exact(formula, args, flat[redo])
        except (ZeroDivisionError, ValueError, TypeError):
            for j, i in enumerate(redo):  # element by element: only the offending one keeps its extended value
                try:
                    flat[i] = _exact(formula, [a[j : j + 1] for a in args], flat[i : i + 1])[0]
                except (ZeroDivisionError, ValueError, TypeError):
                    pass
    return f


def _exact(formula: Callable[..., Any], args: list[np.ndarray], rounded: np.ndarray) -> np.ndarray:
    import mpmath

    with mpmath.workprec(MP_PREC):
        exact = round64(formula(MP, *(MP.lift(a) for a in args)))
    return np.where(exact == 0, np.copysign(0.0, rounded), exact)  # mpmath has no -0.0


def extended(formula: Callable[..., Any], *arrays: np.ndarray) -> Any:
    """``formula`` in extended precision on float64 arrays, not rounded: for row-wise formulas. Callers
    return no oracle (None) where ``EXTENDED`` is False: there this is only float64."""
    with np.errstate(all="ignore"):
        return formula(LONG, *(LONG.lift(np.asarray(a, dtype=np.float64)) for a in arrays))


# -- exact sums ------------------------------------------------------------------------------------

def _rows(a: np.ndarray, axes: Sequence[int]) -> tuple[np.ndarray, tuple[int, ...]]:
    """``a`` with ``axes`` moved last and merged: (kept elements, summed terms), and the kept shape."""
    axes = tuple(ax % a.ndim for ax in axes) if a.ndim else ()
    keep = [i for i in range(a.ndim) if i not in axes]
    moved = np.transpose(a, keep + list(axes))
    kept = tuple(a.shape[i] for i in keep)
    return moved.reshape(math.prod(kept), math.prod(a.shape[i] for i in axes)), kept


def _two_product(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p = fl(x y) and e with x y = p + e exactly (Dekker), where nothing under- or overflows."""
    def split(a):
        t = _SPLIT * a
        hi = t - (t - a)
        return hi, a - hi

    p = x * y
    xh, xl = split(x)
    yh, yl = split(y)
    return p, ((xh * yh - p) + xh * yl + xl * yh) + xl * yl


def _exact_dot(xs: list[float], ys: list[float]) -> float:
    """The exact sum of finite products in integers (each float is n / 2^k), correctly rounded to float64
    by Python's integer true division, subnormal and overflowing results included."""
    terms = []
    for a, b in zip(xs, ys, strict=True):
        (n1, d1), (n2, d2) = a.as_integer_ratio(), b.as_integer_ratio()
        terms.append((n1 * n2, (d1 * d2).bit_length() - 1))
    shift = max((k for _, k in terms), default=0)
    numerator = sum(n << (shift - k) for n, k in terms)
    try:
        return numerator / (1 << shift)
    except OverflowError:
        return math.inf if numerator > 0 else -math.inf  # (copysign would convert the integer to a float)


def _nonfinite_sum(xr: np.ndarray, yr: np.ndarray) -> np.ndarray:
    """Row sums where a factor is ±inf or NaN: the products with such a factor decide (IEEE's extended
    reals): NaN if one is NaN or both infinities occur, else that infinity."""
    q = np.where(np.isfinite(xr) & np.isfinite(yr), 0.0, xr * yr)
    pos, neg = (q == np.inf).any(axis=1), (q == -np.inf).any(axis=1)
    return np.where(np.isnan(q).any(axis=1) | (pos & neg), np.nan, np.where(pos, np.inf, -np.inf))


def dot(x: np.ndarray, y: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """``sum(x * y, axis=axes)`` (x, y broadcast) computed exactly and rounded once to float64: Dekker's
    exact products summed by ``_sum2`` (many short rows) or ``math.fsum``; rows with a non-finite factor
    by IEEE's rules; rows whose products under- or overflow float64 in integers."""
    x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    xr, kept = _rows(x, axes)
    yr, _ = _rows(y, axes)
    with np.errstate(all="ignore"):
        if xr.shape[1] == 1:  # one product: IEEE rounds it correctly
            return (xr * yr).reshape(kept)
        p, e = _two_product(xr, yr)
        nonfinite = ~(np.isfinite(xr) & np.isfinite(yr)).all(axis=1)
        small = (np.abs(p) < 2.0**-968) & (xr != 0) & (yr != 0)  # e would underflow
        safe = (~small & np.isfinite(p) & np.isfinite(e) & (np.abs(xr) < 2.0**995) & (np.abs(yr) < 2.0**995)).all(1)
        pieces = np.concatenate([p, e], axis=1)
        if pieces.shape[0] > 4 * pieces.shape[1]:  # many short rows: one compensated pass over the columns
            out = _sum2(np.where(safe[:, None], pieces, 0.0))
            todo = ~safe | ~np.isfinite(out)
        else:
            out, todo = np.empty(pieces.shape[0]), np.ones(pieces.shape[0], bool)
        if nonfinite.any():
            out[nonfinite] = _nonfinite_sum(xr[nonfinite], yr[nonfinite])
    for i in np.flatnonzero(todo & ~nonfinite):
        try:
            out[i] = math.fsum(pieces[i].tolist()) if safe[i] else _exact_dot(xr[i].tolist(), yr[i].tolist())
        except OverflowError:  # partial sums beyond float64
            out[i] = _exact_dot(xr[i].tolist(), yr[i].tolist())
    return out.reshape(kept)


def _sum2(pieces: np.ndarray) -> np.ndarray:
    """Row sums by Ogita, Rump and Oishi's Sum2 (error-free TwoSum along the row, errors summed apart):
    as accurate as summing in twice float64's precision, then rounded (|error| <= ulp / 2 + n^2 u^2 sum|p|)."""
    s = pieces[:, 0].copy() if pieces.shape[1] else np.zeros(pieces.shape[0])
    err = np.zeros(pieces.shape[0])
    with np.errstate(all="ignore"):
        for k in range(1, pieces.shape[1]):
            a = pieces[:, k]
            t = s + a
            z = t - s
            err += (s - (t - z)) + (a - z)
            s = t
        return s + err


def total(terms: Any, axes: Sequence[int] | None = None) -> Any:
    """The exact sum of extended-precision ``terms`` over ``axes`` (all by default), rounded to extended
    precision: each term splits exactly into two float64 and two ``math.fsum`` give the sum and its
    remainder. Rows holding a non-finite or float64-overflowing term are summed in extended precision."""
    terms = np.asarray(terms)
    rows, kept = _rows(terms, range(terms.ndim) if axes is None else axes)
    with np.errstate(all="ignore"):
        hi = rows.astype(np.float64)
        lo = (rows - hi).astype(np.float64)
    out = np.empty(rows.shape[0], dtype=LONG_DT)
    finite = np.isfinite(hi).all(axis=1)
    for i in range(rows.shape[0]):
        if finite[i]:
            try:
                pieces = hi[i].tolist() + lo[i].tolist()
                s = math.fsum(pieces)
                out[i] = LONG_DT(s) + LONG_DT(math.fsum(pieces + [-s]))
                continue
            except OverflowError:
                pass
        out[i] = rows[i].sum()
    return out.reshape(kept)
