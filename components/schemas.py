"""Table schemas shared by the components, the tests and the local drill.

Each table's keys and indexes are declared once, in its function family's
contract (``handlers/<family>/contract.py``), because only the family folder
is packaged with its functions and the handlers must name the keys too. The
components turn these schemas into ``aws.dynamodb.Table`` arguments; tests and
the drill turn them into ``CreateTable`` requests against moto. Nothing else
may restate a key name or an index.
"""

from __future__ import annotations

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

#: The cell router's single table: cell items under their market, every other
#: item type (user mappings, scale-out markers) under a partition key that
#: contains ``#`` and therefore can never be a market name.
ROUTER_INDEX_NAME = "marketId-currentCapacity-index"
#: Sparse: only cells that can take a user carry ``placeableMarketId``
#: (``handlers/cell_router/store.py`` keeps it so), least-loaded first.
ROUTER_PLACEABLE_INDEX_NAME = "placeable-cells-index"
ROUTER_TABLE = TableSchema(
    logical_name="tbl_router",
    hash_key=Attribute("marketId", "S"),
    range_key=Attribute("cellId", "S"),
    global_indexes=(
        GlobalIndex(ROUTER_INDEX_NAME, "marketId", "currentCapacity"),
        GlobalIndex(ROUTER_PLACEABLE_INDEX_NAME, "placeableMarketId", "currentCapacity"),
    ),
    extra_attributes=(Attribute("currentCapacity", "N"), Attribute("placeableMarketId", "S")),
)
