"""get_region.handler on moto: normal lookups and every fail-open path."""

from __future__ import annotations

import json

import pytest

from handlers.lex_dr import aws_clients, get_region, telemetry
from tests.handlers.lex_dr.lex_fakes import ALIAS_ARNS, PRIMARY, SECONDARY, emitted_metrics

pytestmark = pytest.mark.usefixtures("state_table")

CUSTOMER_NUMBER = "+14255550123"


def connect_event(region: str | None = PRIMARY) -> dict:
    parameters = {} if region is None else {"region": region}
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "CustomerEndpoint": {"Address": CUSTOMER_NUMBER, "Type": "TELEPHONE_NUMBER"},
                "Attributes": {},
            },
            "Parameters": parameters,
        },
    }


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured record, message, extras and traceback included."""
    return "\n".join(f"{r.getMessage()} {r.__dict__} {r.exc_text or ''}" for r in caplog.records)


def expect(region: str) -> dict[str, str]:
    return {"primaryCode": region, "botAliasArn": ALIAS_ARNS[region], "statusCode": "200"}


def fail_open_count(out: str) -> list[float]:
    return [
        m["value"] for m in emitted_metrics(out) if m["name"] == telemetry.METRIC_LOOKUP_FAILED_OPEN
    ]


def test_normal_lookup_returns_the_primary(seeded, lambda_context, capsys):
    assert get_region.handler(connect_event(), lambda_context) == expect(PRIMARY)
    assert fail_open_count(capsys.readouterr().out) == [0]


def test_after_failover_returns_the_secondary(seeded, lambda_context):
    seeded.set(lexRegion=SECONDARY)
    assert get_region.handler(connect_event(), lambda_context) == expect(SECONDARY)


def test_all_values_are_strings(seeded, lambda_context):
    result = get_region.handler(connect_event(), lambda_context)
    assert all(isinstance(v, str) for v in result.values())


@pytest.mark.parametrize("active", [PRIMARY, SECONDARY])
def test_override_wins_immediately(seeded, lambda_context, active):
    other = SECONDARY if active == PRIMARY else PRIMARY
    seeded.set(lexRegion=active, overrideRegion=other)
    assert get_region.handler(connect_event(), lambda_context) == expect(other)


def test_unknown_override_is_ignored(seeded, lambda_context):
    seeded.set(lexRegion=SECONDARY, overrideRegion="eu-west-1")
    assert get_region.handler(connect_event(), lambda_context) == expect(SECONDARY)


def test_legacy_err_means_primary(seeded, lambda_context, capsys):
    seeded.set(lexRegion="err")
    assert get_region.handler(connect_event(), lambda_context) == expect(PRIMARY)
    assert fail_open_count(capsys.readouterr().out) == [0]


def test_connect_region_parameter_selects_the_item(state_table, lambda_context):
    state_table.seed(PRIMARY, lexRegion=PRIMARY)
    state_table.seed(SECONDARY, lexRegion=SECONDARY)
    assert get_region.handler(connect_event(SECONDARY), lambda_context) == expect(SECONDARY)


@pytest.mark.parametrize(
    "event",
    [
        connect_event(None),
        {},
        {"Details": None},
        "not an object",
        connect_event("us-east-1; DROP TABLE"),
        connect_event(""),
    ],
    ids=["no-parameter", "empty-event", "details-null", "not-a-dict", "bad-region", "empty"],
)
def test_bad_event_fails_open(seeded, lambda_context, capsys, event):
    seeded.set(lexRegion=SECONDARY)
    assert get_region.handler(event, lambda_context) == expect(PRIMARY)
    assert fail_open_count(capsys.readouterr().out) == [1]


def test_missing_item_fails_open(state_table, lambda_context, capsys, caplog):
    assert get_region.handler(connect_event(), lambda_context) == expect(PRIMARY)
    assert fail_open_count(capsys.readouterr().out) == [1]
    assert "no state item" in logged(caplog)


def test_unknown_lex_region_fails_open(seeded, lambda_context):
    seeded.set(lexRegion="ap-south-1")
    assert get_region.handler(connect_event(), lambda_context) == expect(PRIMARY)


def test_missing_table_fails_open(seeded, lambda_context, monkeypatch, capsys, caplog):
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    assert get_region.handler(connect_event(), lambda_context) == expect(PRIMARY)
    assert fail_open_count(capsys.readouterr().out) == [1]
    assert "ResourceNotFoundException" in logged(caplog)


def test_unreachable_table_fails_open(seeded, lambda_context, monkeypatch, caplog):
    seeded.set(lexRegion=SECONDARY)
    # nothing listens on the discard port: a real connection failure
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    aws_clients.reset()
    assert get_region.handler(connect_event(), lambda_context) == expect(PRIMARY)
    assert "EndpointConnectionError" in logged(caplog)


@pytest.mark.parametrize("arns", ["{not json", json.dumps(["x"]), json.dumps({PRIMARY: "nope"})])
def test_bad_alias_arns_fail_open_to_primary(seeded, lambda_context, monkeypatch, arns):
    seeded.set(lexRegion=SECONDARY)
    monkeypatch.setenv("BOT_ALIAS_ARNS", arns)
    result = get_region.handler(connect_event(), lambda_context)
    assert result["primaryCode"] == PRIMARY
    assert result["statusCode"] == "200"


def test_alias_arn_in_the_wrong_region_is_rejected(seeded, lambda_context, monkeypatch):
    swapped = {PRIMARY: ALIAS_ARNS[SECONDARY], SECONDARY: ALIAS_ARNS[PRIMARY]}
    monkeypatch.setenv("BOT_ALIAS_ARNS", json.dumps(swapped))
    seeded.set(lexRegion=SECONDARY)
    assert get_region.handler(connect_event(), lambda_context)["primaryCode"] == PRIMARY


def test_missing_table_name_fails_open(seeded, lambda_context, monkeypatch):
    monkeypatch.delenv("TABLE_NAME")
    seeded.set(lexRegion=SECONDARY)
    assert get_region.handler(connect_event(), lambda_context)["primaryCode"] == PRIMARY


def test_missing_primary_region_never_raises(seeded, lambda_context, monkeypatch):
    monkeypatch.delenv("PRIMARY_REGION")
    result = get_region.handler(connect_event(), lambda_context)
    assert result == {"primaryCode": "", "botAliasArn": "", "statusCode": "500"}


def test_customer_data_is_never_logged(seeded, lambda_context, capsys, caplog):
    get_region.handler(connect_event(), lambda_context)
    get_region.handler(connect_event(None), lambda_context)
    out = capsys.readouterr()
    assert caplog.records, "the fail-open path logs its cause"
    assert CUSTOMER_NUMBER not in out.out + out.err + logged(caplog)
