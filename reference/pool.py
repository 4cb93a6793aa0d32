"""Pooling: max and average over sliding windows (1-d and 2-d) and adaptive pooling (2-d), with the
choices of torch's CPU kernels.

Layouts are (N, C, H, W) and (N, C, L), or without the batch dimension, as torch accepts; a 1-d
pool is the 2-d pool of a height-1 image. The windows are strided views (``reference._windows``):
every loop below runs over kernel offsets, never over the batch, pixels or output positions.

- Max pooling: padded cells never win; the first maximum in row-major window order wins a tie, but
  every NaN wins over what came before it (torch's ``val > max || isnan(val)``), so the last NaN of a
  window is the one chosen. A window whose valid cells are all -inf returns -inf and the index of its
  first valid cell. ``indices`` are flat indices into each (n, c) plane (H * W, or L in 1-d).
- Average pooling sums each window in row-major order, in float32 for float16/bfloat16, and divides
  once: by the window size including padding but not the ceil_mode overhang
  (``count_include_pad``), by the number of valid cells, or by ``divisor_override``.
- Adaptive pooling: window ``i`` of ``o`` along a dimension of size ``n`` is
  ``[floor(i * n / o), ceil((i + 1) * n / o))``; the average divides by its height, then its width.
- Backward: each input cell adds up the terms of its windows in row-major order of the windows and
  in the input's dtype, rounding after every addition as torch's backward kernels do (an average's
  term ``dout / divisor`` is rounded to the dtype first). So float16 and bfloat16 gradients are not
  rounded once, but they are torch's bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from reference._core import Array, check_dout, down, floating, up, work_dtype
from reference._windows import Geometry, crop, geometry, pad, tuple_of, windows

Size = int | tuple[int, ...]

__all__ = [
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool2d_forward",
    "avg_pool1d_backward",
    "avg_pool1d_forward",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "max_pool1d_backward",
    "max_pool1d_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
]


# -- shapes and windows ----------------------------------------------------------------------------

def _images(op: str, x: object, dims: int) -> tuple[Array, Array]:
    """``x`` (N, C, *spatial) or (C, *spatial) with ``dims`` spatial dimensions, and the same values
    as (N, C, H, W) images (a 1-d signal is an image of height 1)."""
    x = floating(op, "x", x)
    names = ("H", "W") if dims == 2 else ("L",)
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"{op}: expected input of shape (N, C, {', '.join(names)}) or (C, {', '.join(names)}), got {x.shape}"
        )
    if 0 in x.shape[-dims - 1 :]:
        raise ValueError(f"{op}: only the batch dimension may be empty, got input of shape {x.shape}")
    nc = x.shape[:-dims] if x.ndim == dims + 2 else (1,) + x.shape[:1]
    return x, x.reshape(nc + (1,) * (2 - dims) + x.shape[-dims:])


def _sizes(
    op: str, kernel_size: Size, stride: Size | None, padding: Size, dilation: Size, dims: int
) -> tuple[tuple[int, ...], ...]:
    """Kernel, stride (the kernel when None or empty, as in torch), padding and dilation as tuples;
    torch allows padding up to half the kernel."""
    kernel = tuple_of(op, "kernel_size", kernel_size, dims, 1)
    empty = stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0)
    stride = kernel if empty else tuple_of(op, "stride", stride, dims, 1)
    padding = tuple_of(op, "padding", padding, dims, 0)
    dilation = tuple_of(op, "dilation", dilation, dims, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel}")
    return kernel, stride, padding, dilation


def _plane(g: Geometry) -> Geometry:
    """A 1-d geometry as the 2-d geometry of a height-1 image."""
    return Geometry(*((1,) + f for f in g[:3]), (0,) + g.pad_lo, (0,) + g.pad_hi, (1,) + g.out)


def _geometry(
    op: str, x: object, kernel_size: Size, stride: Size | None, padding: Size, dilation: Size, ceil_mode: bool,
    dims: int,
) -> tuple[Array, Array, Geometry]:
    """The input, its (N, C, H, W) images, and the 2-d geometry of the pool."""
    x, x4 = _images(op, x, dims)
    kernel, stride, padding, dilation = _sizes(op, kernel_size, stride, padding, dilation, dims)
    g = geometry(op, x.shape[-dims:], kernel, stride, dilation, padding, ceil_mode=ceil_mode)
    return x, x4, g if dims == 2 else _plane(g)


def _starts(g: Geometry, axis: int) -> Array:
    """Where each window starts along spatial ``axis``, in input coordinates (negative in the padding)."""
    return np.arange(g.out[axis]) * g.stride[axis] - g.pad_lo[axis]


def _out_shape(x: Array, out: tuple[int, ...], dims: int) -> tuple[int, ...]:
    return x.shape[:-dims] + out[2 - dims :]


def _add_in_order(term: Callable[[int], Array], padded: tuple[int, ...], g: Geometry, dtype: np.dtype) -> Array:
    """The adjoint of ``windows`` with torch's rounding: ``term(k)`` (N, C, *out) is added for kernel
    offset ``k`` (row-major) into a zero padded image of dtype ``dtype``. Offsets run in reverse, so
    each cell adds its windows' terms in row-major order of the windows, as torch's kernels loop."""
    dx = np.zeros(padded, dtype)
    for k in reversed(range(math.prod(g.kernel))):
        offset = np.unravel_index(k, g.kernel)
        target = tuple(
            slice(o * d, o * d + s * (n - 1) + 1, s)
            for o, d, s, n in zip(offset, g.dilation, g.stride, g.out, strict=True)
        )
        dx[(slice(None), slice(None), *target)] += term(k)
    return dx


def _padded_shape(x4: tuple[int, ...], g: Geometry) -> tuple[int, ...]:
    return x4[:2] + tuple(n + lo + hi for n, lo, hi in zip(x4[2:], g.pad_lo, g.pad_hi, strict=True))


# -- max pooling -----------------------------------------------------------------------------------

class MaxPoolCache(NamedTuple):
    arg: Array  # (N, C, OH, OW): the winning kernel offset of each window, row-major
    g: Geometry
    image: tuple[int, ...]  # the input as (N, C, H, W)
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    dtype: np.dtype


def _first_valid(g: Geometry, axis: int) -> Array:
    """The first kernel offset of each window that lies inside the input along ``axis``."""
    before = np.maximum(0, -_starts(g, axis))
    return -(-before // g.dilation[axis])


def _max_windows(x4: Array, g: Geometry) -> tuple[Array, Array]:
    """Each window's maximum and the row-major kernel offset that wins, by torch's rule: the first
    maximum, the last NaN, and for a window of -inf only its first cell inside the input (padding
    is -inf and never wins)."""
    n, c = x4.shape[:2]
    k = math.prod(g.kernel)
    flat = np.ascontiguousarray(windows(pad(x4, g, -np.inf), g)).reshape(n, c, k, *g.out)
    with np.errstate(invalid="ignore"):  # (bfloat16 comparisons with NaN warn)
        best = flat.max(axis=2)
        arg = np.argmax(flat == best[:, :, None], axis=2)  # the first cell equal to the maximum
    nan = np.isnan(flat)
    if nan.any():
        last_nan = k - 1 - np.argmax(nan[:, :, ::-1], axis=2)
        arg = np.where(nan.any(axis=2), last_nan, arg)
    kw = g.kernel[1]
    first_valid = _first_valid(g, 0)[:, None] * kw + _first_valid(g, 1)[None, :]
    arg = np.where(best == -np.inf, first_valid, arg)
    # The winner's own value: of tied +0.0 and -0.0 the first one, as torch returns it.
    return np.take_along_axis(flat, arg[:, :, None], axis=2)[:, :, 0], arg.astype(np.min_scalar_type(k - 1))


def _indices(arg: Array, g: Geometry, width: int) -> Array:
    """Flat indices into each (H, W) plane of the cells that ``arg`` (kernel offsets) names."""
    kw = g.kernel[1]
    h = _starts(g, 0)[:, None] + (arg // kw).astype(np.int64) * g.dilation[0]
    w = _starts(g, 1)[None, :] + (arg % kw).astype(np.int64) * g.dilation[1]
    return h * width + w


def _max_forward(
    op: str, x: object, kernel_size: Size, stride: Size | None, padding: Size, dilation: Size, ceil_mode: bool,
    return_indices: bool, dims: int,
) -> tuple[Array | tuple[Array, Array], MaxPoolCache]:
    x, x4, g = _geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode, dims)
    best, arg = _max_windows(x4, g)
    out_shape = _out_shape(x, g.out, dims)
    cache = MaxPoolCache(arg, g, x4.shape, x.shape, out_shape, x.dtype)
    out = best.reshape(out_shape)
    return ((out, _indices(arg, g, x4.shape[3]).reshape(out_shape)) if return_indices else out), cache


def _max_backward(op: str, cache: MaxPoolCache, dout: Array) -> dict[str, Array]:
    arg, g, image, in_shape, out_shape, dtype = cache
    gd = check_dout(op, dout, out_shape, dtype).reshape(arg.shape)
    # Each window's dout goes to its winner (always an input cell); overlapping windows add up in the
    # cell they share, in output order.
    nc, per_plane = image[0] * image[1], math.prod(g.out)
    winners = _indices(arg, g, image[3]).reshape(nc, per_plane)
    return {"dx": _add_at(gd.reshape(nc, per_plane), winners, image, dtype).reshape(in_shape)}


def max_pool2d_forward(
    x: Array, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[Array | tuple[Array, Array], MaxPoolCache]:
    """``F.max_pool2d`` on (N, C, H, W); with ``return_indices`` returns ``(out, indices)`` (int64)."""
    return _max_forward("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def max_pool2d_backward(cache: MaxPoolCache, dout: Array) -> dict[str, Array]:
    return _max_backward("max_pool2d", cache, dout)


def max_pool1d_forward(
    x: Array, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None, padding: int | tuple[int] = 0,
    dilation: int | tuple[int] = 1, ceil_mode: bool = False, return_indices: bool = False,
) -> tuple[Array | tuple[Array, Array], MaxPoolCache]:
    """``F.max_pool1d`` on (N, C, L); ``indices`` index L."""
    return _max_forward("max_pool1d", x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool1d_backward(cache: MaxPoolCache, dout: Array) -> dict[str, Array]:
    return _max_backward("max_pool1d", cache, dout)


# -- average pooling -------------------------------------------------------------------------------

class AvgPoolCache(NamedTuple):
    divisor: Array  # (OH, OW) or a scalar, in the working dtype
    g: Geometry
    image: tuple[int, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    dtype: np.dtype


def _divisor(g: Geometry, size: tuple[int, ...], count_include_pad: bool, dtype: np.dtype) -> Array:
    """torch's divisor per window: its size within the padded input (a ceil_mode window's overhang
    beyond the padding does not count), or with ``count_include_pad=False`` its valid cells only."""
    counts = []
    for axis, n in enumerate(size):
        start = _starts(g, axis)
        end = np.minimum(start + g.kernel[axis], n + g.pad_lo[axis])
        counts.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    return (counts[0][:, None] * counts[1][None, :]).astype(dtype)


def _avg_forward(
    op: str, x: object, kernel_size: Size, stride: Size | None, padding: Size, ceil_mode: bool,
    count_include_pad: bool, divisor_override: int | None, dims: int,
) -> tuple[Array, AvgPoolCache]:
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{op}: divisor_override must not be zero")
    x, x4, g = _geometry(op, x, kernel_size, stride, padding, 1, ceil_mode, dims)
    wt = work_dtype(x.dtype)
    divisor = (
        np.asarray(divisor_override, wt) if divisor_override is not None
        else _divisor(g, x4.shape[2:], count_include_pad, wt)
    )
    cols = windows(pad(up(x4), g), g)
    total = np.zeros(x4.shape[:2] + g.out, wt)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in a window is NaN, an overflow inf, as in torch
        for i, j in np.ndindex(*g.kernel):
            total += cols[:, :, i, j]  # row by row, as torch's kernel sums (padding adds exact zeros)
        out = down(total / divisor + 0.0, x.dtype)  # torch adds the quotient to a zeroed output: no -0.0
    out_shape = _out_shape(x, g.out, dims)
    return out.reshape(out_shape), AvgPoolCache(divisor, g, x4.shape, x.shape, out_shape, x.dtype)


def _avg_backward(op: str, cache: AvgPoolCache, dout: Array) -> dict[str, Array]:
    divisor, g, image, in_shape, out_shape, dtype = cache
    gd = check_dout(op, dout, out_shape, dtype).reshape(image[:2] + g.out)
    # every cell of a window gets dout / divisor, computed as torch does: the divisor in the dtype (a
    # large one rounds in float16/bfloat16), the quotient rounded to it
    term = down(up(gd) / up(down(divisor, dtype)), dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        dxp = _add_in_order(lambda k: term, _padded_shape(image, g), g, dtype)
    return {"dx": crop(dxp, g, image[2:]).reshape(in_shape)}


def avg_pool2d_forward(
    x: Array, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> tuple[Array, AvgPoolCache]:
    """``F.avg_pool2d`` on (N, C, H, W)."""
    return _avg_forward("avg_pool2d", x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override, 2)


def avg_pool2d_backward(cache: AvgPoolCache, dout: Array) -> dict[str, Array]:
    return _avg_backward("avg_pool2d", cache, dout)


def avg_pool1d_forward(
    x: Array, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None, padding: int | tuple[int] = 0,
    ceil_mode: bool = False, count_include_pad: bool = True,
) -> tuple[Array, AvgPoolCache]:
    """``F.avg_pool1d`` on (N, C, L)."""
    return _avg_forward("avg_pool1d", x, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool1d_backward(cache: AvgPoolCache, dout: Array) -> dict[str, Array]:
    return _avg_backward("avg_pool1d", cache, dout)


# -- adaptive pooling ------------------------------------------------------------------------------

class AdaptiveWindows(NamedTuple):
    """Along one dimension: where each window starts and how long it is."""

    start: Array
    length: Array

    def offset(self, k: int, n: int) -> tuple[Array, Array]:
        """Cell ``start + k`` of every window (clipped to the input) and whether the window has it."""
        return np.minimum(self.start + k, n - 1), k < self.length


def _adaptive_windows(n: int, o: int) -> AdaptiveWindows:
    i = np.arange(o)
    start = i * n // o
    return AdaptiveWindows(start, -(-(i + 1) * n // o) - start)  # [floor(i n / o), ceil((i + 1) n / o))


def _output_size(op: str, output_size: object, size: tuple[int, int]) -> tuple[int, int]:
    """An int or two entries, each an int >= 0 or None (= the input's size), as in torch."""
    sizes = (output_size,) * 2 if isinstance(output_size, (int, np.integer)) or output_size is None else output_size
    sizes = tuple(sizes)
    if len(sizes) != 2:
        raise ValueError(f"{op}: output_size must be an int or 2 entries, got {output_size!r}")
    sizes = tuple(n if o is None else o for o, n in zip(sizes, size, strict=True))
    return tuple_of(op, "output_size", sizes, 2, 0)


def _adaptive(
    op: str, x: object, output_size: object
) -> tuple[Array, Array, tuple[int, int], AdaptiveWindows, AdaptiveWindows]:
    x, x4 = _images(op, x, 2)
    out = _output_size(op, output_size, x4.shape[2:])
    rows, cols = (_adaptive_windows(n, o) for n, o in zip(x4.shape[2:], out, strict=True))
    return x, x4, out, rows, cols


def _longest(windows: AdaptiveWindows) -> int:
    return int(windows.length.max(initial=0))


class AdaptiveAvgCache(NamedTuple):
    rows: AdaptiveWindows
    cols: AdaptiveWindows
    in_shape: tuple[int, ...]
    image: tuple[int, ...]
    out_shape: tuple[int, ...]
    dtype: np.dtype


def _is_global(out: tuple[int, int]) -> bool:
    """torch computes a (1, 1) adaptive average as ``x.mean((-2, -1))``: one division by H * W."""
    return out == (1, 1)


def adaptive_avg_pool2d_forward(
    x: Array, output_size: int | tuple[int | None, int | None] | None
) -> tuple[Array, AdaptiveAvgCache]:
    """``F.adaptive_avg_pool2d`` on (N, C, H, W)."""
    op = "adaptive_avg_pool2d"
    x, x4, out, rows, cols = _adaptive(op, x, output_size)
    H, W = x4.shape[2:]
    xw = up(x4)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, and a window sum beyond the range
        if _is_global(out):
            mean = xw.sum(axis=(2, 3), keepdims=True) / xw.dtype.type(H * W)
        else:
            total = np.zeros(x4.shape[:2] + out, xw.dtype)
            for a, b in np.ndindex(_longest(rows), _longest(cols)):  # row by row, as torch sums each window
                (r, r_in), (c, c_in) = rows.offset(a, H), cols.offset(b, W)
                total += np.where(r_in[:, None] & c_in[None, :], xw[:, :, r[:, None], c[None, :]], 0)
            mean = total / rows.length[:, None].astype(xw.dtype) / cols.length.astype(xw.dtype)  # torch: sum / kh / kw
    out_shape = x.shape[:-2] + out
    return down(mean, x.dtype).reshape(out_shape), AdaptiveAvgCache(rows, cols, x.shape, x4.shape, out_shape, x.dtype)


def _cells(rows: AdaptiveWindows, cols: AdaptiveWindows, width: int) -> tuple[Array, Array]:
    """Every (output, input cell) pair of the windows, flat, ordered by output then by cell."""
    kh, kw = _longest(rows), _longest(cols)
    r = rows.start[:, None] + np.arange(kh)  # (OH, kh)
    c = cols.start[:, None] + np.arange(kw)  # (OW, kw)
    inside = (np.arange(kh) < rows.length[:, None])[:, None, :, None] & (np.arange(kw) < cols.length[:, None])[
        None, :, None, :
    ]
    cell = r[:, None, :, None] * width + c[None, :, None, :]
    output = np.arange(len(rows.start) * len(cols.start)).reshape(len(rows.start), len(cols.start), 1, 1)
    return np.broadcast_to(output, inside.shape)[inside], cell[inside]


def _add_at(terms: Array, cells: Array, image: tuple[int, ...], dtype: np.dtype) -> Array:
    """Add ``terms`` (N * C, M) into the flat cells ``cells`` (broadcastable to ``terms``) of a zero
    (N, C, H, W) image in ``dtype``, as torch's kernels add them: each cell receives its terms in
    output order, rounded to the dtype after every addition (np.add.at is unbuffered; float32 too:
    [max, max, -max] into one cell is inf, not max)."""
    nc, hw = image[0] * image[1], image[2] * image[3]
    if dtype.itemsize >= 8:  # float64: a weighted count adds each bin's terms in order, in float64
        at = np.broadcast_to(cells + (np.arange(nc) * hw)[:, None], terms.shape)
        dx = np.bincount(at.ravel(), weights=np.asarray(terms, np.float64).ravel(), minlength=nc * hw)
        return down(dx, dtype).reshape(image)
    dx = np.zeros((nc, hw), dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf and overflow, as in torch
        np.add.at(dx, (np.arange(nc)[:, None], cells), terms)
    return dx.reshape(image)


def adaptive_avg_pool2d_backward(cache: AdaptiveAvgCache, dout: Array) -> dict[str, Array]:
    rows, cols, in_shape, image, out_shape, dtype = cache
    out = (len(rows.start), len(cols.start))
    g = up(check_dout("adaptive_avg_pool2d", dout, out_shape, dtype)).reshape(image[:2] + out)
    if _is_global(out):  # the mean's gradient: dout / (H * W) in every cell
        term = down(g / g.dtype.type(image[2] * image[3]), dtype)
        return {"dx": np.broadcast_to(term, image).reshape(in_shape).copy()}
    # Each cell of a window gets dout / kh / kw as torch computes it: the lengths converted to the dtype
    # (float16 2049 -> 2048, bfloat16 257 -> 256) and each quotient rounded to it
    kh, kw = (up(n.astype(dtype)) for n in (rows.length[:, None], cols.length))
    term = down(up(down(g / kh, dtype)) / kw, dtype)
    output, cell = _cells(rows, cols, image[3])
    dx = _add_at(term.reshape(image[0] * image[1], out[0] * out[1])[:, output], cell[None, :], image, dtype)
    return {"dx": dx.reshape(in_shape)}


class AdaptiveMaxCache(NamedTuple):
    index: Array  # (N, C, OH, OW): flat index of each window's winner in its (H, W) plane
    in_shape: tuple[int, ...]
    image: tuple[int, ...]
    out_shape: tuple[int, ...]
    dtype: np.dtype


def _winners(x: Array, windows: AdaptiveWindows, axis: int) -> tuple[Array, Array]:
    """Each window's maximum along ``axis`` (2 or 3) of ``x`` and the cell that wins, by torch's rule
    (the first maximum, the last NaN, the first cell when nothing beats -inf), over every other axis."""
    n = x.shape[axis]
    shape = list(x.shape)
    shape[axis] = len(windows.start)
    along = [1, 1, 1, 1]
    along[axis] = -1
    best = np.full(shape, -np.inf, x.dtype)
    cell = np.zeros(shape, np.int64)
    cell[...] = windows.start.reshape(along)
    for k in range(_longest(windows)):
        r, inside = windows.offset(k, n)
        v = np.take(x, r, axis=axis)
        with np.errstate(invalid="ignore"):  # (bfloat16 comparisons with NaN warn)
            take = inside.reshape(along) & ((v > best) | np.isnan(v))  # strictly greater; every NaN wins
        np.copyto(best, v, where=take)
        np.copyto(cell, r.reshape(along), where=take)
    return best, cell


def adaptive_max_pool2d_forward(
    x: Array, output_size: int | tuple[int | None, int | None] | None, return_indices: bool = False
) -> tuple[Array | tuple[Array, Array], AdaptiveMaxCache]:
    """``F.adaptive_max_pool2d`` on (N, C, H, W); ties and NaN as in ``max_pool2d``."""
    op = "adaptive_max_pool2d"
    x, x4, out, rows, cols = _adaptive(op, x, output_size)
    # Separably, with the same winner: each row's winner in each column window, then the winning row.
    # Scanning a window row by row, the first maximum is in the first row holding the maximum, at that
    # row's first maximum; the last NaN is in the last row holding a NaN, at that row's last NaN.
    row_best, col = _winners(x4, cols, 3)  # (N, C, H, OW)
    best, row = _winners(row_best, rows, 2)  # (N, C, OH, OW)
    index = row * x4.shape[3] + np.take_along_axis(col, row, axis=2)
    out_shape = x.shape[:-2] + out
    cache = AdaptiveMaxCache(index, x.shape, x4.shape, out_shape, x.dtype)
    result = best.reshape(out_shape)
    return ((result, index.reshape(out_shape)) if return_indices else result), cache


def adaptive_max_pool2d_backward(cache: AdaptiveMaxCache, dout: Array) -> dict[str, Array]:
    index, in_shape, image, out_shape, dtype = cache
    nc = image[0] * image[1]
    gd = check_dout("adaptive_max_pool2d", dout, out_shape, dtype).reshape(nc, index.shape[2] * index.shape[3])
    return {"dx": _add_at(gd, index.reshape(gd.shape), image, dtype).reshape(in_shape)}  # dout to each winner
