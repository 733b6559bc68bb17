"""The caller's mapping and its cell, with the errors every reader raises.

Shared by the dispatcher (a known user), the mapper and the validator, so the
"no cell yet" and "cell vanished" answers are the same everywhere.
"""

from __future__ import annotations

from handlers.cell_router import model
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


def require_cell(store: RouterStore, mapping: Mapping, known: Cell | None = None) -> Cell:
    """The mapped cell (``known`` when it is that cell already), or
    ``UserNotFound`` telling the caller what to do when the cell item is gone
    (the cell was decommissioned): sign up again, and the dispatcher removes
    the dangling mapping and places them anew. Retrying would never help."""
    if known is not None and (known.cell_id, known.market_id) == (
        mapping.cell_id,
        mapping.market_id,
    ):
        return known
    cell = store.get_cell(mapping.market_id, mapping.cell_id)
    if cell is None:
        logger.error("mapped cell is missing", extra={"cellId": mapping.cell_id})
        count(model.METRIC_DANGLING_MAPPING)
        raise UserNotFound(
            f"your cell {mapping.cell_id} no longer exists; sign up again through /cells "
            "to be placed in a new cell"
        )
    return cell
