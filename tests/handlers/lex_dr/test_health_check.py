"""health_check.handler on moto, with the fake Lex V2 runtime."""

from __future__ import annotations

import json

import pytest

from handlers.lex_dr import health_check, state_store, telemetry
from handlers.lex_dr.settings import ConfigurationError
from tests.handlers.lex_dr.lex_fakes import (
    ERROR,
    EXPECTED,
    NOT_FOUND,
    OK,
    PRIMARY,
    SECONDARY,
    TIMEOUT,
    WRONG,
    emitted_metrics,
)

pytestmark = pytest.mark.usefixtures("fake_lex", "seeded")


def run(lambda_context, rounds: int = 1) -> dict:
    result: dict = {}
    for _ in range(rounds):
        result = health_check.handler({}, lambda_context)
    return result


def test_key_attribute_matches_the_shared_schema():
    from components.schemas import LEX_STATE_TABLE

    assert LEX_STATE_TABLE.hash_key.name == state_store.KEY_ATTRIBUTE


def test_healthy_round_keeps_primary_and_records_streaks(seeded, fake_lex, lambda_context):
    result = run(lambda_context)

    assert result == {
        "activeRegion": PRIMARY,
        "healthy": {PRIMARY: True, SECONDARY: True},
        "switched": False,
    }
    item = seeded.item()
    assert item["lexRegion"]["S"] == PRIMARY
    assert item["version"]["N"] == "1"
    assert seeded.streak(PRIMARY) == (1, 0)
    assert seeded.streak(SECONDARY) == (1, 0)
    region = item["regions"]["M"][PRIMARY]["M"]
    assert region["lastOk"]["BOOL"] is True
    assert "lastProbeAt" in region and "lastLatencyMs" in region
    assert "lastSwitchAt" not in item
    assert fake_lex.count(PRIMARY, "RecognizeText") == 1
    assert fake_lex.count(SECONDARY, "RecognizeText") == 1


def test_every_round_writes_a_new_version(seeded, lambda_context):
    run(lambda_context, rounds=3)
    assert seeded.version() == 3
    assert seeded.streak(PRIMARY) == (3, 0)


def test_missing_item_is_created(state_table, lambda_context):
    result = run(lambda_context)
    assert result["activeRegion"] == PRIMARY
    assert state_table.lex_region() == PRIMARY
    assert state_table.version() == 1


def test_one_failed_round_does_not_switch(seeded, fake_lex, lambda_context):
    fake_lex.set(PRIMARY, ERROR)
    result = run(lambda_context)
    assert result == {
        "activeRegion": PRIMARY,
        "healthy": {PRIMARY: False, SECONDARY: True},
        "switched": False,
    }
    assert seeded.lex_region() == PRIMARY
    assert seeded.streak(PRIMARY) == (0, 1)
    assert seeded.item()["regions"]["M"][PRIMARY]["M"]["lastError"]["S"] == (
        "InternalServerException"
    )


def test_second_failed_round_fails_over(seeded, fake_lex, lambda_context, capsys):
    fake_lex.set(PRIMARY, ERROR)
    first = run(lambda_context)
    second = run(lambda_context)

    assert first["switched"] is False
    assert second == {
        "activeRegion": SECONDARY,
        "healthy": {PRIMARY: False, SECONDARY: True},
        "switched": True,
    }
    item = seeded.item()
    assert item["lexRegion"]["S"] == SECONDARY
    assert item["lastSwitchReason"]["S"] == "failover"
    assert item["lastSwitchFrom"]["S"] == PRIMARY
    switched = [
        m["value"]
        for m in emitted_metrics(capsys.readouterr().out)
        if m["name"] == telemetry.METRIC_REGION_SWITCHED
    ]
    assert switched == [0, 1]


def test_failover_threshold_from_env(seeded, fake_lex, lambda_context, monkeypatch):
    monkeypatch.setenv("FAILOVER_THRESHOLD", "3")
    fake_lex.set(PRIMARY, ERROR)
    assert [run(lambda_context)["switched"] for _ in range(3)] == [False, False, True]


