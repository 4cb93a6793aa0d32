"""lstm_cell / lstm: the input and forget gate blocks are swapped (f, i, g, o)."""

from reference import *  # noqa: F403
from zoo._mutant import mutant

TARGETS = ('lstm_cell', 'lstm')
_m = mutant(
    "recurrent",
    (
        'i, f, o = gates[:, :H], gates[:, H:2 * H], gates[:, 3 * H:]',
        'f, i, o = gates[:, :H], gates[:, H:2 * H], gates[:, 3 * H:]',
    ),
)
lstm_cell_forward = _m.lstm_cell_forward
lstm_cell_backward = _m.lstm_cell_backward
lstm_forward = _m.lstm_forward
lstm_backward = _m.lstm_backward
