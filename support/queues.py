"""SQS helpers for the tests and the drill."""

from __future__ import annotations

import json
from typing import Any


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every message on the queue; their JSON bodies.

    ``sqs``: a boto3 SQS client. Returns the bodies in the order received."""
    bodies = []
    while True:
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not received:
            return bodies
        for message in received:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
