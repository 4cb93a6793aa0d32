"""Build a zoo entry from a copy of a reference module with one textual edit.

``mutant("linear", (old, new))`` compiles ``reference/linear.py`` with ``old`` replaced by ``new``
(each ``old`` must occur exactly once, so an entry can never silently become the reference again)
and returns the fresh module; the zoo entry takes the broken functions from it. The reference
modules themselves are never touched."""

from __future__ import annotations

import sys
import types
import zlib
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2] / "reference"


def mutant(module: str, *edits: tuple[str, str], extra: str = "") -> types.ModuleType:
    path = REFERENCE / f"{module}.py"
    source = path.read_text()
    for old, new in edits:
        if source.count(old) != 1:
            raise ValueError(f"zoo: {old!r} occurs {source.count(old)} times in {path.name}, expected once")
        source = source.replace(old, new)
    name = f"reference._zoo_{module}_{zlib.crc32(repr(edits).encode())}"
    mod = types.ModuleType(name)
    mod.__file__, mod.__package__ = str(path), "reference"
    sys.modules[name] = mod  # dataclasses and typing look the defining module up by name
    exec(compile(source + extra, str(path), "exec"), mod.__dict__)
    return mod
