"""Input validation, cached-endpoint comparison, remediation and settings."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from handlers.cell_router import cached_endpoints, identity, input_parsing, settings
from handlers.cell_router.errors import ConfigurationError, InvalidRequest
from handlers.cell_router.model import STATUS_DISABLED, Cell, Endpoint


def test_user_key_is_an_hmac_of_the_subject_under_the_stack_key() -> None:
    key = b"k" * 32
    expected = hmac.new(key, b"0b5e-ada", hashlib.sha256).hexdigest()
    assert identity.keyed_user_key("0b5e-ada", key) == expected
    # Another key, another user key: the table cannot be reversed by hashing
    # candidate identities without the secret.
    assert identity.keyed_user_key("0b5e-ada", b"j" * 32) != expected
    assert expected != hashlib.sha256(b"0b5e-ada").hexdigest()


SUB = "9a1c3f0e-5b2d-4c8e-a7f6-0123456789ab"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("not an object", "event"),
        ({"body": {}}, "userId"),
        ({"userId": "", "body": {}}, "userId"),
        ({"userId": "   ", "body": {}}, "userId"),
        ({"userId": 42, "body": {}}, "userId"),
        ({"userId": "a" * 129, "body": {}}, "128"),
        # An address, a key prefix, a path, non-ASCII: never a Cognito subject.
        ({"userId": "ada@example.com", "body": {}}, "userId"),
        ({"userId": "USER#ada", "body": {}}, "userId"),
        ({"userId": "ada/bob", "body": {}}, "userId"),
        ({"userId": "\u212aate", "body": {}}, "userId"),
        ({"userId": f" {SUB}", "body": {}}, "userId"),
        # The old contract's field is not an identity any more.
        ({"email": "ada@example.com", "body": {}}, "userId"),
        ({"userId": SUB, "body": "{}"}, "body"),
        ({"userId": SUB, "body": ["marketId"]}, "body"),
    ],
)
def test_bad_router_requests(event, message) -> None:
    with pytest.raises(InvalidRequest, match=message):
        input_parsing.parse_router_event(event)


def test_subject_of_128_characters_is_accepted_unchanged_and_body_may_be_absent() -> None:
    parsed = input_parsing.parse_router_event({"userId": "A" * 128})
    assert (parsed.user_id, parsed.body) == ("A" * 128, {})
    assert input_parsing.parse_router_event({"userId": SUB}).user_id == SUB


@pytest.mark.parametrize("value", ["", "x" * 65, "eu rope", "USER#x", "ëurope", None, 7, ["eu"]])
def test_bad_market_ids(value) -> None:
    with pytest.raises(InvalidRequest, match="marketId"):
        input_parsing.market_id({"marketId": value}, "europe")


def test_market_id_defaults_only_when_absent() -> None:
    assert input_parsing.market_id({}, "europe") == "europe"
    assert input_parsing.market_id({"marketId": "us_East-1"}, "europe") == "us_East-1"
    assert input_parsing.market_id({"marketId": "m" * 64}, "europe") == "m" * 64


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://cell.example.com",
        "cell.example.com",
        "https://",
        "https://exa mple.com",
        "https://example.com/\n",
        "https://example.com:0/",
        "https://example.com:99999/",
        "https://" + "a" * 2048 + ".com",
        42,
        None,
    ],
)
def test_bad_urls(url) -> None:
    with pytest.raises(InvalidRequest, match="cellUrl"):
        input_parsing.require_url(url, "cellUrl")


def test_cached_endpoints_need_all_three_fields() -> None:
    good = {"cellId": "c1", "cellUrl": "https://a.example.com", "cellUrl2": "http://b:8080/x"}
    assert input_parsing.parse_cached_endpoints(good).urls[1] == "http://b:8080/x"
    for field in good:
        with pytest.raises(InvalidRequest, match=field):
            input_parsing.parse_cached_endpoints({k: v for k, v in good.items() if k != field})


def test_urls_compare_as_sets_after_normalising() -> None:
    current = ["https://Cell-A.example.com/", "https://cell-b.example.com:443/api"]
    assert cached_endpoints.same_endpoints(
        ["https://cell-b.example.com/api/", "HTTPS://cell-a.EXAMPLE.com"], current
    )
    assert not cached_endpoints.same_endpoints(["https://cell-a.example.com"] * 2, current)
    assert not cached_endpoints.same_endpoints(
        ["https://cell-a.example.com", "https://cell-b.example.com:8443/api"], current
    )
    assert not cached_endpoints.same_endpoints(["http://cell-a.example.com", current[1]], current)
    assert not cached_endpoints.same_endpoints([], [])


TEXTS = cached_endpoints.RemediationTexts("support", "Incident 42", 20)
CELL = Cell("europe", "c1", 1, 50, True, endpoints=(Endpoint("https://a", "eu-west-1"),))


def test_remediation_choices() -> None:
    assert cached_endpoints.remediation(valid=True, healthy=True, cell=CELL, texts=TEXTS) is None
    refresh = cached_endpoints.remediation(valid=False, healthy=True, cell=CELL, texts=TEXTS)
    assert refresh is not None and refresh["action"] == "refresh"
    assert refresh["supportContact"] == "support"
    wait = cached_endpoints.remediation(
        valid=True, healthy=False, cell=CELL, texts=TEXTS, endpoint_up={"https://a": False}
    )
    assert wait is not None and wait["action"] == "wait"
    assert (wait["incidentNotice"], wait["expectedWaitMinutes"]) == ("Incident 42", 20)
    # The failing endpoint by position: a URL is never echoed (issue #10).
    assert "endpoint 1" in wait["message"] and "https://a" not in wait["message"]
    disabled = Cell("europe", "c1", 1, 50, True, status=STATUS_DISABLED)
    for cell in (None, disabled):
        support = cached_endpoints.remediation(valid=False, healthy=False, cell=cell, texts=TEXTS)
        assert support is not None and support["action"] == "contact-support"
        assert set(support) == {
            "action",
            "message",
            "incidentNotice",
            "expectedWaitMinutes",
            "supportContact",
        }


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.default_market() == "europe"
    assert str(settings.capacity_buffer()) == "0.2"
    assert str(settings.scale_out_threshold()) == "0.7"
    assert settings.endpoint_ttl_seconds() == 300
    assert settings.validator_deep_check() is True
    assert settings.validator_timeout_seconds() == 2.0
    monkeypatch.setenv("VALIDATOR_DEEP_CHECK", "FALSE")
    assert settings.validator_deep_check() is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CAPACITY_BUFFER", "1"),
        ("CAPACITY_BUFFER", "-0.1"),
        ("CAPACITY_BUFFER", "lots"),
        ("CAPACITY_BUFFER", "NaN"),
        ("SCALE_OUT_THRESHOLD", "0"),
        ("SCALE_OUT_THRESHOLD", "1.5"),
        ("ENDPOINT_TTL_SECONDS", "-1"),
        ("ENDPOINT_TTL_SECONDS", "5m"),
        ("VALIDATOR_DEEP_CHECK", "maybe"),
        ("VALIDATOR_TIMEOUT_SECONDS", "0"),
        ("DEFAULT_MARKET", "USER#x"),
    ],
)
def test_unusable_settings_are_loud(monkeypatch: pytest.MonkeyPatch, name, value) -> None:
    monkeypatch.setenv(name, value)
    getter = {
        "CAPACITY_BUFFER": settings.capacity_buffer,
        "SCALE_OUT_THRESHOLD": settings.scale_out_threshold,
        "ENDPOINT_TTL_SECONDS": settings.endpoint_ttl_seconds,
        "VALIDATOR_DEEP_CHECK": settings.validator_deep_check,
        "VALIDATOR_TIMEOUT_SECONDS": settings.validator_timeout_seconds,
        "DEFAULT_MARKET": settings.default_market,
    }[name]
    with pytest.raises(ConfigurationError, match=name):
        getter()
