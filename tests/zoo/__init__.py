"""The zoo: deliberately broken implementations, one bug each, that the suite must catch.

Each ``tests/zoo/<bug>.py`` is an implementation module like ``reference`` (``pytest --impl
tests/zoo/<bug>.py`` runs the whole suite on it): it star-imports ``reference`` and overrides one or
two functions with the bug, says the bug in its docstring's one line and names in ``TARGETS`` the
registry ops it breaks (``"optim:<Optimizer>"`` for an optimizer). ``tests/test_zoo.py`` proves
every entry is caught and by which checks; ``scripts/kill_matrix.py`` prints the table."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def entries() -> list[Path]:
    """Every zoo entry, sorted by name."""
    return sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
