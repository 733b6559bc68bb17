"""Things other parts of the project rely on: key names, error names, event
constants, and what the Lambda package may import."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from components.schemas import ROUTER_INDEX_NAME, ROUTER_PLACEABLE_INDEX_NAME, ROUTER_TABLE
from handlers.cell_router import errors, events, store

PACKAGE = Path(__file__).resolve().parents[3] / "handlers" / "cell_router"


def test_handler_key_names_match_the_shared_schema() -> None:
    assert ROUTER_TABLE.hash_key.name == store.PARTITION_KEY
    assert ROUTER_TABLE.range_key is not None
    assert ROUTER_TABLE.range_key.name == store.SORT_KEY
    assert store.CAPACITY_INDEX == ROUTER_INDEX_NAME
    index, placeable = ROUTER_TABLE.global_indexes
    assert (index.name, index.hash_key, index.range_key) == (
        store.CAPACITY_INDEX,
        store.PARTITION_KEY,
        store.CAPACITY_ATTRIBUTE,
    )
    assert index.projection_type == "ALL"
    assert (placeable.name, placeable.hash_key, placeable.range_key) == (
        store.PLACEABLE_INDEX,
        store.PLACEABLE_ATTRIBUTE,
        store.CAPACITY_ATTRIBUTE,
    )
    assert store.PLACEABLE_INDEX == ROUTER_PLACEABLE_INDEX_NAME


def test_helper_partitions_can_never_be_market_ids() -> None:
    from handlers.cell_router.input_parsing import MARKET_ID_PATTERN

    for prefix in (store.USER_PREFIX, store.SCALE_PREFIX, store.MARKET_PARTITION):
        assert not MARKET_ID_PATTERN.fullmatch(prefix + "europe")


def test_error_class_names_are_the_contract() -> None:
    for name in (
        "InvalidRequest",
        "NoCapacity",
        "UserNotFound",
        "ProvisioningUnavailable",
        "UnknownMarket",
        "ServiceUnavailable",
        "WrongRegion",
    ):
        cls = getattr(errors, name)
        assert cls.__name__ == name
        assert issubclass(cls, errors.CellRouterError)


def test_cell_ready_event_pattern() -> None:
    assert events.CELL_READY_EVENT_PATTERN == {
        "source": ["resilient-routing.provisioning"],
        "detail-type": ["CellReady"],
    }
    entry = events.cell_ready_entry(
        events.cell_ready_detail(
            market_id="europe",
            cell_id="c9",
            max_capacity=500,
            endpoints=[{"url": "https://a", "region": "eu-west-1"}],
        )
    )
    assert entry["Source"] == events.CELL_READY_SOURCE
    assert entry["DetailType"] == events.CELL_READY_DETAIL_TYPE
    assert isinstance(entry["Detail"], str)


def test_events_module_is_pure() -> None:
    """The Pulumi component imports it; it must not drag boto3 in."""
    tree = ast.parse((PACKAGE / "events.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "json", "typing"}


def test_package_imports_only_what_lambda_provides() -> None:
    allowed = set(sys.stdlib_module_names) | {
        "boto3",
        "botocore",
        "aws_lambda_powertools",
        "handlers",
    }
    for source in PACKAGE.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{source.name} imports {name}"
                if name.startswith("handlers"):
                    # handlers/common/ is packaged with every family (code_archive).
                    assert name.startswith(("handlers.cell_router", "handlers.common")), (
                        f"{source.name}: {name}"
                    )


def test_every_handler_module_exposes_handler() -> None:
    import importlib

    for name in ("dispatcher", "scaler", "mapper", "validator", "registrar"):
        module = importlib.import_module(f"handlers.cell_router.{name}")
        assert callable(module.handler)
