"""Probing a Lex V2 bot alias in each region.

One probe = up to ``probe_attempts`` attempts, each a single Lex call with
short client timeouts (see ``aws_clients.LEX_CLIENT_CONFIG``) and a fresh test
session, separated by a small backoff. Both regions are probed concurrently,
so a round lasts as long as the slower region, not the sum of both.

Test sessions are deleted after the state write (:func:`delete_sessions`, all
in parallel, best effort), and only for attempts where Lex answered: an attempt
that timed out or was refused created no session worth a second slow call (Lex
expires idle sessions anyway), and deleting afterwards keeps cleanup off the
path to a failover decision. Worst case of a round: attempts x 2 s + backoff
(6.3 s with the defaults) + state I/O + one 2 s cleanup call.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from handlers.lex_dr import aws_clients
from handlers.lex_dr.settings import BotTarget, HealthCheckSettings, ProbeMethod

ClientFactory = Callable[[str], Any]

# Lex V2 sessionId: 2-100 characters of [0-9a-zA-Z._:-].
_SESSION_ID_INVALID = re.compile(r"[^0-9a-zA-Z._:-]")
_SESSION_SUFFIX_HEX = 16
_SESSION_ID_MAX = 100

PUT_SESSION_STATE = {"dialogAction": {"type": "ElicitIntent"}}
WRONG_REPLY = "WrongReply"
NO_SESSION = "NoSession"


def new_session_id(test_user: str) -> str:
    """``<TEST_USER>-<random hex>``, sanitised to Lex V2's sessionId rules."""
    prefix = _SESSION_ID_INVALID.sub("_", test_user)[: _SESSION_ID_MAX - _SESSION_SUFFIX_HEX - 1]
    return f"{prefix or 'probe'}-{secrets.token_hex(_SESSION_SUFFIX_HEX // 2)}"


@dataclass(frozen=True)
class BotProbeResult:
    region: str
    ok: bool
    attempts: int
    #: duration of the attempt that decided the result (the last one)
    latency_ms: int
    #: error code or exception name of the last failed attempt
    error: str | None = None
    #: sessions Lex answered for, to delete after the round
    sessions: tuple[str, ...] = field(default=(), repr=False)
    #: the probe method used (``recognize_text`` | ``put_session``)
    method: str = "recognize_text"


def probe_regions(
    settings: HealthCheckSettings,
    client_for: ClientFactory,
    sleep: Callable[[float], None] = time.sleep,
    methods: Mapping[str, ProbeMethod] | None = None,
) -> dict[str, BotProbeResult]:
    """Probe every region of the policy concurrently; never raises for Lex errors.
    ``methods`` picks the probe method per region (default: ``settings.method``)."""
    regions = settings.policy.regions
    chosen = methods or {}
    with ThreadPoolExecutor(max_workers=len(regions), thread_name_prefix="lex-probe") as pool:
        futures = {
            region: pool.submit(
                probe_region, region, client_for, settings, sleep, chosen.get(region)
            )
            for region in regions
        }
        return {region: future.result() for region, future in futures.items()}


def probe_region(
    region: str,
    client_for: ClientFactory,
    settings: HealthCheckSettings,
    sleep: Callable[[float], None] = time.sleep,
    method: ProbeMethod | None = None,
) -> BotProbeResult:
    target = settings.bots[region]
    method = method or settings.method
    sessions: list[str] = []
    error: str | None = None
    latency_ms = 0
    for attempt in range(1, settings.probe_attempts + 1):
        if attempt > 1 and settings.probe_backoff_seconds:
            sleep(settings.probe_backoff_seconds * (attempt - 1))
        session_id = new_session_id(settings.test_user)
        started = time.monotonic()
        try:
            client = client_for(region)
            answered, error = _attempt(client, target, session_id, settings, method)
        except (ClientError, BotoCoreError) as exc:
            answered, error = False, aws_clients.error_code(exc)
        latency_ms = round((time.monotonic() - started) * 1000)
        if answered:
            sessions.append(session_id)
        if error is None:
            return BotProbeResult(region, True, attempt, latency_ms, None, tuple(sessions), method)
    return BotProbeResult(
        region, False, settings.probe_attempts, latency_ms, error, tuple(sessions), method
    )


def _attempt(
    client: Any,
    target: BotTarget,
    session_id: str,
    settings: HealthCheckSettings,
    method: ProbeMethod,
) -> tuple[bool, str | None]:
    """One Lex call. Returns (Lex answered, error or None if the probe passed)."""
    ids = {
        "botId": target.bot_id,
        "botAliasId": target.bot_alias_id,
        "localeId": target.locale_id,
        "sessionId": session_id,
    }
    if method == "put_session":
        response = client.put_session(**ids, sessionState=PUT_SESSION_STATE)
        stream = response.get("audioStream")
        if stream is not None:
            stream.close()
        has_session = bool(response.get("sessionId") or response.get("sessionState"))
        return True, None if has_session else NO_SESSION
    response = client.recognize_text(**ids, text=settings.sample_utterance)
    messages = response.get("messages") or []
    content = messages[0].get("content") if messages else None
    return True, None if content == settings.expected_response else WRONG_REPLY


def delete_sessions(
    probes: Mapping[str, BotProbeResult],
    settings: HealthCheckSettings,
    client_for: ClientFactory,
) -> dict[str, int]:
    """Delete the round's test sessions, all concurrently, best effort.

    All at once so cleanup costs one Lex call's timeout at most, however many
    attempts answered. Returns failed deletions per region; never raises.
    """

    def delete(region: str, session_id: str) -> bool:
        target = settings.bots[region]
        try:
            client_for(region).delete_session(
                botId=target.bot_id,
                botAliasId=target.bot_alias_id,
                localeId=target.locale_id,
                sessionId=session_id,
            )
        except (ClientError, BotoCoreError):
            return False
        return True

    pending = [(p.region, s) for p in probes.values() for s in p.sessions]
    if not pending:
        return {}
    with ThreadPoolExecutor(max_workers=len(pending), thread_name_prefix="lex-cleanup") as pool:
        outcomes = list(pool.map(lambda job: delete(*job), pending))
    failed: dict[str, int] = {}
    for (region, _), deleted in zip(pending, outcomes, strict=True):
        failed[region] = failed.get(region, 0) + (not deleted)
    return failed
