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

Recurrent weights whose gate blocks the user orders differently (an LSTM's ``i, f, o, g``, a GRU's ``z, r, n``)
map with ``gate_order(user, ours)``, a ``Layout`` that permutes the row blocks of weights and biases both
ways (compose with ``TRANSPOSE`` by ``Layout.then``). Batch-norm running statistics kept by the user's code
(attributes updated in place, a key of the option dict, or returned by forward) map with ``buffers=Buffers(...)``:
the user's code gets copies of our buffers and the kit returns what it left there as our extra outputs;
conventions (a biased running variance) are never converted, they fail unless declared as a deviation
(``biased_running_var()``). ``optimizer(...)`` turns ``update(w, dw, config) -> (w, config)`` (cs231n) or an
object's ``update(params, grads)`` (in place, the book's ``SGD``/``Adam``) into the functional core of
``reference/optim.py`` (``adam(param, grad, state, **options) -> (param, state)``).

Inside ``reuse_layers()`` the class kits keep one layer object per op and give it the next call's parameters,
as a user's network does, so that state left behind by one call shows in the next (the stateful pass,
``tests/test_stateful.py``); outside it every forward builds a fresh layer.

The kits never copy or convert what the user's code computes (dtypes, values and mutations are the
harness's to judge); they only map names and layouts, wrap a 0-d result as an array, and copy the
gradients and running statistics read from the layer's attributes, lists or dictionaries (storage a layer
reuses), so that a later call cannot change them. What forward and backward return is passed on as is.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

Array = np.ndarray
Pair = tuple[Callable[..., tuple[Any, Any]], Callable[[Any, Any], dict[str, Array]]]

__all__ = [
    "CHANNELS_LAST",
    "GRU_GATES",
    "IDENTITY",
    "LSTM_GATES",
    "TRANSPOSE",
    "Buffers",
    "InjectMask",
    "Layout",
    "StateEntry",
    "biased_running_var",
    "functional",
    "gate_order",
    "layer_class",
    "lazy",
    "only",
    "optimizer",
    "params_lists",
    "reuse_layers",
    "step_count",
]


@dataclass(frozen=True)
class Layout:
    """How an array of ours maps to the user's layout (``to_user``) and a user's array or gradient back."""

    to_user: Callable[[Array], Array]
    from_user: Callable[[Array], Array]

    def then(self, other: Layout) -> Layout:
        """This mapping, then ``other`` on the way to the user (and back in reverse order)."""
        return Layout(lambda a: other.to_user(self.to_user(a)), lambda a: self.from_user(other.from_user(a)))


IDENTITY = Layout(lambda a: a, lambda a: a)
TRANSPOSE = Layout(lambda a: a.T, lambda a: a.T)  # weights (out, in) vs our affine W (in, out)
CHANNELS_LAST = Layout(lambda a: np.moveaxis(a, 1, -1), lambda a: np.moveaxis(a, -1, 1))  # NCHW <-> NHWC
LSTM_GATES = "ifgo"  # torch's gate blocks: input, forget, cell (g), output
GRU_GATES = "rzn"  # torch's: reset, update (z), new


def gate_order(user: str, ours: str) -> Layout:
    """Recurrent weights (``(gates * H, ...)``) and biases (``(gates * H,)``) whose gate blocks the user
    stores in the order ``user`` (e.g. ``"ifog"``) instead of ``ours`` (``LSTM_GATES``, ``GRU_GATES``): the
    row blocks are permuted on the way in, gradients' blocks back. Weights the user stores transposed,
    ``(in, gates * H)``: ``gate_order(...).then(TRANSPOSE)`` (our rows permuted first, then transposed)."""
    if sorted(user) != sorted(ours) or len(set(ours)) != len(ours):
        raise ValueError(f"gate_order: {user!r} is not a permutation of {ours!r}")
    to_user = [ours.index(g) for g in user]  # user block k is our block to_user[k]
    from_user = [user.index(g) for g in ours]

    def permute(order: list[int]) -> Callable[[Array], Array]:
        def apply(a: Array) -> Array:
            blocks = np.split(np.asarray(a), len(order), axis=0)
            return np.concatenate([blocks[k] for k in order], axis=0)

        return apply

    return Layout(permute(to_user), permute(from_user))