def test_no_failover_unless_the_other_region_passed_this_round(seeded, fake_lex, lambda_context):
    fake_lex.set(PRIMARY, ERROR)
    run(lambda_context)
    fake_lex.set(SECONDARY, ERROR)
    result = run(lambda_context)
    assert result["switched"] is False
    assert seeded.lex_region() == PRIMARY
    # the primary's streak kept counting while both were down
    assert seeded.streak(PRIMARY) == (0, 2)
    fake_lex.set(SECONDARY, OK)
    assert run(lambda_context)["activeRegion"] == SECONDARY


def test_both_down_keeps_region_and_raises_alarm_metric(seeded, fake_lex, lambda_context, capsys):
    fake_lex.set(PRIMARY, TIMEOUT)
    fake_lex.set(SECONDARY, ERROR)
    results = [run(lambda_context) for _ in range(4)]

    assert all(r["activeRegion"] == PRIMARY and not r["switched"] for r in results)
    assert results[-1]["healthy"] == {PRIMARY: False, SECONDARY: False}
    assert seeded.lex_region() == PRIMARY
    assert seeded.item()["lexRegion"]["S"] != "err"
    metrics = emitted_metrics(capsys.readouterr().out)
    failing = [m for m in metrics if m["name"] == telemetry.METRIC_ALL_REGIONS_FAILING]
    assert [m["value"] for m in failing] == [1, 1, 1, 1]
    assert failing[0]["dims"] == {"service": telemetry.HEALTH_CHECK_SERVICE}
    assert failing[0]["namespace"] == telemetry.METRIC_NAMESPACE


def test_per_region_metrics_carry_service_and_region(seeded, fake_lex, lambda_context, capsys):
    fake_lex.set(SECONDARY, WRONG)
    run(lambda_context)
    metrics = emitted_metrics(capsys.readouterr().out)
    by_key = {(m["name"], m["dims"].get("region")): m for m in metrics}

    for name in (
        telemetry.METRIC_PROBE_SUCCEEDED,
        telemetry.METRIC_PROBE_FAILED,
        telemetry.METRIC_PROBE_LATENCY,
    ):
        for region in (PRIMARY, SECONDARY):
            metric = by_key[(name, region)]
            assert set(metric["dims"]) == set(telemetry.METRIC_DIMENSIONS[name])
            assert metric["dims"]["service"] == telemetry.HEALTH_CHECK_SERVICE
    assert by_key[(telemetry.METRIC_PROBE_SUCCEEDED, PRIMARY)]["value"] == 1
    assert by_key[(telemetry.METRIC_PROBE_FAILED, SECONDARY)]["value"] == 1
    assert by_key[(telemetry.METRIC_PROBE_LATENCY, PRIMARY)]["unit"] == "Milliseconds"
    for name in (telemetry.METRIC_REGION_SWITCHED, telemetry.METRIC_ALL_REGIONS_FAILING):
        assert set(by_key[(name, None)]["dims"]) == set(telemetry.METRIC_DIMENSIONS[name])


def test_failback_after_three_good_primary_rounds(seeded, fake_lex, lambda_context):
    fake_lex.set(PRIMARY, ERROR)
    run(lambda_context, rounds=2)
    assert seeded.lex_region() == SECONDARY

    fake_lex.set(PRIMARY, OK)
    switched = [run(lambda_context)["switched"] for _ in range(3)]
    assert switched == [False, False, True]
    item = seeded.item()
    assert item["lexRegion"]["S"] == PRIMARY
    assert item["lastSwitchReason"]["S"] == "failback"


def test_no_failback_when_auto_failback_is_off(seeded, fake_lex, lambda_context, monkeypatch):
    monkeypatch.setenv("AUTO_FAILBACK", "false")
    fake_lex.set(PRIMARY, ERROR)
    run(lambda_context, rounds=2)
    fake_lex.set(PRIMARY, OK)
    results = [run(lambda_context) for _ in range(6)]
    assert all(r["activeRegion"] == SECONDARY and not r["switched"] for r in results)
    assert seeded.streak(PRIMARY) == (6, 0)


def test_secondary_failing_while_active_fails_over_to_primary_even_without_auto_failback(
    seeded, fake_lex, lambda_context, monkeypatch
):
    monkeypatch.setenv("AUTO_FAILBACK", "false")
    seeded.set(lexRegion=SECONDARY)
    fake_lex.set(SECONDARY, ERROR)
    assert [run(lambda_context)["activeRegion"] for _ in range(2)] == [SECONDARY, PRIMARY]


