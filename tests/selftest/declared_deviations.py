"""The seed's formulas with their differences from torch declared, as a user's implementation would
declare documented choices (``pytest --impl tests/selftest/declared_deviations.py``). The tanh
declaration covers nothing, so the run reports it as stale."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from seed_variants import *  # noqa: F403

DEVIATIONS = [
    {"op": "relu", "checks": ["backward"], "match": "dx", "reason": "textbook mask x < 0 passes dout at x == 0"},
    {"op": "tanh", "reason": "declared although tanh is torch's: a stale declaration"},
]
