"""Environment of the two Lex failover functions, parsed and validated on use.

A missing or malformed variable raises :class:`ConfigurationError` naming the
variable, before the function touches any AWS resource.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from handlers.lex_dr.decision import (
    DEFAULT_FAILBACK_THRESHOLD,
    DEFAULT_FAILOVER_THRESHOLD,
    DEFAULT_STALENESS_SECONDS,
    Policy,
)

# Commercial, GovCloud, China, ISO partitions: "us-east-1", "us-gov-west-1", "cn-north-1".
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")

ProbeMethod = Literal["recognize_text", "put_session"]
#: TEST_METHOD values -> probe method; ``send_message`` is the original's name.
PROBE_METHODS: dict[str, ProbeMethod] = {
    "recognize_text": "recognize_text",
    "send_message": "recognize_text",
    "put_session": "put_session",
}

DEFAULT_PROBE_ATTEMPTS = 3
DEFAULT_PROBE_BACKOFF_MS = 100
DEFAULT_TEST_USER = "lex-dr-health-check"
#: The probe loop's cadence; a round's slot id is its scheduled time / this.
DEFAULT_PROBE_INTERVAL_SECONDS = 10


class ConfigurationError(Exception):
    """The function's environment is missing or malformed."""


@dataclass(frozen=True)
class BotTarget:
    """The Lex V2 bot alias probed in one region."""

    bot_id: str
    bot_alias_id: str
    locale_id: str


@dataclass(frozen=True)
class HealthCheckSettings:
    table_name: str
    connect_region: str
    policy: Policy
    bots: Mapping[str, BotTarget]
    method: ProbeMethod
    sample_utterance: str
    expected_response: str
    test_user: str
    probe_attempts: int
    probe_backoff_seconds: float
    #: region this checker runs in; it writes only its own item (layout.py)
    checker_region: str = ""
    probe_interval_seconds: int = DEFAULT_PROBE_INTERVAL_SECONDS
    #: cheap liveness method for rounds that are not deep (None: every round
    #: uses ``method``, as the SPEC's single-region health check does)
    liveness_method: ProbeMethod | None = None
    #: a region gets ``method`` (the deep probe) in every Nth slot ...
    deep_probe_every: int = 1
    #: ... counted from this phase (the two checkers interleave)
    deep_probe_phase: int = 0

    def method_for(self, region: str, slot: int, last_failed: bool) -> ProbeMethod:
        """The probe method of ``region`` in round ``slot``: the deep method
        when no liveness method is set, in the region's deep slots, and in
        every round after a failed one (escalation, so a bot that answers
        sessions but replies wrongly fails consecutive rounds)."""
        if self.liveness_method is None or last_failed:
            return self.method
        if (slot + self.deep_probe_phase) % self.deep_probe_every == 0:
            return self.method
        return self.liveness_method

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HealthCheckSettings:
        env = os.environ if env is None else env
        primary = _region(env, "PRIMARY_REGION")
        secondary = _region(env, "SECONDARY_REGION")
        if primary == secondary:
            raise ConfigurationError("PRIMARY_REGION and SECONDARY_REGION must differ")
        policy = Policy(
            primary=primary,
            secondary=secondary,
            failover_threshold=_int(env, "FAILOVER_THRESHOLD", DEFAULT_FAILOVER_THRESHOLD, 1, 100),
            failback_threshold=_int(env, "FAILBACK_THRESHOLD", DEFAULT_FAILBACK_THRESHOLD, 1, 100),
            auto_failback=_bool(env, "AUTO_FAILBACK", True),
            staleness_seconds=float(
                _int(env, "STALENESS_SECONDS", int(DEFAULT_STALENESS_SECONDS), 1, 3600)
            ),
        )
        method_name = env.get("TEST_METHOD", "recognize_text").strip() or "recognize_text"
        if method_name not in PROBE_METHODS:
            allowed = ", ".join(sorted(PROBE_METHODS))
            raise ConfigurationError(f"TEST_METHOD must be one of {allowed}, got {method_name!r}")
        method = PROBE_METHODS[method_name]
        liveness_name = env.get("LIVENESS_METHOD", "").strip()
        if liveness_name and liveness_name not in PROBE_METHODS:
            allowed = ", ".join(sorted(PROBE_METHODS))
            raise ConfigurationError(
                f"LIVENESS_METHOD must be one of {allowed} or unset, got {liveness_name!r}"
            )
        liveness = PROBE_METHODS[liveness_name] if liveness_name else None
        deep_every = _int(env, "DEEP_PROBE_EVERY", 1, 1, 360)
        sample_utterance = env.get("SAMPLE_UTTERANCE", "")
        expected_response = env.get("EXPECTED_RESPONSE", "")
        if method == "recognize_text" and not (sample_utterance.strip() and expected_response):
            raise ConfigurationError(
                "SAMPLE_UTTERANCE and EXPECTED_RESPONSE are required for TEST_METHOD recognize_text"
            )
        connect_region = _region(env, "CONNECT_REGION", default=primary)
        checker_region = _region(
            env,
            "CHECKER_REGION",
            default=connect_region if connect_region in policy.regions else primary,
        )
        if checker_region not in policy.regions:
            raise ConfigurationError(
                f"CHECKER_REGION must be PRIMARY_REGION or SECONDARY_REGION, got {checker_region}"
            )
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            connect_region=connect_region,
            policy=policy,
            bots=_bots(env, policy.regions),
            method=method,
            sample_utterance=sample_utterance,
            expected_response=expected_response,
            test_user=env.get("TEST_USER", "").strip() or DEFAULT_TEST_USER,
            probe_attempts=_int(env, "PROBE_ATTEMPTS", DEFAULT_PROBE_ATTEMPTS, 1, 10),
            probe_backoff_seconds=_int(env, "PROBE_BACKOFF_MS", DEFAULT_PROBE_BACKOFF_MS, 0, 2000)
            / 1000,
            checker_region=checker_region,
            probe_interval_seconds=_int(
                env, "PROBE_INTERVAL_SECONDS", DEFAULT_PROBE_INTERVAL_SECONDS, 1, 60
            ),
            liveness_method=liveness,
            deep_probe_every=deep_every,
            deep_probe_phase=_int(env, "DEEP_PROBE_PHASE", 0, 0, 359),
        )


