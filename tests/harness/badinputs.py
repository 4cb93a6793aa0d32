"""Invalid calls every op must reject with a clear error, plus each entry's own ``bad_inputs``."""

from __future__ import annotations

import re

import numpy as np

from harness.cases import Case
from harness.registry import BadInput, OpSpec


def _valid(spec: OpSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Valid float64 inputs of the op's first multi-element shape and first variant."""
    shape = next((s for s in spec.shapes if np.prod(s) > 1), spec.shapes[0])
    var = spec.variants[0]
    return Case(spec.name, var.label, "float64", shape, "normal").sample(rng)


def _split(spec: OpSpec, inputs: dict[str, np.ndarray]) -> tuple[tuple, dict]:
    keywords = {k: v for k, v in inputs.items() if k not in spec.inputs}
    return tuple(inputs[n] for n in spec.inputs), {**keywords, **spec.variants[0].options}


def _first(spec: OpSpec) -> str:
    """The input the generic dtype checks corrupt: the first differentiable one, else the first."""
    return spec.grads[0] if spec.grads else spec.inputs[0]


def changing(build, positional: tuple[str, ...], name: str, change):
    """A BadInput call: ``build``'s arrays with ``name`` (one of the arrays passed positionally, named in
    order by ``positional``, or a keyword) replaced by ``change(array)``."""

    def changed(rng):
        args, options = build(rng)
        if name in positional:
            i = positional.index(name)
            return (*args[:i], change(args[i]), *args[i + 1 :]), options
        return args, {**options, name: change(options[name])}

    return changed


def _replacing_first(spec: OpSpec, convert) -> BadInput:
    def build(rng):
        inputs = _valid(spec, rng)
        inputs[_first(spec)] = convert(inputs[_first(spec)])
        return _split(spec, inputs)

    return build


def _valid_call(spec: OpSpec):
    return lambda rng: _split(spec, _valid(spec, rng))


def generic(spec: OpSpec) -> tuple[BadInput, ...]:
    x = _first(spec)
    # the whole message: the op, the rejected input by name, the dtypes taken and the one given
    named = (rf"^{re.escape(spec.name)}: {re.escape(x)} must be a floating-point array "
             rf"\(float16, bfloat16, float32 or float64\), got dtype (int64|object)$")
    bad = [
        # The message names the rejected input (``x must be a floating-point array``), not only the op.
        BadInput(f"{x}_int64", _replacing_first(spec, lambda a: np.ones(a.shape, np.int64)), TypeError, named),
        BadInput(f"{x}_object", _replacing_first(spec, lambda a: a.astype(object)), TypeError, named),
    ]
    if spec.grads:
        bad += [
            BadInput("dout_shape", _valid_call(spec), ValueError, "dout", dout=lambda out: np.zeros(out.shape + (2,))),
            BadInput("dout_dtype", _valid_call(spec), TypeError, "dout", dout=lambda out: out.astype(np.float32)),
            # an integer dout: the message names the op and dout (``<op>: dout must be a floating-point array``)
            BadInput("dout_int64", _valid_call(spec), TypeError, rf"^{re.escape(spec.name)}: dout must be a floating",
                     dout=lambda out: np.ones(np.shape(out), np.int64)),
        ]
    return tuple(bad)


def bad_inputs(spec: OpSpec) -> tuple[BadInput, ...]:
    return generic(spec) + spec.bad_inputs