def test_flapping_primary_never_switches(seeded, fake_lex, lambda_context):
    for i in range(10):
        fake_lex.set(PRIMARY, ERROR if i % 2 == 0 else OK)
        assert run(lambda_context)["switched"] is False
    assert seeded.lex_region() == PRIMARY
    assert seeded.version() == 10


def test_wrong_reply_is_a_failure(seeded, fake_lex, lambda_context):
    fake_lex.set(PRIMARY, WRONG)
    results = [run(lambda_context) for _ in range(2)]
    assert results[0]["healthy"][PRIMARY] is False
    assert results[1]["activeRegion"] == SECONDARY
    assert seeded.item()["regions"]["M"][PRIMARY]["M"]["lastError"]["S"] == "WrongReply"


def test_expected_response_must_match_exactly(seeded, fake_lex, lambda_context, monkeypatch):
    monkeypatch.setenv("EXPECTED_RESPONSE", EXPECTED.lower())
    assert run(lambda_context)["healthy"] == {PRIMARY: False, SECONDARY: False}


def test_probe_sends_the_sample_utterance_to_the_configured_bot(seeded, lambda_context):
    import boto3

    seen = []

    def spy(request, **_):
        seen.append((request.url, json.loads(request.body)))

    boto3.DEFAULT_SESSION.events.register("before-send.lex-runtime-v2.RecognizeText", spy)
    from handlers.lex_dr import aws_clients

    aws_clients.reset()
    run(lambda_context)
    urls = sorted(url for url, _ in seen)
    assert "/bots/BOTEAST001/botAliases/ALIASEAST1/botLocales/en_US/sessions/" in urls[0]
    assert all(body == {"text": "I would like to order some flowers."} for _, body in seen)


@pytest.mark.parametrize("method", ["put_session"])
def test_put_session_probe(seeded, fake_lex, lambda_context, monkeypatch, method):
    monkeypatch.setenv("TEST_METHOD", method)
    monkeypatch.delenv("EXPECTED_RESPONSE")
    monkeypatch.delenv("SAMPLE_UTTERANCE")
    fake_lex.set(SECONDARY, WRONG)  # answers without a session
    result = run(lambda_context)
    assert result["healthy"] == {PRIMARY: True, SECONDARY: False}
    assert fake_lex.count(PRIMARY, "PutSession") == 1
    assert fake_lex.count(PRIMARY, "RecognizeText") == 0


def test_send_message_is_the_legacy_name_of_recognize_text(
    seeded, fake_lex, lambda_context, monkeypatch
):
    monkeypatch.setenv("TEST_METHOD", "send_message")
    assert run(lambda_context)["healthy"] == {PRIMARY: True, SECONDARY: True}
    assert fake_lex.count(PRIMARY, "RecognizeText") == 1


def test_test_sessions_are_deleted(seeded, fake_lex, lambda_context):
    fake_lex.script(PRIMARY, WRONG)  # one answered-but-wrong attempt, then ok
    run(lambda_context)
    answered = fake_lex.sessions[PRIMARY] + fake_lex.sessions[SECONDARY]
    assert len(answered) == 3
    assert sorted(fake_lex.deleted) == sorted(answered)
    assert fake_lex.count(PRIMARY, "DeleteSession") == 2
    assert all(s.startswith("health-check-") for s in answered)
    assert len(set(answered)) == 3, "every attempt uses a fresh session"


def test_sessions_that_never_reached_lex_are_not_deleted(seeded, fake_lex, lambda_context):
    fake_lex.set(PRIMARY, TIMEOUT)
    run(lambda_context)
    assert fake_lex.count(PRIMARY, "RecognizeText") == 3
    assert fake_lex.count(PRIMARY, "DeleteSession") == 0


def test_failed_delete_never_fails_the_probe(seeded, fake_lex, lambda_context):
    fake_lex.delete_mode = ERROR
    result = run(lambda_context)
    assert result["healthy"] == {PRIMARY: True, SECONDARY: True}
    assert fake_lex.count(PRIMARY, "DeleteSession") == 1


