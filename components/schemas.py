"""Table schemas shared by the components, the tests and the local drill.

These are the single definition of each table's keys and indexes. The
components turn them into ``aws.dynamodb.Table`` arguments; tests and the
drill turn them into ``CreateTable`` requests against moto. Nothing else may
restate a key name or an index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str  # "S" | "N" | "B"


@dataclass(frozen=True)
class GlobalIndex:
    name: str
    hash_key: str
    range_key: str | None = None
    projection_type: str = "ALL"


@dataclass(frozen=True)
class TableSchema:
    """Keys and indexes of one DynamoDB table (plain values, no Pulumi)."""

    logical_name: str
    hash_key: Attribute
    range_key: Attribute | None = None
    global_indexes: tuple[GlobalIndex, ...] = field(default_factory=tuple)
    extra_attributes: tuple[Attribute, ...] = field(default_factory=tuple)

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        """Every attribute that appears in a key of the table or an index."""
        seen: dict[str, Attribute] = {}
        for attr in (self.hash_key, self.range_key, *self.extra_attributes):
            if attr is not None:
                seen.setdefault(attr.name, attr)
        return tuple(seen.values())

    def create_table_request(self, table_name: str) -> dict[str, Any]:
        """Arguments for boto3 ``create_table`` (used by tests and the drill)."""
        key_schema = [{"AttributeName": self.hash_key.name, "KeyType": "HASH"}]
        if self.range_key is not None:
            key_schema.append({"AttributeName": self.range_key.name, "KeyType": "RANGE"})
        request: dict[str, Any] = {
            "TableName": table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": a.name, "AttributeType": a.type} for a in self.attributes
            ],
            "KeySchema": key_schema,
        }
        if self.global_indexes:
            request["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": gsi.name,
                    "KeySchema": [{"AttributeName": gsi.hash_key, "KeyType": "HASH"}]
                    + (
                        [{"AttributeName": gsi.range_key, "KeyType": "RANGE"}]
                        if gsi.range_key
                        else []
                    ),
                    "Projection": {"ProjectionType": gsi.projection_type},
                }
                for gsi in self.global_indexes
            ]
        return request


#: Lex failover state: one item per Amazon Connect region.
LEX_STATE_TABLE = TableSchema(
    logical_name="lexDR",
    hash_key=Attribute("connectRegion", "S"),
)

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
