"""im2col/col2im, convolution and transposed convolution (NCHW), as matrix products over a strided
window view: the im2col copy is one ``ascontiguousarray``, the products are BLAS calls, and col2im
adds windows back with one loop over kernel offsets.

Weights are torch's: conv ``W`` is (C_out, C_in / groups, kH, kW), transposed conv ``W`` is
(C_in, C_out / groups, kH, kW). conv1d is conv2d on a height-1 image.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reference import _windows as win
from reference._core import Array, check_dout, down, floating, same_dtype, up

__all__ = [
    "col2im_backward",
    "col2im_forward",
    "conv1d_backward",
    "conv1d_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
    "im2col_backward",
    "im2col_forward",
]


# -- im2col / col2im (F.unfold / F.fold) --------------------------------------------------------------

def _image(op: str, x: object, ndim: int = 4) -> Array:
    x = floating(op, "x", x)
    if x.ndim != ndim:
        raise ValueError(f"{op}: expected input of shape (N, C, H, W), got {x.shape}")
    return x


def _unfold_geometry(
    op: str, size: tuple[int, ...], kernel_size: object, dilation: object, padding: object, stride: object
) -> win.Geometry:
    k = win.tuple_of(op, "kernel_size", kernel_size, 2, 1)
    p = win.tuple_of(op, "padding", padding, 2, 0)
    return win.geometry(op, size, k, win.tuple_of(op, "stride", stride, 2, 1),
                        win.tuple_of(op, "dilation", dilation, 2, 1), p)


class FoldCache(NamedTuple):
    g: win.Geometry
    image: tuple[int, ...]  # (N, C, H, W) of the image side
    dtype: np.dtype


def im2col_forward(
    x: Array, kernel_size: int | tuple[int, int], dilation: int = 1, padding: int = 0, stride: int = 1
) -> tuple[Array, FoldCache]:
    """``F.unfold``: (N, C, H, W) -> (N, C * kH * kW, L), column l holding the l-th window."""
    x = _image("im2col", x)
    g = _unfold_geometry("im2col", x.shape[2:], kernel_size, dilation, padding, stride)
    kk, blocks = int(np.prod(g.kernel)), int(np.prod(g.out))
    cols = np.ascontiguousarray(win.windows(win.pad(x, g), g)).reshape(x.shape[0], x.shape[1] * kk, blocks)
    return cols, FoldCache(g, x.shape, x.dtype)


def im2col_backward(cache: FoldCache, dout: Array) -> dict[str, Array]:
    g, (n, c, h, w), dtype = cache
    d = up(check_dout("im2col", dout, (n, c * int(np.prod(g.kernel)), int(np.prod(g.out))), dtype))
    padded = (n, c, h + g.pad_lo[0] + g.pad_hi[0], w + g.pad_lo[1] + g.pad_hi[1])
    image = win.add_windows(d.reshape((n, c) + g.kernel + g.out), padded, g)  # overlapping windows add up
    return {"dx": down(win.crop(image, g, (h, w)), dtype)}


def col2im_forward(
    cols: Array, output_size: int | tuple[int, int], kernel_size: int | tuple[int, int],
    dilation: int = 1, padding: int = 0, stride: int = 1,
) -> tuple[Array, FoldCache]:
    """``F.fold``: (N, C * kH * kW, L) -> (N, C, H, W), summing where windows overlap."""
    cols = floating("col2im", "cols", cols)
    size = win.tuple_of("col2im", "output_size", output_size, 2, 1)
    if cols.ndim != 3:
        raise ValueError(f"col2im: expected input of shape (N, C * kH * kW, L), got {cols.shape}")
    g = _unfold_geometry("col2im", size, kernel_size, dilation, padding, stride)
    kk, blocks = int(np.prod(g.kernel)), int(np.prod(g.out))
    if cols.shape[1] % kk or cols.shape[2] != blocks:
        raise ValueError(
            f"col2im: input {cols.shape} must be (N, C * {kk}, {blocks}) for kernel {g.kernel} and "
            f"output size {size} ({g.out[0]} x {g.out[1]} blocks)"
        )
    n, c = cols.shape[0], cols.shape[1] // kk
    padded = (n, c, size[0] + g.pad_lo[0] + g.pad_hi[0], size[1] + g.pad_lo[1] + g.pad_hi[1])
    image = win.add_windows(up(cols).reshape((n, c) + g.kernel + g.out), padded, g)
    return down(win.crop(image, g, size), cols.dtype), FoldCache(g, (n, c) + size, cols.dtype)


def col2im_backward(cache: FoldCache, dout: Array) -> dict[str, Array]:
    g, image, dtype = cache
    d = check_dout("col2im", dout, image, dtype)
    kk, blocks = int(np.prod(g.kernel)), int(np.prod(g.out))
    cols = np.ascontiguousarray(win.windows(win.pad(d, g), g)).reshape(image[0], image[1] * kk, blocks)
    return {"dcols": cols}


# -- conv2d ------------------------------------------------------------------------------------------
#
# The products run channels-last: the im2col matrix of group g is (N * OH * OW, kH * kW * C_in / groups),
# one row per output pixel, and the weight matrix (C_out / groups, kH * kW * C_in / groups) has its
# kernel offsets before its channels to match. These shapes are the fast ones for BLAS here.

class ConvCache(NamedTuple):
    cols: Array  # (groups, N * OH * OW, kH * kW * C_in / groups): im2col, working precision
    W: Array
    has_bias: bool
    g: win.Geometry
    x_shape: tuple[int, ...]
    groups: int


def _padding(op: str, padding: object, kernel: tuple, dilation: tuple, stride: tuple) -> tuple[tuple, tuple]:
    """Padding before and after each spatial dimension; 'same' puts the odd extra one after, as torch."""
    n = len(kernel)
    if padding == "valid":
        return (0,) * n, (0,) * n
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
        total = tuple(d * (k - 1) for k, d in zip(kernel, dilation, strict=True))
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    p = win.tuple_of(op, "padding", padding, n, 0)
    return p, p


def _groups(op: str, groups: object, c_in: int, c_out: int) -> int:
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if c_in % groups or c_out % groups:
        raise ValueError(f"{op}: in_channels {c_in} and out_channels {c_out} must both be divisible by groups {groups}")
    return int(groups)


def _params(op: str, x: object, W: object, b: object | None, layout: str = "(N, C, H, W)") -> tuple:
    """x, W and b validated: floating, one dtype, x of the given layout and W of the same rank."""
    x, W = floating(op, "x", x), floating(op, "W", W)
    b = None if b is None else floating(op, "b", b)
    same_dtype(op, x=x, W=W, **({} if b is None else {"b": b}))
    ndim = layout.count(",") + 1
    if x.ndim != ndim or W.ndim != ndim:
        raise ValueError(f"{op}: expected x {layout} and a {ndim}-d W, got {x.shape} and {W.shape}")
    return x, W, b


def _last(x: Array, groups: int, g: win.Geometry) -> Array:
    """(N, C, H, W) -> padded (N, Hp, Wp, groups, C / groups), C-contiguous, working precision."""
    n, c = x.shape[:2]
    xh = up(x).transpose(0, 2, 3, 1).reshape(n, *x.shape[2:], groups, c // groups)
    widths = [(0, 0), *zip(g.pad_lo, g.pad_hi, strict=True), (0, 0), (0, 0)]
    return np.pad(xh, widths) if any(g.pad_lo + g.pad_hi) else np.ascontiguousarray(xh)


def _first(m: Array, n: int, out: tuple[int, ...]) -> Array:
    """(groups, N * OH * OW, C / groups) -> (N, C, OH, OW)."""
    groups, _, cg = m.shape
    return m.reshape(groups, n, *out, cg).transpose(1, 0, 4, 2, 3).reshape(n, groups * cg, *out)


def _rows(d: Array, groups: int) -> Array:
    """(N, C, OH, OW) -> (groups, N * OH * OW, C / groups): a gradient image as rows of pixels."""
    n, c, oh, ow = d.shape
    return np.ascontiguousarray(d.reshape(n, groups, c // groups, oh, ow).transpose(1, 0, 3, 4, 2)).reshape(
        groups, n * oh * ow, c // groups
    )


def _im2col(xh: Array, g: win.Geometry) -> Array:
    """Padded channels-last image (N, Hp, Wp, groups, C / groups) -> (groups, N * OH * OW, kH * kW * C / groups)."""
    view = win.windows(xh, g, last=True)  # (N, OH, OW, kH, kW, groups, C / groups)
    n, groups, cg = view.shape[0], view.shape[5], view.shape[6]
    rows, width = n * int(np.prod(g.out)), int(np.prod(g.kernel)) * cg
    return np.ascontiguousarray(view.transpose(5, 0, 1, 2, 3, 4, 6)).reshape(groups, rows, width)


def _spread(rows: Array, Wg: Array, g: win.Geometry, padded: tuple[int, ...]) -> Array:
    """The adjoint of im2col fused with the product ``rows · W``: at each kernel offset, every pixel's
    ``rows · W_offset`` is added where that offset's window cell lies. ``rows`` (groups, N * L, A),
    ``Wg`` (groups, A, kH * kW * B) as ``_by_group`` gives it -> padded (N, Hp, Wp, groups, B).
    One product and one strided add per offset, never a (N * L, kH * kW * B) intermediate."""
    n, groups, b = padded[0], padded[3], padded[4]
    per_offset = Wg.reshape(groups, Wg.shape[1], -1, b)  # (groups, A, kH * kW, B)
    image = np.zeros(padded, rows.dtype)
    for k, offset in enumerate(np.ndindex(*g.kernel)):
        part = (rows @ per_offset[:, :, k]).reshape(groups, n, *g.out, b)
        image[(slice(None), *win.at(offset, g))] += part.transpose(1, 2, 3, 0, 4)
    return image


def _by_group(W: Array, groups: int) -> Array:
    """(A, B, kH, kW) -> (groups, A / groups, kH * kW * B): kernel offsets before channels, per group."""
    a, b = W.shape[:2]
    return up(W).reshape(groups, a // groups, b, -1).transpose(0, 1, 3, 2).reshape(groups, a // groups, -1)


def _from_groups(m: Array, shape: tuple[int, ...]) -> Array:
    """Inverse of ``_by_group``: (groups, A / groups, kH * kW * B) -> (A, B, kH, kW)."""
    groups, ag = m.shape[:2]
    return m.reshape(groups, ag, *shape[2:], shape[1]).transpose(0, 1, 4, 2, 3).reshape(shape)


def _padded(n: int, size: tuple[int, ...], g: win.Geometry, groups: int, cg: int) -> tuple[int, ...]:
    return (n, *(k + lo + hi for k, lo, hi in zip(size, g.pad_lo, g.pad_hi, strict=True)), groups, cg)


def _crop_first(image: Array, g: win.Geometry, size: tuple[int, ...]) -> Array:
    """Padded channels-last (N, Hp, Wp, groups, C / groups) -> the (N, C, H, W) interior."""
    n, groups, cg = image.shape[0], image.shape[3], image.shape[4]
    inner = image[(slice(None), *(slice(lo, lo + k) for lo, k in zip(g.pad_lo, size, strict=True)))]
    return inner.reshape(n, *size, groups * cg).transpose(0, 3, 1, 2)


def conv2d_forward(
    x: Array, W: Array, b: Array | None = None, stride: int | tuple = 1, padding: int | tuple | str = 0,
    dilation: int | tuple = 1, groups: int = 1,
) -> tuple[Array, ConvCache]:
    """``F.conv2d(x, W, b, stride, padding, dilation, groups)``; padding may be 'same' or 'valid'."""
    return _conv2d("conv2d", x, W, b, stride, padding, dilation, groups)


def _conv2d(
    op: str, x: object, W: object, b: object | None, stride: object, padding: object, dilation: object, groups: object
) -> tuple[Array, ConvCache]:
    x, W, b = _params(op, x, W, b)
    groups = _groups(op, groups, x.shape[1], W.shape[0])
    if W.shape[1] * groups != x.shape[1]:
        raise ValueError(f"{op}: W {W.shape} with groups={groups} expects {W.shape[1] * groups} input channels, "
                         f"got x {x.shape}")
    if b is not None and b.shape != (W.shape[0],):
        raise ValueError(f"{op}: b must have shape ({W.shape[0]},), got {b.shape}")
    k = W.shape[2:]
    s, d = win.tuple_of(op, "stride", stride, 2, 1), win.tuple_of(op, "dilation", dilation, 2, 1)
    g = win.geometry(op, x.shape[2:], k, s, d, *_padding(op, padding, k, d, s))
    cols = _im2col(_last(x, groups, g), g)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf and overflow: IEEE results, as in torch
        out = _first(cols @ _by_group(W, groups).transpose(0, 2, 1), x.shape[0], g.out)  # out = cols · W^T
        if b is not None:
            out += up(b)[:, None, None]
    return down(out, x.dtype), ConvCache(cols, W, b is not None, g, x.shape, groups)


def conv2d_backward(cache: ConvCache, dout: Array) -> dict[str, Array]:
    return _conv2d_backward("conv2d", cache, dout)


def _conv2d_backward(op: str, cache: ConvCache, dout: Array) -> dict[str, Array]:
    cols, W, has_bias, g, (n, c, h, w), groups = cache
    d = up(check_dout(op, dout, (n, W.shape[0]) + g.out, W.dtype))
    dm = _rows(d, groups)  # (groups, N * OH * OW, C_out / groups)
    with np.errstate(invalid="ignore", over="ignore"):
        dW = dm.transpose(0, 2, 1) @ cols  # dL/dW = dout^T · cols, per group
        image = _spread(dm, _by_group(W, groups), g, _padded(n, (h, w), g, groups, c // groups))  # dL/dcols = dout · W
        grads = {
            "dx": down(_crop_first(image, g, (h, w)), W.dtype),
            "dW": down(_from_groups(dW, W.shape), W.dtype),
        }
        if has_bias:
            grads["db"] = down(d.sum(axis=(0, 2, 3)), W.dtype)
    return grads


# -- conv1d: conv2d on a height-1 image ------------------------------------------------------------

def _as_2d(value: object, fill: int) -> object:
    return value if isinstance(value, str) else (fill, *((value,) if isinstance(value, (int, np.integer)) else value))


def conv1d_forward(
    x: Array, W: Array, b: Array | None = None, stride: int | tuple = 1, padding: int | tuple | str = 0,
    dilation: int | tuple = 1, groups: int = 1,
) -> tuple[Array, ConvCache]:
    """``F.conv1d``: x (N, C, L), W (C_out, C_in / groups, k)."""
    x, W, b = _params("conv1d", x, W, b, "(N, C, L)")
    pad = padding if isinstance(padding, str) else _as_2d(padding, 0)
    out, cache = _conv2d("conv1d", x[:, :, None], W[:, :, None], b, _as_2d(stride, 1), pad, _as_2d(dilation, 1), groups)
    return out[:, :, 0], cache


def conv1d_backward(cache: ConvCache, dout: Array) -> dict[str, Array]:
    n, c_out = cache.x_shape[0], cache.W.shape[0]
    d = check_dout("conv1d", dout, (n, c_out, cache.g.out[1]), cache.W.dtype)
    grads = _conv2d_backward("conv1d", cache, d[:, :, None])
    grads["dx"], grads["dW"] = grads["dx"][:, :, 0], grads["dW"][:, :, 0]
    return grads


# -- conv_transpose2d ------------------------------------------------------------------------------

class ConvTransposeCache(NamedTuple):
    xm: Array  # (groups, N * H * W, C_in / groups): the input as rows of pixels, working precision
    W: Array
    has_bias: bool
    g: win.Geometry  # the windows of the output image (those of the conv2d this is the adjoint of)
    x_shape: tuple[int, ...]
    size: tuple[int, ...]  # output (H_out, W_out)
    groups: int


def conv_transpose2d_forward(
    x: Array, W: Array, b: Array | None = None, stride: int | tuple = 1, padding: int | tuple = 0,
    output_padding: int | tuple = 0, groups: int = 1, dilation: int | tuple = 1,
) -> tuple[Array, ConvTransposeCache]:
    """``F.conv_transpose2d``: the adjoint of conv2d in x, W (C_in, C_out / groups, kH, kW). Output size
    ``(H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``."""
    op = "conv_transpose2d"
    x, W, b = _params(op, x, W, b)
    if W.shape[0] != x.shape[1]:
        raise ValueError(f"{op}: W {W.shape} expects {W.shape[0]} input channels, got x {x.shape}")
    groups = _groups(op, groups, x.shape[1], x.shape[1])
    c_out = W.shape[1] * groups
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"{op}: b must have shape ({c_out},), got {b.shape}")
    k = W.shape[2:]
    s, d = win.tuple_of(op, "stride", stride, 2, 1), win.tuple_of(op, "dilation", dilation, 2, 1)
    p = win.tuple_of(op, "padding", padding, 2, 0)
    extra = win.tuple_of(op, "output_padding", output_padding, 2, 0)
    if any(e >= max(si, di) for e, si, di in zip(extra, s, d, strict=True)):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than either stride {s} or dilation {d}")
    size = tuple((n - 1) * si - 2 * pi + di * (ki - 1) + ei + 1
                 for n, si, pi, di, ki, ei in zip(x.shape[2:], s, p, d, k, extra, strict=True))
    if min(size) < 1:
        raise ValueError(f"{op}: output size {size} is too small for input {x.shape} (kernel {k}, stride {s}, "
                         f"padding {p})")
    g = win.Geometry(k, s, d, p, p, x.shape[2:])
    xm = _rows(up(x), groups)  # (groups, N * H * W, C_in / groups)
    with np.errstate(invalid="ignore", over="ignore"):
        # each input pixel spreads x · W over its window
        out = _crop_first(_spread(xm, _by_group(W, groups), g, _padded(x.shape[0], size, g, groups, c_out // groups)),
                          g, size)
        if b is not None:
            out = out + up(b)[:, None, None]
    return down(out, x.dtype), ConvTransposeCache(xm, W, b is not None, g, x.shape, size, groups)


def conv_transpose2d_backward(cache: ConvTransposeCache, dout: Array) -> dict[str, Array]:
    xm, W, has_bias, g, x_shape, size, groups = cache
    n, c_out = x_shape[0], W.shape[1] * groups
    d = up(check_dout("conv_transpose2d", dout, (n, c_out, *size), W.dtype))
    # The windows of dout are what conv2d would read from x: pad by `padding` on both sides.
    dcols = _im2col(_last(d, groups, g._replace(pad_hi=g.pad_lo)), g)  # (groups, N * H * W, kH * kW * C_out / groups)
    with np.errstate(invalid="ignore", over="ignore"):
        dx = dcols @ _by_group(W, groups).transpose(0, 2, 1)  # dL/dx = dcols · W^T
        dW = xm.transpose(0, 2, 1) @ dcols  # dL/dW = x^T · dcols
        grads = {"dx": down(_first(dx, n, x_shape[2:]), W.dtype), "dW": down(_from_groups(dW, W.shape), W.dtype)}
        if has_bias:
            grads["db"] = down(d.sum(axis=(0, 2, 3)), W.dtype)
    return grads
