"""Sliding windows for convolution and pooling: hyper-parameter checks, output sizes, a strided
window view (no copy), and its adjoint, which adds windows back into an image with one loop over
kernel offsets (never over batch, pixels or output positions)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from reference._core import Array


def tuple_of(op: str, name: str, value: object, n: int, minimum: int) -> tuple[int, ...]:
    """An int or a length-``n`` sequence of ints, each at least ``minimum``, as a tuple."""
    values = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != n or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{op}: {name} must be an int or {n} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


class Geometry(NamedTuple):
    """Where the windows of one spatial layout lie: kernel, stride, dilation, padding before and after
    each spatial dimension (after may exceed before: 'same' padding, ceil_mode), and the output size."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad_lo: tuple[int, ...]
    pad_hi: tuple[int, ...]
    out: tuple[int, ...]


def geometry(
    op: str, size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
    pad_lo: tuple[int, ...], pad_hi: tuple[int, ...] | None = None, ceil_mode: bool = False,
) -> Geometry:
    """Output size ``floor((n + pads - span) / stride) + 1`` (ceil with ``ceil_mode``, where torch also
    drops a last window that would start in the right padding); raises when it is below 1."""
    pad_hi = pad_lo if pad_hi is None else pad_hi
    out, extra = [], []
    for n, k, s, d, lo, hi in zip(size, kernel, stride, dilation, pad_lo, pad_hi, strict=True):
        span = d * (k - 1) + 1
        o = (n + lo + hi - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= n + lo:
            o -= 1
        out.append(o)
        extra.append(max(0, (o - 1) * s + span - (n + lo + hi)))  # ceil_mode: room for the last window
    if min(out, default=1) < 1:
        raise ValueError(
            f"{op}: output size {tuple(out)} is too small for input size {size} "
            f"(kernel {kernel}, stride {stride}, dilation {dilation}, padding {pad_lo})"
        )
    return Geometry(kernel, stride, dilation, pad_lo, tuple(h + e for h, e in zip(pad_hi, extra, strict=True)),
                    tuple(out))


def pad(x: Array, g: Geometry, value: float = 0.0) -> Array:
    """``x`` (N, C, *spatial) padded by ``g``'s padding with ``value``."""
    widths = [(0, 0), (0, 0)] + list(zip(g.pad_lo, g.pad_hi, strict=True))
    return np.pad(x, widths, constant_values=value) if any(g.pad_lo + g.pad_hi) else x


def windows(xp: Array, g: Geometry, last: bool = False) -> Array:
    """Read-only view of the windows of a padded input, no copy.

    Channels first, ``xp`` (N, C, *spatial): the view is (N, C, *kernel, *out), element
    ``[n, c, i, j, oh, ow]`` being ``xp[n, c, oh * stride + i * dilation, ow * stride + j * dilation]``.
    Channels last (``last``), ``xp`` (N, *spatial, *channels): the view is (N, *out, *kernel, *channels)."""
    n_sp = len(g.kernel)
    first = 1 if last else 2  # the first spatial axis
    sp_strides = xp.strides[first : first + n_sp]
    by_offset = tuple(st * d for st, d in zip(sp_strides, g.dilation, strict=True))
    by_output = tuple(st * s for st, s in zip(sp_strides, g.stride, strict=True))
    if last:
        rest = xp.shape[1 + n_sp :], xp.strides[1 + n_sp :]
        shape, strides = (xp.shape[0], *g.out, *g.kernel, *rest[0]), (xp.strides[0], *by_output, *by_offset, *rest[1])
    else:
        shape, strides = (*xp.shape[:2], *g.kernel, *g.out), (*xp.strides[:2], *by_offset, *by_output)
    return as_strided(xp, shape, strides, writeable=False)


def at(offset: tuple[int, ...], g: Geometry) -> tuple[slice, ...]:
    """The padded-image cells that kernel ``offset`` reads over all output positions: one strided slice
    per spatial dimension."""
    return tuple(
        slice(o * d, o * d + s * (n - 1) + 1, s) for o, d, s, n in zip(offset, g.dilation, g.stride, g.out, strict=True)
    )


def add_windows(cols: Array, padded_shape: tuple[int, ...], g: Geometry, last: bool = False) -> Array:
    """The adjoint of ``windows``: every window added back into a zero image of ``padded_shape``
    (``cols`` laid out as ``windows`` returns them); one vectorised add per kernel offset."""
    out = np.zeros(padded_shape, cols.dtype)
    lead = (slice(None),) * (1 if last else 2)  # batch (and channel) axes before the spatial ones
    for offset in np.ndindex(*g.kernel):
        target = at(offset, g)
        source = (*lead, *(slice(None),) * len(g.out), *offset) if last else (*lead, *offset)
        with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf = NaN, as in torch
            out[(*lead, *target)] += cols[source]
    return out


def crop(xp: Array, g: Geometry, size: tuple[int, ...]) -> Array:
    """The inverse of ``pad``: the (N, C, *size) interior of a padded image."""
    return xp[(slice(None), slice(None), *(slice(lo, lo + n) for lo, n in zip(g.pad_lo, size, strict=True)))]
