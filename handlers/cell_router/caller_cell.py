"""The caller's mapping and its cell, with the errors every reader raises.

Shared by the dispatcher (a known user), the mapper and the validator, so the
"no cell yet" and "cell vanished" answers are the same everywhere.
"""

from __future__ import annotations

import threading

from handlers.cell_router import budget, model
from handlers.cell_router.errors import UserNotFound
from handlers.cell_router.model import Cell, Mapping
from handlers.cell_router.observability import count, logger
from handlers.cell_router.store import RouterStore


def require_mapping(store: RouterStore, user_key: str) -> Mapping:
    """The caller's mapping, or ``UserNotFound``."""
    mapping = store.get_mapping(user_key)
    if mapping is None:
        count(model.METRIC_USER_NOT_FOUND)
        raise UserNotFound("you have no cell yet; sign up through /cells")
    return mapping


#: How long a container keeps a cell item it read for a known user when
#: cells are slotted (issue #14): the answer is the cell's endpoints, which
#: change only when the cell re-registers, and a client whose endpoints fail
#: asks ``/validate``, which always reads the cell.
CELL_CACHE_SECONDS = 60.0

_cells: dict[tuple[str, str], tuple[Cell, float]] = {}
_cells_lock = threading.Lock()


def forget_cells() -> None:
    """Empty this container's cell cache (tests, and a cold container)."""
    with _cells_lock:
        _cells.clear()


def require_cell(
    store: RouterStore, mapping: Mapping, known: Cell | None = None, cached: bool = False
) -> Cell:
    """The mapped cell (``known`` when it is that cell already; with
    ``cached``, from this container's cache for ``CELL_CACHE_SECONDS`` --
    slotted cells only, issue #14), or
    ``UserNotFound`` telling the caller what to do when the cell item is gone
    (the cell was decommissioned): sign up again, and the dispatcher removes
    the dangling mapping and places them anew. Retrying would never help."""
    if known is not None and (known.cell_id, known.market_id) == (
        mapping.cell_id,
        mapping.market_id,
    ):
        return known
    key = (mapping.market_id, mapping.cell_id)
    now = budget.CLOCK.now()
    if cached:
        with _cells_lock:
            hit = _cells.get(key)
        if hit is not None and now - hit[1] < CELL_CACHE_SECONDS:
            return hit[0]
    cell = store.get_cell(mapping.market_id, mapping.cell_id)
    if cell is not None and cached:
        with _cells_lock:
            _cells[key] = (cell, now)
    if cell is None:
        logger.error("mapped cell is missing", extra={"cellId": mapping.cell_id})
        count(model.METRIC_DANGLING_MAPPING)
        raise UserNotFound(
            f"your cell {mapping.cell_id} no longer exists; sign up again through /cells "
            "to be placed in a new cell"
        )
    return cell
