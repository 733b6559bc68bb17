"""Table schemas shared by the components, the tests and the local drill.

Each table's keys and indexes are declared once, in its function family's
contract (``handlers/<family>/contract.py``), because only the family folder
is packaged with its functions and the handlers must name the keys too. The
components turn these schemas into ``aws.dynamodb.Table`` arguments; tests and
the drill turn them into ``CreateTable`` requests against moto. Nothing else
may restate a key name or an index.
"""

from __future__ import annotations

from handlers.cell_router import contract as router_contract
from handlers.common.contract import Attribute, GlobalIndex, TableSchema
from handlers.lex_dr.contract import STATE_TABLE

__all__ = [
    "LEX_STATE_TABLE",
    "ROUTER_INDEX_NAME",
    "ROUTER_PLACEABLE_INDEX_NAME",
    "ROUTER_TABLE",
    "Attribute",
    "GlobalIndex",
    "TableSchema",
]

#: Lex failover state: one item per Amazon Connect region.
LEX_STATE_TABLE = STATE_TABLE

#: The cell router's single table (``handlers/cell_router/contract.py``).
ROUTER_TABLE = router_contract.ROUTER_TABLE
ROUTER_INDEX_NAME = router_contract.CAPACITY_INDEX
#: Sparse: only cells that can take a user carry ``placeableMarketId``.
ROUTER_PLACEABLE_INDEX_NAME = router_contract.PLACEABLE_INDEX
