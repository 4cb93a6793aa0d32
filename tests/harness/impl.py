"""The one place tests get the implementation under test from.

An implementation is any module that defines ``<op>_forward`` and ``<op>_backward`` functions with
the reference's signatures; ``reference`` is the default. Select another with ``--impl`` given a
module name or a path to a ``.py`` file. Ops it does not define are skipped as not implemented."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

DEFAULT = "reference"


@dataclass(frozen=True)
class Impl:
    spec: str
    module: ModuleType

    @property
    def origin(self) -> str:
        return str(getattr(self.module, "__file__", None) or "<built-in>")

    @property
    def option_suffix(self) -> str:
        return "" if self.spec == DEFAULT else f" --impl {self.spec}"

    def describe(self) -> str:
        return f"{self.spec} ({self.origin})"

    def provides(self, fn_name: str) -> bool:
        return callable(getattr(self.module, fn_name, None))

    def get(self, fn_name: str) -> Callable:
        fn = getattr(self.module, fn_name, None)
        if not callable(fn):
            pytest.skip(f"not implemented: {self.spec} has no {fn_name}")
        return fn


def load(spec: str = DEFAULT) -> Impl:
    if spec.endswith(".py") or "/" in spec:
        path = Path(spec).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"--impl {spec}: no such file")
        mod_spec = importlib.util.spec_from_file_location(f"impl_under_test_{path.stem}", path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        return Impl(spec, module)
    return Impl(spec, importlib.import_module(spec))


_current: Impl | None = None


def use(spec: str) -> Impl:
    global _current
    _current = load(spec)
    return _current


def current() -> Impl:
    return _current or use(DEFAULT)
