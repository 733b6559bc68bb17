"""Environment of the two Lex failover functions, parsed through their contract.

The variables, defaults and bounds are declared once, in
:mod:`handlers.lex_dr.contract`; this module turns the parsed values into the
typed settings the handlers use. A missing or malformed variable raises
:class:`ConfigurationError` naming the variable, before the function touches
any AWS resource.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from handlers.common.contract import REGION_PATTERN, ConfigurationError, is_region
from handlers.lex_dr import contract
from handlers.lex_dr.decision import Policy

__all__ = [
    "REGION_PATTERN",
    "BotTarget",
    "ConfigurationError",
    "GetRegionSettings",
    "HealthCheckSettings",
    "is_region",
]

ProbeMethod = Literal["recognize_text", "put_session"]
#: TEST_METHOD values -> probe method; ``send_message`` is the original's name.
PROBE_METHODS: dict[str, ProbeMethod] = {
    **{m: m for m in contract.PROBE_METHOD_CHOICES},  # type: ignore[misc]
    **contract.PROBE_METHOD_ALIASES,  # type: ignore[dict-item]
}

DEFAULT_PROBE_ATTEMPTS: int = contract.PROBE_ATTEMPTS.default
DEFAULT_PROBE_BACKOFF_MS: int = contract.PROBE_BACKOFF_MS.default
DEFAULT_TEST_USER: str = contract.TEST_USER.default
# Variable names for cross-field messages (declared in the contract).
_PRIMARY, _SECONDARY = contract.PRIMARY_REGION.name, contract.SECONDARY_REGION.name
_CHECKER, _METHOD = contract.CHECKER_REGION.name, contract.TEST_METHOD.name
_UTTERANCE, _EXPECTED = contract.SAMPLE_UTTERANCE.name, contract.EXPECTED_RESPONSE.name
_BOTS, _ARNS = contract.BOTS.name, contract.BOT_ALIAS_ARNS.name
#: The probe loop's cadence; a round's slot id is its scheduled time / this.
DEFAULT_PROBE_INTERVAL_SECONDS: int = contract.PROBE_INTERVAL_SECONDS.default


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
        e = contract.HEALTH_CHECK.parse(os.environ if env is None else env)
        primary, secondary = e.primary_region, e.secondary_region
        if primary == secondary:
            raise ConfigurationError(
                f"{_PRIMARY} and {_SECONDARY} must differ; both are {primary!r}"
            )
        policy = Policy(
            primary=primary,
            secondary=secondary,
            failover_threshold=e.failover_threshold,
            failback_threshold=e.failback_threshold,
            auto_failback=e.auto_failback,
            staleness_seconds=float(e.staleness_seconds),
        )
        method: ProbeMethod = e.test_method
        if method == "recognize_text" and not (e.sample_utterance.strip() and e.expected_response):
            raise ConfigurationError(
                f"{_UTTERANCE} and {_EXPECTED} are required for {_METHOD} recognize_text"
            )
        connect_region = e.connect_region or primary
        checker_region = e.checker_region or (
            connect_region if connect_region in policy.regions else primary
        )
        if checker_region not in policy.regions:
            raise ConfigurationError(
                f"{_CHECKER} must be {_PRIMARY} or {_SECONDARY}, got {checker_region}"
            )
        return cls(
            table_name=e.table_name,
            connect_region=connect_region,
            policy=policy,
            bots=_bots(e.bots, policy.regions),
            method=method,
            sample_utterance=e.sample_utterance,
            expected_response=e.expected_response,
            test_user=e.test_user,
            probe_attempts=e.probe_attempts,
            probe_backoff_seconds=e.probe_backoff_ms / 1000,
            checker_region=checker_region,
            probe_interval_seconds=e.probe_interval_seconds,
            liveness_method=e.liveness_method,
            deep_probe_every=e.deep_probe_every,
            deep_probe_phase=e.deep_probe_phase,
        )


@dataclass(frozen=True)
class GetRegionSettings:
    table_name: str
    primary_region: str
    bot_alias_arns: Mapping[str, str]

    @classmethod
    def primary_from_env(cls, env: Mapping[str, str] | None = None) -> str:
        """Just ``PRIMARY_REGION``: what the lookup falls back to on any error."""
        return contract.PRIMARY_REGION.read(env)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GetRegionSettings:
        e = contract.GET_REGION.parse(os.environ if env is None else env)
        return cls(
            table_name=e.table_name,
            primary_region=e.primary_region,
            bot_alias_arns=_alias_arns(e.bot_alias_arns),
        )


def _bots(raw: object, regions: tuple[str, ...]) -> dict[str, BotTarget]:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{_BOTS} must be a JSON object keyed by region")
    bots: dict[str, BotTarget] = {}
    for region in regions:
        entry = raw.get(region)
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{_BOTS} has no object for region {region}")
        fields = {}
        for key in ("botId", "botAliasId", "localeId"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{_BOTS}[{region}].{key} must be a non-empty string")
            fields[key] = value.strip()
        if fields["botAliasId"] == "TSTALIASID":
            # The draft test alias is not a deployment target.
            raise ConfigurationError(f"{_BOTS}[{region}].botAliasId must not be the test alias")
        bots[region] = BotTarget(fields["botId"], fields["botAliasId"], fields["localeId"])
    return bots


def _alias_arns(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{_ARNS} must be a JSON object keyed by region")
    arns: dict[str, str] = {}
    for region, arn in raw.items():
        if not is_region(region) or not isinstance(arn, str) or not arn.startswith("arn:"):
            raise ConfigurationError(f"{_ARNS} entry for {region!r} is not a region → ARN")
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != "lex" or parts[3] != region:
            raise ConfigurationError(f"{_ARNS}[{region}] is not a Lex ARN in {region}")
        arns[region] = arn
    return arns
