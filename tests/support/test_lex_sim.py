"""The botocore-level Lex V2 simulator, through a real boto3 client."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from support import lex_sim

BOTS = {
    "us-east-1": {"botId": "BOTEAST001", "botAliasId": "ALIASEAST1", "localeId": "en_US"},
    "us-west-2": {"botId": "BOTWEST001", "botAliasId": "ALIASWEST1", "localeId": "en_US"},
}
EXPECTED = "What type of flowers would you like to order?"
UTTERANCE = "I would like to order some flowers."


@pytest.fixture
def sim() -> lex_sim.LexSimulator:
    simulator = lex_sim.LexSimulator(BOTS, expected_response=EXPECTED, sample_utterance=UTTERANCE)
    session = boto3.session.Session()
    simulator.install(session)
    # Port 9 (discard): if the simulator did not answer, the call would fail.
    simulator.client = lambda region: session.client(  # type: ignore[attr-defined]
        "lexv2-runtime",
        region_name=region,
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    return simulator


def recognize(client, region: str, text: str = UTTERANCE, bot: dict | None = None) -> dict:
    ids = bot or BOTS[region]
    return client.recognize_text(
        botId=ids["botId"],
        botAliasId=ids["botAliasId"],
        localeId=ids["localeId"],
        sessionId="probe-1",
        text=text,
    )


def test_ok_answers_the_expected_reply_and_counts(sim) -> None:
    client = sim.client("us-east-1")
    reply = recognize(client, "us-east-1")
    assert reply["messages"][0]["content"] == EXPECTED
    assert sim.count("us-east-1", "RecognizeText") == 1
    assert sim.count("us-west-2") == 0
    assert sim.undeleted_sessions == {("us-east-1", "probe-1")}
    client.delete_session(
        botId="BOTEAST001", botAliasId="ALIASEAST1", localeId="en_US", sessionId="probe-1"
    )
    assert sim.undeleted_sessions == set()


def test_behaviours_are_per_region(sim) -> None:
    sim.set("us-east-1", lex_sim.WRONG_REPLY)
    assert recognize(sim.client("us-east-1"), "us-east-1")["messages"][0]["content"] != EXPECTED
    assert recognize(sim.client("us-west-2"), "us-west-2")["messages"][0]["content"] == EXPECTED

    sim.set("us-east-1", lex_sim.ERROR, error_code="InternalServerException")
    with pytest.raises(ClientError) as error:
        recognize(sim.client("us-east-1"), "us-east-1")
    assert error.value.response["Error"]["Code"] == "InternalServerException"

    sim.set("us-east-1", lex_sim.TIMEOUT)
    with pytest.raises(ReadTimeoutError):
        recognize(sim.client("us-east-1"), "us-east-1")
    assert sim.behaviour("us-east-1").kind == lex_sim.TIMEOUT


def test_unknown_bot_or_utterance_is_not_healthy(sim) -> None:
    with pytest.raises(ClientError) as error:
        recognize(sim.client("us-east-1"), "us-east-1", bot=BOTS["us-west-2"])
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    reply = recognize(sim.client("us-east-1"), "us-east-1", text="hello")
    assert reply["messages"][0]["content"] != EXPECTED


def test_put_session_returns_a_session_only_when_ok(sim) -> None:
    client = sim.client("us-west-2")
    ids = dict(botId="BOTWEST001", botAliasId="ALIASWEST1", localeId="en_US", sessionId="s-1")
    state = {"dialogAction": {"type": "ElicitIntent"}}
    assert client.put_session(**ids, sessionState=state)["sessionId"] == "s-1"
    sim.set("us-west-2", lex_sim.WRONG_REPLY)
    assert not client.put_session(**ids, sessionState=state).get("sessionId")


def test_uninstall_stops_answering(sim) -> None:
    sim.uninstall()
    with pytest.raises(Exception) as error:  # the request really goes out: nothing listens
        recognize(sim.client("us-east-1"), "us-east-1")
    assert not isinstance(error.value, AssertionError)
    assert sim.count() == 0


def test_rejects_unknown_behaviours() -> None:
    sim = lex_sim.LexSimulator(BOTS, expected_response=EXPECTED)
    with pytest.raises(ValueError):
        sim.set("us-east-1", "flaky")
    with pytest.raises(ValueError):
        sim.set("us-east-1", lex_sim.ERROR, error_code="Boom")