@dataclass(frozen=True)
class GetRegionSettings:
    table_name: str
    primary_region: str
    bot_alias_arns: Mapping[str, str]

    @classmethod
    def primary_from_env(cls, env: Mapping[str, str] | None = None) -> str:
        """Just ``PRIMARY_REGION``: what the lookup falls back to on any error."""
        return _region(os.environ if env is None else env, "PRIMARY_REGION")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GetRegionSettings:
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            primary_region=_region(env, "PRIMARY_REGION"),
            bot_alias_arns=_alias_arns(env),
        )


def is_region(value: object) -> bool:
    return isinstance(value, str) and bool(REGION_PATTERN.match(value))


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def _region(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "").strip()
    if not value and default is not None:
        return default
    if not value:
        raise ConfigurationError(f"{name} is not set")
    if not is_region(value):
        raise ConfigurationError(f"{name} is not an AWS region name: {value!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise ConfigurationError(f"{name} must be 'true' or 'false', got {raw!r}")
    return raw == "true"


def _json_object(env: Mapping[str, str], name: str) -> dict:
    raw = _required(env, name)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{name} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{name} must be a JSON object keyed by region")
    return value


def _bots(env: Mapping[str, str], regions: tuple[str, ...]) -> dict[str, BotTarget]:
    raw = _json_object(env, "BOTS")
    bots: dict[str, BotTarget] = {}
    for region in regions:
        entry = raw.get(region)
        if not isinstance(entry, dict):
            raise ConfigurationError(f"BOTS has no object for region {region}")
        fields = {}
        for key in ("botId", "botAliasId", "localeId"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"BOTS[{region}].{key} must be a non-empty string")
            fields[key] = value.strip()
        if fields["botAliasId"] == "TSTALIASID":
            # The draft test alias is not a deployment target.
            raise ConfigurationError(f"BOTS[{region}].botAliasId must not be the test alias")
        bots[region] = BotTarget(fields["botId"], fields["botAliasId"], fields["localeId"])
    return bots


def _alias_arns(env: Mapping[str, str]) -> dict[str, str]:
    raw = _json_object(env, "BOT_ALIAS_ARNS")
    arns: dict[str, str] = {}
    for region, arn in raw.items():
        if not is_region(region) or not isinstance(arn, str) or not arn.startswith("arn:"):
            raise ConfigurationError(f"BOT_ALIAS_ARNS entry for {region!r} is not a region → ARN")
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "lex" or parts[3] != region:
            raise ConfigurationError(f"BOT_ALIAS_ARNS[{region}] is not a Lex ARN in {region}")
        arns[region] = arn
    return arns
