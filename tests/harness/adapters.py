"""Adapter kits: wrap your own layers into the harness's API in a few lines per op.

The harness calls ``<op>_forward(*inputs, **options) -> (out, cache)`` and ``<op>_backward(cache, dout)
-> {"d<input>": ...}`` (see the README, "The reference API"). Each kit below turns one common calling
style into such a pair; an adapter file assigns the pairs to our op names::

    from harness import adapters as ad
    affine_forward, affine_backward = ad.layer_class(Affine, inputs=("x", "W", "b"), params=("W", "b"),
                                                     grads={"dW": "dW", "db": "db"})

The four styles:

1. ``functional``: ``forward(x, w, b[, param]) -> (out, cache)`` and ``backward(dout, cache) -> (dx, dw, db)``,
   hyper-parameters in a dict (cs231n).
2. ``layer_class``: ``layer = factory(*params, **options)``, ``layer.forward(*data)``, ``layer.backward(dout)``
   returns the data gradient and stores parameter gradients in attributes (``dW``, ``db``, ...).
3. ``params_lists``: like 2, with ``layer.params`` / ``layer.grads`` lists; gradients written into reused
   arrays are copied right after backward.
4. ``lazy``: parameters and gradients in dictionaries that exist only after the first forward; the kit
   runs that forward (or the user's ``init`` hook) and then sets our parameters.

Common keywords: ``inputs`` (our positional input names, in order), ``params`` (those given to the
layer instead of its forward), ``options`` (our options -> the user's: a dict for ``functional``, keyword
arguments of the factory for the classes), ``layout`` (our name or ``"out"`` -> a ``Layout`` such as
``TRANSPOSE`` for weights stored (out, in), or ``CHANNELS_LAST``), ``mode`` (how train/eval reaches the
user's code: a keyword name of forward, or ``f(layer, training)``), ``dropout`` (an ``InjectMask``: the
harness's keep-mask is fed to the user's code through the random function it calls).

The kits never copy or convert what the user's code computes (dtypes, values and mutations are the
harness's to judge); they only map names and layouts, wrap a 0-d result as an array, and copy gradients
read from the layer, so that a later call cannot change them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray
Pair = tuple[Callable[..., tuple[Any, Any]], Callable[[Any, Any], dict[str, Array]]]

__all__ = [
    "CHANNELS_LAST",
    "IDENTITY",
    "TRANSPOSE",
    "InjectMask",
    "Layout",
    "functional",
    "layer_class",
    "lazy",
    "optimizer",
    "params_lists",
]


@dataclass(frozen=True)
class Layout:
    """How an array of ours maps to the user's layout (``to_user``) and a user's array or gradient back."""

    to_user: Callable[[Array], Array]
    from_user: Callable[[Array], Array]


IDENTITY = Layout(lambda a: a, lambda a: a)
TRANSPOSE = Layout(lambda a: a.T, lambda a: a.T)  # weights (out, in) vs our affine W (in, out)
CHANNELS_LAST = Layout(lambda a: np.moveaxis(a, 1, -1), lambda a: np.moveaxis(a, -1, 1))  # NCHW <-> NHWC


@dataclass(frozen=True)
class InjectMask:
    """Feed the harness's keep-mask (True = keep) to dropout code that draws it with ``target.name(*shape)``
    (``np.random.rand`` by default): during the user's forward that function returns ``keep`` where the mask
    keeps and ``drop`` elsewhere. With ``rand(...) > p`` (drop probability p) the defaults 1.0 / 0.0 work;
    with ``rand(...) < keep_prob`` use ``keep=0.0, drop=1.0``. Without a mask the harness's ``rng`` draws
    one (``rng.random(shape) >= p``); ``p`` is read from our options (``p_option``)."""

    target: Any = np.random
    name: str = "rand"
    keep: float = 1.0
    drop: float = 0.0
    p_option: str = "p"

    def pop(self, opts: dict[str, Any], shape: tuple[int, ...]) -> Array | None:
        """Our ``mask``/``rng`` options taken out and checked as our API does (a boolean keep-mask of the
        input's shape, or a Generator, whenever the forward actually drops)."""
        mask, rng, p = opts.pop("mask", None), opts.pop("rng", None), opts.get(self.p_option, 0.5)
        if mask is None and rng is not None:
            mask = rng.random(shape) >= p
        if mask is None:
            if opts.get("training", True) and 0 < p < 1:
                raise ValueError("dropout: 0 < p < 1 needs a keep-mask (mask=...) or a Generator (rng=...)")
            return None
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(f"dropout: mask must be a boolean keep-mask (True = keep), got dtype {mask.dtype}")
        if mask.shape != tuple(shape):
            raise ValueError(f"dropout: mask has shape {mask.shape}, expected {tuple(shape)}")
        return mask

    @contextlib.contextmanager
    def active(self, mask: Array | None) -> Iterator[None]:
        if mask is None:
            yield
            return
        original = getattr(self.target, self.name)
        values = np.where(mask, self.keep, self.drop)

        def draw(*shape: Any, **kw: Any) -> Array:
            size = kw.get("size", shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape)
            if tuple(size) != values.shape:
                raise ValueError(f"dropout: the code drew shape {tuple(size)}, the keep-mask has {values.shape}")
            return values.copy()

        setattr(self.target, self.name, draw)
        try:
            yield
        finally:
            setattr(self.target, self.name, original)


@dataclass
class _Cache:
    """What our backward gets: the user's cache (or layer) and which of our inputs were given."""

    user: Any
    given: tuple[str, ...]  # our input names given to the forward: only those get a gradient


@dataclass(frozen=True)
class _Spec:
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    options: Callable[[dict[str, Any]], dict[str, Any]] | None
    layout: Mapping[str, Layout]
    mode: str | Callable[[Any, bool], None] | None
    dropout: InjectMask | None

    def bind(self, args: tuple, kwargs: dict[str, Any]) -> tuple[dict[str, Array], dict[str, Any]]:
        """Our call split into named inputs (in order, only those given) and options."""
        if len(args) > len(self.inputs):
            raise TypeError(f"expected at most {len(self.inputs)} positional inputs {self.inputs}, got {len(args)}")
        named = dict(zip(self.inputs, args, strict=False))
        opts = dict(kwargs)
        for name in self.inputs[len(args):]:
            if opts.get(name) is not None:
                named[name] = opts.pop(name)
            else:
                opts.pop(name, None)
        return named, opts

    def to_user(self, name: str, a: Any) -> Any:
        return self.layout.get(name, IDENTITY).to_user(a)

    def from_user(self, name: str, a: Any) -> Any:
        return self.layout.get(name, IDENTITY).from_user(a)

    def user_options(self, opts: dict[str, Any]) -> dict[str, Any]:
        return dict(self.options(opts)) if self.options is not None else opts

    def data(self, named: dict[str, Array]) -> list[Any]:
        return [self.to_user(n, a) for n, a in named.items() if n not in self.params]

    def run_forward(self, call: Callable[[], Any], mask: Array | None) -> Any:
        with self.dropout.active(mask) if self.dropout else contextlib.nullcontext():
            return call()

    def output(self, out: Any) -> Any:
        return _array(self.from_user("out", out))

    def grad(self, name: str, g: Any) -> Any:
        """A gradient of ours: ``d<input>`` mapped back from the user's layout of that input."""
        return _array(self.from_user(name[1:], g))


def _array(a: Any) -> Any:
    """A NumPy scalar (what 0-d arithmetic gives) as the 0-d array our API returns; nothing else changes."""
    return np.asarray(a) if isinstance(a, np.generic) else a


def _spec(inputs, params, options, layout, mode, dropout) -> _Spec:
    return _Spec(tuple(inputs), tuple(params), options, dict(layout or {}), mode, dropout)


def _pop_mode(spec: _Spec, opts: dict[str, Any]) -> bool | None:
    """Our ``training`` option, taken out of the options when the kit passes it on itself."""
    return opts.pop("training", True) if spec.mode is not None else None


def _copy(a: Any) -> Any:
    return np.array(a, copy=True) if a is not None else None


# -- 1. functional ---------------------------------------------------------------------------------


def functional(
    forward: Callable[..., tuple[Any, Any]],
    backward: Callable[..., Any],
    *,
    inputs: Sequence[str] = ("x",),
    grads: Sequence[str] = ("dx",),
    options: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    layout: Mapping[str, Layout] | None = None,
    dropout: InjectMask | None = None,
    dout_first: bool = True,
) -> Pair:
    """``forward(*inputs[, param]) -> (out, cache)``, ``backward(dout, cache) -> grads`` in the order of
    ``grads`` (a single array when there is one). With ``options`` our options are mapped to the dict
    passed as the last argument (``{"p": 1 - o["p"], "mode": ...}``); without it they go as keywords."""
    spec = _spec(inputs, (), options, layout, None, dropout)
    names = tuple(grads)

    def fwd(*args: Any, **kwargs: Any) -> tuple[Any, _Cache]:
        named, opts = spec.bind(args, kwargs)
        mask = dropout.pop(opts, np.shape(args[0])) if dropout else None
        data = spec.data(named)
        if options is not None:
            param = spec.user_options(opts)
            out, cache = spec.run_forward(lambda: forward(*data, param), mask)
        else:
            out, cache = spec.run_forward(lambda: forward(*data, **opts), mask)
        return spec.output(out), _Cache(cache, tuple(named))

    def bwd(cache: _Cache, dout: Any) -> dict[str, Array]:
        d = spec.to_user("out", dout)
        result = backward(d, cache.user) if dout_first else backward(cache.user, d)
        result = (result,) if len(names) == 1 else tuple(result)
        return {g: spec.grad(g, r) for g, r in zip(names, result, strict=True) if g[1:] in cache.given}

    return fwd, bwd


# -- 2.-4. layer classes ---------------------------------------------------------------------------


def _layer_pair(
    spec: _Spec,
    make: Callable[[dict[str, Array], dict[str, Any]], Any],
    read: Callable[[Any, _Cache], dict[str, Any]],
    returns: Sequence[str],
) -> Pair:
    """The shared part of the class kits: build the layer with our parameters (``make``), run its
    forward on the data inputs; backward maps dout, names what backward returns (``returns``) and adds
    the parameter gradients ``read`` takes from the layer, each copied and mapped back to our layout."""
    rets = tuple(returns)

    def fwd(*args: Any, **kwargs: Any) -> tuple[Any, _Cache]:
        named, opts = spec.bind(args, kwargs)
        mask = spec.dropout.pop(opts, np.shape(args[0])) if spec.dropout else None
        training = _pop_mode(spec, opts)
        layer = make({n: spec.to_user(n, a) for n, a in named.items() if n in spec.params}, spec.user_options(opts))
        if callable(spec.mode):
            spec.mode(layer.layer if isinstance(layer, _Lazy) else layer, training)
        mode_kw = {spec.mode: training} if isinstance(spec.mode, str) else {}
        data = spec.data(named)
        out = spec.run_forward(lambda: layer.forward(*data, **mode_kw), mask)
        return spec.output(out), _Cache(layer, tuple(named))

    def bwd(cache: _Cache, dout: Any) -> dict[str, Array]:
        result = cache.user.backward(spec.to_user("out", dout))
        result = (result,) if len(rets) == 1 else tuple(result)
        grads = {g: _copy(r) for g, r in zip(rets, result, strict=True) if g[1:] in cache.given}
        grads.update({g: _copy(a) for g, a in read(cache.user, cache).items() if g[1:] in cache.given})
        return {g: spec.grad(g, a) for g, a in grads.items()}

    return fwd, bwd


def _data_grads(inputs: Sequence[str], params: Sequence[str]) -> tuple[str, ...]:
    return (f"d{next(n for n in inputs if n not in params)}",)


def layer_class(
    factory: Callable[..., Any],
    *,
    inputs: Sequence[str] = ("x",),
    params: Sequence[str] = (),
    grads: Mapping[str, str] | None = None,
    returns: Sequence[str] | None = None,
    options: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    layout: Mapping[str, Layout] | None = None,
    mode: str | Callable[[Any, bool], None] | None = None,
    dropout: InjectMask | None = None,
) -> Pair:
    """``layer = factory(*params, **options)``; ``layer.forward(*data)``; ``layer.backward(dout)`` returns
    ``returns`` (default: the gradient of the first data input) and leaves parameter gradients in
    attributes: ``grads`` maps our gradient name to the attribute (``{"dW": "dW", "db": "db"}``)."""
    spec = _spec(inputs, params, options, layout, mode, dropout)
    attrs = dict(grads or {})
    return _layer_pair(
        spec,
        lambda p, o: factory(*p.values(), **o),
        lambda layer, _: {g: getattr(layer, a) for g, a in attrs.items()},
        returns or _data_grads(inputs, params),
    )


def params_lists(
    factory: Callable[..., Any],
    *,
    inputs: Sequence[str] = ("x",),
    params: Sequence[str] = (),
    returns: Sequence[str] | None = None,
    options: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    layout: Mapping[str, Layout] | None = None,
    mode: str | Callable[[Any, bool], None] | None = None,
    dropout: InjectMask | None = None,
) -> Pair:
    """``layer = factory(*params, **options)`` with ``layer.params``/``layer.grads`` lists in the order of
    ``params``; backward writes the gradients into reused arrays, which the kit copies right after it."""
    spec = _spec(inputs, params, options, layout, mode, dropout)
    names = tuple(params)

    def read(layer: Any, _: _Cache) -> dict[str, Any]:
        if len(layer.grads) != len(names):
            raise ValueError(f"params_lists: layer has {len(layer.grads)} gradients, expected {len(names)} {names}")
        return {f"d{n}": g for n, g in zip(names, layer.grads, strict=True)}

    return _layer_pair(spec, lambda p, o: factory(*p.values(), **o), read, returns or _data_grads(inputs, params))


def lazy(
    factory: Callable[..., Any],
    *,
    inputs: Sequence[str] = ("x",),
    params: Mapping[str, str] | None = None,
    returns: Sequence[str] | None = None,
    init: Callable[[Any, dict[str, Array]], None] | None = None,
    params_attr: str = "params",
    grads_attr: str = "grads",
    options: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    layout: Mapping[str, Layout] | None = None,
    mode: str | Callable[[Any, bool], None] | None = None,
    dropout: InjectMask | None = None,
) -> Pair:
    """``layer = factory(user_params, **options)`` (``factory(**options)`` without ``params``; the dict of our
    parameters in the user's keys and layout is there for their sizes only), whose ``params``/``grads``
    dictionaries exist only after a first forward; ``params`` maps our names to the user's keys. The kit
    calls ``init(layer, user_params)`` if given, else runs a first forward on the data inputs, then sets
    our parameters into the dictionary (replacing the entries, never writing into our arrays)."""
    keys = dict(params or {})
    spec = _spec(inputs, tuple(keys), options, layout, mode, dropout)

    def make(p: dict[str, Array], o: dict[str, Any]) -> _Lazy:
        user = {keys[n]: a for n, a in p.items()}
        layer = _Lazy(factory(user, **o) if keys else factory(**o), user, params_attr)
        if init is not None and p:
            init(layer.layer, layer.user)
            layer.user = {}
        return layer

    def read(lazy_layer: _Lazy, _: _Cache) -> dict[str, Any]:
        store = getattr(lazy_layer.layer, grads_attr)
        return {f"d{n}": store[k] for n, k in keys.items()}

    return _layer_pair(spec, make, read, returns or _data_grads(inputs, tuple(keys)))


class _Lazy:
    """A lazily built layer: the first forward creates its parameters, ours are then set and the
    forward runs again, so that the output is computed with our parameters."""

    def __init__(self, layer: Any, user: dict[str, Array], params_attr: str) -> None:
        self.layer, self.user, self.params_attr = layer, user, params_attr

    def forward(self, *data: Any, **kw: Any) -> Any:
        if self.user:
            self.layer.forward(*data, **kw)
            getattr(self.layer, self.params_attr).update(self.user)
            self.user = {}
        return self.layer.forward(*data, **kw)

    def backward(self, dout: Any) -> Any:
        return self.layer.backward(dout)


# -- optimizers (bonus) ----------------------------------------------------------------------------


def optimizer(update: Callable[..., Any], *, style: str = "config") -> Callable[..., Any]:
    """A user's update rule as one step on named arrays: ``step(params, grads, state) -> (params, state)``,
    new arrays, inputs untouched. ``style="config"``: cs231n ``update(w, dw, config) -> (w, config)`` per
    array, one config per name in ``state``; ``style="inplace"``: ``update(params, grads)`` mutating a dict
    (the book's ``SGD.update``), run on copies; its object keeps its own state, so pass the same one."""

    def step(params: dict[str, Array], grads: dict[str, Array], state: dict[str, Any] | None = None):
        state = dict(state or {})
        if style == "config":
            new = {}
            for k, w in params.items():
                new[k], state[k] = update(w.copy(), grads[k].copy(), dict(state.get(k) or {}))
            return new, state
        work = {k: w.copy() for k, w in params.items()}
        update(work, {k: g.copy() for k, g in grads.items()})
        return work, state

    return step
