"""Operator tooling for a deployed stack: ``python -m ops --help``.

Every change is a conditional write (it fails, changing nothing, when the
item moved since it was read) and every command reads the stack's outputs
(``pulumi stack output --json > outputs.json``; ``--outputs FILE`` or the
``RESILIENT_ROUTING_OUTPUTS`` environment variable), never typed-in table
names. ``AWS_ENDPOINT_URL`` works as for any boto3 client (local runs).
"""