@pytest.mark.parametrize("transient", [ERROR, TIMEOUT, NOT_FOUND, WRONG])
def test_transient_failure_is_retried_within_the_round(seeded, fake_lex, lambda_context, transient):
    fake_lex.script(PRIMARY, transient, transient)
    result = run(lambda_context)
    assert result["healthy"][PRIMARY] is True
    assert fake_lex.count(PRIMARY, "RecognizeText") == 3
    assert seeded.streak(PRIMARY) == (1, 0)


def test_probe_attempts_from_env(seeded, fake_lex, lambda_context, monkeypatch):
    monkeypatch.setenv("PROBE_ATTEMPTS", "1")
    fake_lex.script(PRIMARY, ERROR)
    assert run(lambda_context)["healthy"][PRIMARY] is False
    assert fake_lex.count(PRIMARY, "RecognizeText") == 1


def test_regions_are_probed_concurrently(seeded, fake_lex, lambda_context):
    # Each attempt of one region waits until an attempt of the other region
    # is in flight too: sequential probing never gets both there at once.
    fake_lex.set(PRIMARY, TIMEOUT)
    fake_lex.set(SECONDARY, TIMEOUT)
    fake_lex.meet_at(2, "RecognizeText")
    result = run(lambda_context)
    assert result["healthy"] == {PRIMARY: False, SECONDARY: False}
    assert fake_lex.broken == 0
    assert fake_lex.met == 2 * 3  # 3 attempts per region, every one met its twin


def test_override_wins_and_probes_are_still_recorded(seeded, fake_lex, lambda_context):
    seeded.set(overrideRegion=SECONDARY)
    fake_lex.set(SECONDARY, ERROR)
    first = run(lambda_context)
    second = run(lambda_context)

    assert first == {
        "activeRegion": SECONDARY,
        "healthy": {PRIMARY: True, SECONDARY: False},
        "switched": True,
    }
    assert second["switched"] is False and second["activeRegion"] == SECONDARY
    item = seeded.item()
    assert item["lastSwitchReason"]["S"] == "override"
    assert item["overrideRegion"]["S"] == SECONDARY, "the health check never clears an override"
    assert seeded.streak(SECONDARY) == (0, 2)
    assert seeded.streak(PRIMARY) == (2, 0)


def test_override_to_primary_blocks_a_failover(seeded, fake_lex, lambda_context):
    seeded.set(overrideRegion=PRIMARY)
    fake_lex.set(PRIMARY, ERROR)
    results = [run(lambda_context) for _ in range(4)]
    assert all(r["activeRegion"] == PRIMARY for r in results)
    assert seeded.streak(PRIMARY) == (0, 4)


def test_removing_the_override_resumes_normal_decisions(seeded, fake_lex, lambda_context):
    seeded.set(overrideRegion=SECONDARY)
    run(lambda_context)
    seeded.client.update_item(
        TableName=seeded.name,
        Key=seeded.key(),
        UpdateExpression="REMOVE overrideRegion",
    )
    # both healthy: the primary's good rounds kept counting under the
    # override, so its third good round fails back
    assert seeded.streak(PRIMARY) == (1, 0)
    assert [run(lambda_context)["activeRegion"] for _ in range(3)] == [
        SECONDARY,
        PRIMARY,
        PRIMARY,
    ]


def test_invalid_override_is_ignored(seeded, fake_lex, lambda_context, caplog):
    seeded.set(overrideRegion="eu-west-1")
    fake_lex.set(PRIMARY, ERROR)
    results = [run(lambda_context) for _ in range(2)]
    # decided as if no override were set: the normal failover happens
    assert [r["activeRegion"] for r in results] == [PRIMARY, SECONDARY]
    assert any("overrideRegion ignored" in r.getMessage() for r in caplog.records)
    assert seeded.item()["overrideRegion"]["S"] == "eu-west-1"


def test_legacy_err_is_read_as_primary(seeded, fake_lex, lambda_context):
    seeded.set(lexRegion="err")
    result = run(lambda_context)
    assert result == {
        "activeRegion": PRIMARY,
        "healthy": {PRIMARY: True, SECONDARY: True},
        "switched": False,
    }
    assert seeded.lex_region() == PRIMARY


def test_legacy_err_with_failing_primary_fails_over(seeded, fake_lex, lambda_context):
    seeded.set(lexRegion="err")
    fake_lex.set(PRIMARY, ERROR)
    assert [run(lambda_context)["activeRegion"] for _ in range(2)] == [PRIMARY, SECONDARY]


