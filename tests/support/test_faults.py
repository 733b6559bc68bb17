"""The fault injector: spec parsing, and what a client sees under each fault (on moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError
from moto import mock_aws

from support.faults import Fault, FaultInjector, FaultRule, FaultSpecError, parse_faults

REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)


# -- parsing ------------------------------------------------------------------


def test_parses_the_issue_example() -> None:
    rules = parse_faults(
        "dynamodb:TransactWriteItems=ThrottlingException@0.3,sqs:SendMessage=timeout@1"
    )
    assert rules == (
        FaultRule(
            "dynamodb", "TransactWriteItems", Fault("error", code="ThrottlingException"), 0.3
        ),
        FaultRule("sqs", "SendMessage", Fault("timeout"), 1.0),
    )


def test_parses_every_fault_kind_region_and_times() -> None:
    rules = parse_faults(
        "lexv2-runtime[us-west-2]=timeout,"
        " dynamodb:GetItem=latency:0.25 ,"
        "dynamodb:TransactWriteItems=cancel:TransactionConflict:0@0.5*3,"
        "sqs=connect-timeout"
    )
    assert [str(rule) for rule in rules] == [
        "lexv2-runtime[us-west-2]:*=timeout@1",
        "dynamodb:GetItem=latency:0.25@1",
        "dynamodb:TransactWriteItems=cancel:TransactionConflict:0@0.5*3",
        "sqs:*=connect-timeout@1",
    ]
    assert rules[0].service_id == "lex-runtime-v2"
    assert parse_faults("  ") == ()


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("dynamo:GetItem=ThrottlingException", "unknown service 'dynamo'"),
        ("dynamodb:GetItems=ThrottlingException", "no operation 'GetItems'"),
        ("dynamodb:GetItem=throttle", "is not an AWS error code"),
        ("dynamodb:GetItem=ThrottlingException@1.5", "rate must be a number in [0, 1]"),
        ("dynamodb:GetItem=ThrottlingException*0", "at least 1"),
        ("dynamodb:GetItem=latency:soon", "latency takes seconds"),
        ("dynamodb:GetItem=cancel:TransactionConflict", "applies to dynamodb:TransactWriteItems"),
        ("dynamodb:TransactWriteItems=cancel:Busy", "cancellation reason must be one of"),
        ("GetItem=ThrottlingException", "is not 'service[:Operation]=fault"),
        ("dynamodb:GetItem", "is not 'service[:Operation]=fault"),
    ],
)
def test_a_bad_spec_names_the_rule_and_what_to_change(spec: str, names: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_faults(f"sqs:SendMessage=timeout,{spec}")
    assert names in str(caught.value)
    assert repr(spec.strip()) in str(caught.value) or spec in str(caught.value)


# -- behaviour on moto ----------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[None]:
    # Fake credentials and the default region come from conftest's autouse fixture.
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


def _ddb(config: Config = NO_RETRIES) -> Any:
    return boto3.session.Session().client("dynamodb", region_name=REGION, config=config)


def _put(client: Any, pk: str) -> None:
    client.put_item(TableName="t", Item={"pk": {"S": pk}})


def _exists(pk: str) -> bool:
    item = _ddb().get_item(TableName="t", Key={"pk": {"S": pk}}).get("Item")
    return item is not None


def test_an_injected_error_is_a_client_error_and_changes_nothing(aws: None) -> None:
    injector = FaultInjector("dynamodb:PutItem=ThrottlingException", sleep=lambda _: None)
    with injector.active():
        client = _ddb()
        with pytest.raises(ClientError) as caught:
            _put(client, "a")
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not _exists("a"), "moto applied a request the injector refused"
    assert injector.injected == {("dynamodb", "PutItem", "ThrottlingException"): 1}


def test_botocore_retries_an_injected_throttle_like_a_real_one(aws: None) -> None:
    injector = FaultInjector("dynamodb:PutItem=ThrottlingException*2", sleep=lambda _: None)
    retrying = Config(retries={"mode": "standard", "total_max_attempts": 3})
    with injector.active(), mock.patch("time.sleep"):
        _put(_ddb(retrying), "b")
    assert _exists("b")
    assert injector.seen[("dynamodb", "PutItem")] == 3
    assert injector.total_injected == 2


def test_a_cancelled_transaction_carries_its_reasons(aws: None) -> None:
    injector = FaultInjector("dynamodb:TransactWriteItems=cancel:ThrottlingError")
    client = _ddb()
    with injector.active(client), pytest.raises(ClientError) as caught:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": pk}}}} for pk in ("c1", "c2")
            ]
        )
    response = caught.value.response
    assert response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in response["CancellationReasons"]] == ["None", "ThrottlingError"]
    assert not _exists("c1") and not _exists("c2")


def test_timeouts_cost_the_clients_own_timeout(aws: None) -> None:
    slept: list[float] = []
    injector = FaultInjector(
        "dynamodb:PutItem=timeout,dynamodb:GetItem=connect-timeout", sleep=slept.append
    )
    client = _ddb()
    with injector.active(client):
        with pytest.raises(ReadTimeoutError):
            _put(client, "d")
        with pytest.raises(ConnectTimeoutError):
            client.get_item(TableName="t", Key={"pk": {"S": "d"}})
    assert slept == [5.0, 2.0]


def test_latency_delays_and_then_sends(aws: None) -> None:
    slept: list[float] = []
    injector = FaultInjector("dynamodb:PutItem=latency:0.75", sleep=slept.append)
    client = _ddb()
    with injector.active(client):
        _put(client, "e")
    assert slept == [0.75]
    assert _exists("e")


def test_rate_is_seeded_and_roughly_honoured(aws: None) -> None:
    def run(seed: int) -> list[bool]:
        injector = FaultInjector("dynamodb:GetItem=ThrottlingException@0.3", seed=seed)
        client = _ddb()
        outcomes = []
        with injector.active(client):
            for _ in range(200):
                try:
                    client.get_item(TableName="t", Key={"pk": {"S": "x"}})
                    outcomes.append(False)
                except ClientError:
                    outcomes.append(True)
        return outcomes

    first, again = run(11), run(11)
    assert first == again
    assert 40 <= sum(first) <= 80  # 30 % of 200 = 60, binomial sd ~6.5


def test_only_the_named_region_and_clients_inside_the_block(aws: None) -> None:
    injector = FaultInjector("dynamodb[us-west-2]=ServiceUnavailable")
    outside = _ddb()
    with injector.active():
        east = _ddb()
        west = boto3.session.Session().client(
            "dynamodb", region_name="us-west-2", config=NO_RETRIES
        )
        east.list_tables()
        outside.list_tables()
        with pytest.raises(ClientError) as caught:
            west.list_tables()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    # After the block the hook is inert, even on clients made inside it.
    west.list_tables()
    assert injector.total_injected == 1


def test_sqs_errors_parse_with_its_protocol(aws: None) -> None:
    sqs = boto3.session.Session().client("sqs", region_name=REGION, config=NO_RETRIES)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    injector = FaultInjector("sqs:SendMessage=RequestThrottled")
    with injector.active(sqs), pytest.raises(ClientError) as caught:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert caught.value.response["Error"]["Code"] == "RequestThrottled"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