@dataclass(frozen=True)
class Buffers:
    """Running statistics (batch norm's ``running_mean``/``running_var``) kept by the user's code. ``names``
    maps ours, in our output order, to where the user keeps each: an attribute of the layer (class kits) or
    a key of the option dict (``functional``). Before forward the kit puts a copy of our buffer there (the
    user's code may update it in place; ours are never written), after forward it returns what is there as
    our extra outputs. ``returned=True``: the user's forward returns ``(out, *buffers)`` instead, in the
    order of ``names``. A buffer we pass as None is left as the user's code has it and returned as None."""

    names: Mapping[str, str]
    returned: bool = False

    def put(self, store: Any, ours: dict[str, Any]) -> None:
        for n, where in self.names.items():
            if ours.get(n) is not None:
                _set(store, where, np.array(ours[n], copy=True))

    def read(self, store: Any, ours: dict[str, Any], result: Any) -> tuple[Any, tuple]:
        """(out, buffers in our order) after the user's forward returned ``result``."""
        if self.returned:
            out, *found = result
        else:
            out, found = result, [_get(store, where) for where in self.names.values()]
        return out, tuple(None if ours.get(n) is None else _copy(f) for n, f in zip(self.names, found, strict=True))


def biased_running_var(reason: str = "the running variance is updated with the biased batch variance") -> dict:
    """The DEVIATIONS entry for a batch norm whose running variance is biased (torch's is unbiased): the kits
    never convert it, so its running_var comparisons fail and this declaration reports them as documented."""
    return {"op": "batch_norm", "checks": ["forward"], "match": "running_var", "reason": reason}


def _get(store: Any, where: str) -> Any:
    return store[where] if isinstance(store, dict) else getattr(store, where)


