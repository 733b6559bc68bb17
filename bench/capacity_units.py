"""DynamoDB's read and write unit rules, shared by the contention model and
the round-trip meter (developer guide: ``read-write-operations.html``,
``transaction-apis.html``).

No handler imports here: ``bench/round_trips.py`` imports the handlers only
after it has set their environment.
"""

from __future__ import annotations

import math

READ_UNIT_BYTES = 4_096
WRITE_UNIT_BYTES = 1_024


def read_units(total_bytes: int, *, consistent: bool) -> float:
    """RRU of one read of ``total_bytes`` (rounded up to 4 KB; half if eventual)."""
    units = max(1, math.ceil(total_bytes / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(item_bytes: int, *, transactional: bool) -> float:
    """WRU of writing an item of ``item_bytes`` (rounded up to 1 KB; a
    transaction writes it twice, prepare and commit)."""
    units = max(1, math.ceil(item_bytes / WRITE_UNIT_BYTES))
    return float(units * (2 if transactional else 1))
