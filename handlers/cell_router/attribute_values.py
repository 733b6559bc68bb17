"""DynamoDB attribute values to and from plain Python values.

The one codec of every low-level client call on the router table
(``store``, ``registration``, ``writer_store``; the operator tool too).
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def dump(values: dict[str, Any]) -> dict[str, Any]:
    """Plain values (an item, a key, ``ExpressionAttributeValues``) as
    attribute values."""
    return {name: _serializer.serialize(value) for name, value in values.items()}


def load(item: dict[str, Any]) -> dict[str, Any]:
    """An item's attribute values as plain values."""
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