def _set(store: Any, where: str, value: Any) -> None:
    if isinstance(store, dict):
        store[where] = value
    else:
        setattr(store, where, value)


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
    buffers: Buffers | None = None

    def pop_buffers(self, named: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
        """Our buffers: taken out of the options (they go to the user's store, not to a keyword), or given as
        inputs (``returned=True`` styles take them as arguments), which are then replaced by copies."""
        if not self.buffers:
            return {}
        ours = {n: named[n] if n in named else opts.pop(n, None) for n in self.buffers.names}
        named.update({n: _copy(a) for n, a in named.items() if n in ours})  # the user may update them in place
        return ours

    def result(self, store: Any, buffers: dict[str, Any], result: Any) -> Any:
        """Our forward result: the output, and with ``buffers`` the tuple (out, *buffers)."""
        if not self.buffers:
            return self.output(result)
        out, found = self.buffers.read(store, buffers, result)
        return (self.output(out), *found)

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


def _spec(inputs, params, options, layout, mode, dropout, buffers=None) -> _Spec:
    return _Spec(tuple(inputs), tuple(params), options, dict(layout or {}), mode, dropout, buffers)


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
    buffers: Buffers | None = None,
    dout_first: bool = True,
) -> Pair:
    """``forward(*inputs[, param]) -> (out, cache)``, ``backward(dout, cache) -> grads`` in the order of
    ``grads`` (a single array when there is one). With ``options`` our options are mapped to the dict
    passed as the last argument (``{"p": 1 - o["p"], "mode": ...}``); without it they go as keywords.
    ``buffers``: running statistics kept in that dict (cs231n's ``bn_param["running_mean"]``)."""
    spec = _spec(inputs, (), options, layout, None, dropout, buffers)
    names = tuple(grads)

    def fwd(*args: Any, **kwargs: Any) -> tuple[Any, _Cache]:
        named, opts = spec.bind(args, kwargs)
        mask = dropout.pop(opts, np.shape(args[0])) if dropout else None
        ours = spec.pop_buffers(named, opts)
        data = spec.data(named)
        param = spec.user_options(opts) if options is not None else None
        if buffers is not None and param is not None:
            buffers.put(param, ours)
        if param is not None:
            *out, cache = spec.run_forward(lambda: forward(*data, param), mask)
        else:
            *out, cache = spec.run_forward(lambda: forward(*data, **opts), mask)
        # forward returns (out, cache), or (out, *buffers, cache) with Buffers(returned=True)
        return spec.result(param, ours, out if len(out) > 1 else out[0]), _Cache(cache, tuple(named))

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
    the parameter gradients ``read`` takes from the layer (copied: layers reuse that storage), each
    mapped back to our layout."""
    rets = tuple(returns)

    def fwd(*args: Any, **kwargs: Any) -> tuple[Any, _Cache]:
        named, opts = spec.bind(args, kwargs)
        mask = spec.dropout.pop(opts, np.shape(args[0])) if spec.dropout else None
        training = _pop_mode(spec, opts)
        ours = spec.pop_buffers(named, opts)
        user_params = {n: spec.to_user(n, a) for n, a in named.items() if n in spec.params}
        layer = _layer(fwd, make, user_params, spec.user_options(opts))
        inner = layer.layer if isinstance(layer, _Lazy) else layer
        if callable(spec.mode):
            spec.mode(inner, training)
        if spec.buffers:
            spec.buffers.put(inner, ours)
        mode_kw = {spec.mode: training} if isinstance(spec.mode, str) else {}
        data = spec.data(named)
        out = spec.run_forward(lambda: layer.forward(*data, **mode_kw), mask)
        return spec.result(inner, ours, out), _Cache(layer, tuple(named))

    def bwd(cache: _Cache, dout: Any) -> dict[str, Array]:
        result = cache.user.backward(spec.to_user("out", dout))
        result = (result,) if len(rets) == 1 else tuple(result)
        grads = {g: r for g, r in zip(rets, result, strict=True) if g[1:] in cache.given}  # as returned: an alias
        # of dout shows in the stateful pass
        grads.update({g: _copy(a) for g, a in read(cache.user, cache).items() if g[1:] in cache.given})
        return {g: spec.grad(g, a) for g, a in grads.items()}

    return fwd, bwd


# -- one layer object across calls (reuse_layers) ------------------------------------------------------

_SESSION: contextvars.ContextVar[dict | None] = contextvars.ContextVar("reuse_layers", default=None)


@contextlib.contextmanager
def reuse_layers() -> Iterator[None]:
    """Inside, each kit-made forward keeps one layer object per set of options and hands it the next call's
    parameters instead of building a new one, as a network calls its layers; leaving it forgets them."""
    token = _SESSION.set({})
    try:
        yield
    finally:
        _SESSION.reset(token)


def _layer(fwd: Callable, make: Callable, user_params: dict[str, Any], options: dict[str, Any]) -> Any:
    """A new layer, or inside ``reuse_layers`` the one this forward built before, given ``user_params``."""
    session = _SESSION.get()
    key = (fwd, repr(sorted(options.items())))
    if session is not None and key in session:
        layer, rebind = session[key]
        if rebind is not None:
            rebind(user_params)
            return layer
    layer = make(user_params, options)
    if session is not None:
        session[key] = (layer, _rebinder(layer, user_params))
    return layer


def _rebinder(layer: Any, user_params: dict[str, Any]) -> Callable[[dict[str, Any]], None] | None:
    """How to give ``layer`` new parameters: replace every attribute, list or dict entry holding the very
    object it was built with. None when one is nowhere to be found (the layer copied or derived it), so
    that every call builds a fresh layer rather than keep stale parameters."""
    if isinstance(layer, _Lazy):
        return layer.rebind
    places: dict[str, list[tuple[Any, Any]]] = {}
    attrs = getattr(layer, "__dict__", {})
    for n, a in user_params.items():
        places[n] = [(layer, attr) for attr, v in attrs.items() if v is a]
        for v in attrs.values():
            if isinstance(v, list | dict):
                places[n] += [(v, k) for k, item in (v.items() if isinstance(v, dict) else enumerate(v)) if item is a]
        if not places[n]:
            return None

    def rebind(new: dict[str, Any]) -> None:
        for n, where in places.items():
            for store, k in where:
                if isinstance(store, list | dict):
                    store[k] = new[n]
                else:
                    setattr(store, k, new[n])

    return rebind


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
    buffers: Buffers | None = None,
) -> Pair:
    """``layer = factory(*params, **options)``; ``layer.forward(*data)``; ``layer.backward(dout)`` returns
    ``returns`` (default: the gradient of the first data input) and leaves parameter gradients in
    attributes: ``grads`` maps our gradient name to the attribute (``{"dW": "dW", "db": "db"}``)."""
    spec = _spec(inputs, params, options, layout, mode, dropout, buffers)
    attrs = dict(grads or {})
    return _layer_pair(
        spec,
        lambda p, o: factory(*p.values(), **o),
        lambda layer, cache: {g: getattr(layer, a) for g, a in attrs.items() if g[1:] in cache.given},
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
    buffers: Buffers | None = None,
) -> Pair:
    """``layer = factory(*params, **options)`` with ``layer.params``/``layer.grads`` lists in the order of
    ``params``; backward writes the gradients into reused arrays, which the kit copies right after it."""
    spec = _spec(inputs, params, options, layout, mode, dropout, buffers)
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
    buffers: Buffers | None = None,
) -> Pair:
    """``layer = factory(user_params, **options)`` (``factory(**options)`` without ``params``; the dict of our
    parameters in the user's keys and layout is there for their sizes only), whose ``params``/``grads``
    dictionaries exist only after a first forward; ``params`` maps our names to the user's keys. The kit
    calls ``init(layer, user_params)`` if given, else runs a first forward on the data inputs, then sets
    our parameters into the dictionary (replacing the entries, never writing into our arrays)."""
    keys = dict(params or {})
    spec = _spec(inputs, tuple(keys), options, layout, mode, dropout, buffers)

    def make(p: dict[str, Array], o: dict[str, Any]) -> _Lazy:
        user = {keys[n]: a for n, a in p.items()}
        layer = _Lazy(factory(user, **o) if keys else factory(**o), user, params_attr, keys)
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

    def __init__(self, layer: Any, user: dict[str, Array], params_attr: str, keys: dict[str, str]) -> None:
        self.layer, self.user, self.params_attr, self.keys = layer, user, params_attr, keys

    def forward(self, *data: Any, **kw: Any) -> Any:
        if self.user:
            self.layer.forward(*data, **kw)
            getattr(self.layer, self.params_attr).update(self.user)
            self.user = {}
        return self.layer.forward(*data, **kw)

    def backward(self, dout: Any) -> Any:
        return self.layer.backward(dout)

    def rebind(self, ours: dict[str, Array]) -> None:
        """New parameters (by our names) for the next forward (``reuse_layers``): into the dictionary once
        it exists."""
        user = {self.keys[n]: a for n, a in ours.items()}
        if self.user or not user:
            self.user = dict(user)
        else:
            getattr(self.layer, self.params_attr).update(user)


# -- optimizers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateEntry:
    """Where a user's optimizer keeps one of torch's state entries (``exp_avg``, ``step`` ...): a key of
    its config dict or an attribute of its object, and how a value converts each way. ``per_param``: the
    attribute is a dict by parameter name (the book's ``self.m[key]``), not one value (``self.iter``)."""

    key: str
    to_ours: Callable[[Any], Any] = np.asarray
    to_user: Callable[[Any], Any] = lambda a: a
    per_param: bool = True


def step_count(key: str) -> StateEntry:
    """A step counter the user keeps as a Python int, torch as a 0-d float32 tensor: exact both ways."""
    return StateEntry(key, lambda t: np.asarray(t, np.float32), lambda a: int(a), per_param=False)


def only(options: Mapping[str, Any], *supported: str) -> Mapping[str, Any]:
    """``options`` if they set nothing but ``supported``; otherwise NotImplementedError, which the optimizer
    kit reports as not implemented (skipped) instead of a failure. For an ``options`` mapping."""
    extra = sorted(set(options) - set(supported))
    if extra:
        raise NotImplementedError(f"options {extra} not supported (only {list(supported)})")
    return options


PARAM = "param"  # the parameter's name in the dicts given to an in-place update(params, grads)


def optimizer(
    update: Callable[..., Any],
    *,
    state: Mapping[str, str | StateEntry],
    style: str = "config",
    options: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Callable[..., tuple[Array, dict[str, Any]]]:
    """A user's optimizer as the functional core of ``reference/optim.py``:
    ``core(param, grad, state, **options) -> (new_param, new_state)``, ``state`` holding exactly torch's
    entries, inputs never mutated (the user's code gets copies). Define it under the core's name in the
    adapter file (``adam = ad.optimizer(...)``); ``tests/test_optim.py``'s trajectories then run it.

    ``state`` maps torch's state names to the user's (``{"exp_avg": "m", "exp_avg_sq": "v",
    "step": ad.step_count("t")}``); ``options`` maps torch's options (only those a configuration sets) to
    the user's (raise NotImplementedError, e.g. via ``only``, for one it does not support).

    ``style="config"``: cs231n's ``update(w, dw, config) -> (next_w, config)``; the config holds the mapped
    options and the state entries under the user's keys. ``style="object"``: ``update`` is a factory,
    ``opt = update(**mapped options)``, and ``opt.update(params, grads)`` changes ``params[PARAM]`` in place
    (the book's ``SGD``/``Adam``); each step gets a fresh object with our state set into its attributes."""
    entries = {n: e if isinstance(e, StateEntry) else StateEntry(e) for n, e in state.items()}
    if style not in ("config", "object"):
        raise ValueError(f"optimizer: style must be 'config' or 'object', got {style!r}")

    def core(param: Array, grad: Array, ours: dict[str, Any], **opts: Any) -> tuple[Array, dict[str, Any]]:
        try:
            user_opts = dict(options(dict(opts))) if options is not None else dict(opts)
        except NotImplementedError as err:
            pytest.skip(f"not implemented: {err}")
        given = {n: entries[n].to_user(np.array(v, copy=True)) for n, v in ours.items() if n in entries}
        if style == "config":
            config = {**user_opts, **{entries[n].key: v for n, v in given.items()}}
            new, config = update(param.copy(), grad.copy(), config)
            found = {n: config[e.key] for n, e in entries.items() if e.key in config}
        else:
            opt = update(**user_opts)
            for n, v in given.items():
                setattr(opt, entries[n].key, {PARAM: v} if entries[n].per_param else v)
            params = {PARAM: param.copy()}
            opt.update(params, {PARAM: grad.copy()})
            new = params[PARAM]
            found = {n: getattr(opt, e.key, None) for n, e in entries.items()}
            found = {n: v[PARAM] if e.per_param and isinstance(v, dict) else v
                     for (n, v), e in zip(found.items(), entries.values(), strict=True) if v is not None}
        return new, {n: entries[n].to_ours(_copy(v)) for n, v in found.items()}

    return core