def test_seeded_item_with_version_zero_is_updated(state_table, lambda_context):
    state_table.seed(lexRegion=PRIMARY, version=0)
    run(lambda_context)
    assert state_table.version() == 1


@pytest.mark.filterwarnings("ignore:No application metrics")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TABLE_NAME", None),
        ("PRIMARY_REGION", None),
        ("PRIMARY_REGION", "not a region"),
        ("SECONDARY_REGION", "us-east-1"),
        ("BOTS", None),
        ("BOTS", "{not json"),
        ("BOTS", json.dumps({"us-east-1": {"botId": "B", "botAliasId": "A", "localeId": "en_US"}})),
        ("BOTS", json.dumps([1, 2])),
        ("TEST_METHOD", "post_text"),
        ("EXPECTED_RESPONSE", None),
        ("FAILOVER_THRESHOLD", "two"),
        ("FAILOVER_THRESHOLD", "0"),
        ("FAILBACK_THRESHOLD", "-1"),
        ("AUTO_FAILBACK", "maybe"),
        ("PROBE_ATTEMPTS", "0"),
        ("CONNECT_REGION", "nowhere"),
    ],
)
def test_invalid_configuration_raises_and_writes_nothing(
    seeded, fake_lex, lambda_context, monkeypatch, name, value
):
    if value is None:
        monkeypatch.delenv(name)
    else:
        monkeypatch.setenv(name, value)
    before = seeded.item()

    with pytest.raises(ConfigurationError, match=name):
        run(lambda_context)

    assert seeded.item() == before
    assert sum(fake_lex.calls.values()) == 0


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_test_alias_is_rejected(seeded, fake_lex, lambda_context, monkeypatch):
    bots = {
        PRIMARY: {"botId": "B1", "botAliasId": "TSTALIASID", "localeId": "en_US"},
        SECONDARY: {"botId": "B2", "botAliasId": "ALIAS2", "localeId": "en_US"},
    }
    monkeypatch.setenv("BOTS", json.dumps(bots))
    with pytest.raises(ConfigurationError, match="test alias"):
        run(lambda_context)


def test_connect_region_selects_the_item(state_table, fake_lex, lambda_context, monkeypatch):
    monkeypatch.setenv("CONNECT_REGION", SECONDARY)
    state_table.seed(SECONDARY, lexRegion=PRIMARY)
    run(lambda_context)
    assert state_table.version(SECONDARY) == 1
    assert "version" not in state_table.item(PRIMARY), "other Connect regions' items untouched"


def test_concurrent_change_is_not_clobbered(seeded, fake_lex, lambda_context, monkeypatch):
    """A write that lands between our read and our write forces a re-read."""
    fake_lex.set(PRIMARY, ERROR)
    run(lambda_context)  # primary failStreak 1, version 1

    real_load = state_store.load
    interfered = []

    def load_then_interfere(*args, **kwargs):
        stored = real_load(*args, **kwargs)
        if not interfered:
            interfered.append(True)
            seeded.set(overrideRegion=PRIMARY)  # an operator pins the primary meanwhile
        return stored

    monkeypatch.setattr(state_store, "load", load_then_interfere)
    result = run(lambda_context)

    # without the re-read this round would have failed over despite the pin
    assert result["activeRegion"] == PRIMARY
    assert seeded.lex_region() == PRIMARY
    assert seeded.version() == 2
    assert seeded.streak(PRIMARY) == (0, 2)


def test_all_test_sessions_are_deleted_in_parallel(seeded, fake_lex, lambda_context):
    fake_lex.set(PRIMARY, WRONG)  # three answered attempts to clean up
    fake_lex.delete_mode = TIMEOUT
    # All four deletions must be in flight at once to pass the barrier.
    fake_lex.meet_at(4, "DeleteSession")
    result = run(lambda_context)
    assert result["healthy"] == {PRIMARY: False, SECONDARY: True}
    assert fake_lex.count(PRIMARY, "DeleteSession") == 3
    assert fake_lex.count(SECONDARY, "DeleteSession") == 1
    assert (fake_lex.met, fake_lex.broken) == (4, 0)
