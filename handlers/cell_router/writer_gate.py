"""The sign-up gate: may this region place a new user of this market now?

One BatchGetItem (writer record + the peer's heartbeat) per market, cached
per container for ``WRITER_CHECK_CACHE_SECONDS`` (the "cached writer check"
of the round-trip budget). The cache is safe because the placement
transaction carries ``writer_store.condition_check`` for the epoch decided
here: a stale answer fails the transaction instead of placing.

Settings (every one has a default that keeps a one-region setup placing):

* ``ROUTER_REGION`` — this region (default ``AWS_REGION``, which Lambda sets).
* ``ROUTER_PEER_REGION`` — the other region; unset = one region, no writer
  rules beyond the record (and with no record, this region writes).
* ``ROUTER_PRIMARY_REGION`` — writer of a market without a record (default:
  this region when no peer is set; required when a peer is set).
* ``ROUTER_URLS`` — JSON object region -> router API URL, named by ``WrongRegion``.
* ``WRITER_FENCE_SECONDS`` (60), ``WRITER_LEASE_SECONDS`` (150),
  ``WRITER_AUTO_PROMOTION`` (false), ``WRITER_AUTO_PROMOTE_AFTER_SECONDS``
  (600), ``WRITER_CHECK_CACHE_SECONDS`` (5): see ``writer.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from handlers.cell_router import contract, errors, writer, writer_store
from handlers.cell_router.errors import ConfigurationError
from handlers.cell_router.settings import writer_gate_settings
from handlers.cell_router.writer import WriterConfigError, WriterDecision, WriterPolicy

DEFAULT_CHECK_CACHE_SECONDS: int = contract.WRITER_CHECK_CACHE_SECONDS.default

_cache: dict[str, tuple[float, WriterDecision]] = {}


def policy_from_env(environ: Mapping[str, str] | None = None) -> WriterPolicy:
    env = os.environ if environ is None else environ
    gate = writer_gate_settings(env)
    local = gate["router_region"] or (env.get("AWS_REGION") or "").strip()
    local = local or (env.get("AWS_DEFAULT_REGION") or "local").strip()
    peer = gate["router_peer_region"]
    primary = gate["router_primary_region"]
    if not primary:
        if peer is not None:
            raise ConfigurationError(
                f"{contract.ROUTER_PRIMARY_REGION.name} must be set when "
                f"{contract.ROUTER_PEER_REGION.name} is set "
                "(it writes markets that have no writer record)"
            )
        primary = local
    try:
        return WriterPolicy(
            local_region=local,
            default_writer=primary,
            peer_region=peer,
            fence_seconds=gate["writer_fence_seconds"],
            lease_seconds=gate["writer_lease_seconds"],
            auto_promotion=gate["writer_auto_promotion"],
            auto_promote_after_seconds=gate["writer_auto_promote_after_seconds"],
        )
    except WriterConfigError as error:
        raise ConfigurationError(f"writer settings: {error}") from None


def router_urls(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    return contract.ROUTER_URLS.read(environ) or {}


#: (market, peer region) -> (writer record, peer heartbeat), from this region
Reader = Callable[[str, "str | None"], "tuple[writer.WriterRecord | None, writer.Heartbeat | None]"]


def check(
    client: Any,
    table: str,
    market_id: str,
    policy: WriterPolicy,
    now: float | None = None,
    cache_seconds: int | None = None,
) -> WriterDecision:
    """The gate's decision for ``market_id`` (cached briefly per container).

    One region (no ``ROUTER_PEER_REGION``): PLACE at epoch 0 with no read at
    all, so a one-region router keeps its round trips and behaviour."""

    def read(market: str, peer: str | None) -> Any:
        return writer_store.read_gate(client, table, market, peer)

    return decide_cached(read, market_id, policy, now, cache_seconds)


def decide_cached(
    read: Reader,
    market_id: str,
    policy: WriterPolicy,
    now: float | None = None,
    cache_seconds: int | None = None,
) -> WriterDecision:
    now = time.time() if now is None else now
    if policy.peer_region is None:
        return WriterDecision(writer.Verdict.PLACE, policy.local_region, 0)
    ttl = _cache_seconds() if cache_seconds is None else cache_seconds
    cached = _cache.get(market_id)
    if cached is not None and now - cached[0] < ttl:
        return cached[1]
    record, peer = read(market_id, policy.peer_region)
    decision = writer.decide(market_id, record, peer, now, policy)
    _cache[market_id] = (now, decision)
    return decision


def enforce(read: Reader, market_id: str, now: float | None = None) -> WriterDecision:
    """The gate for a sign-up: returns the PLACE decision (its epoch goes into
    the placement's condition check) or raises ``WrongRegion`` (421, naming
    the writer region and its router URL) or ``ServiceUnavailable`` (503 with
    a retry hint: fencing, demoted, or partitioned)."""
    policy = policy_from_env()
    decision = decide_cached(read, market_id, policy, now)
    if decision.may_place:
        return decision
    if decision.verdict is writer.Verdict.NOT_WRITER:
        url = router_urls().get(decision.writer_region, "")
        raise errors.WrongRegion(
            f"sign-ups for market {market_id!r} are served by {decision.writer_region}"
            + (f" at {url}" if url else "")
            + "; call that region's router",
            region=decision.writer_region,
            router_url=url,
        )
    raise errors.ServiceUnavailable(
        f"sign-ups for market {market_id!r} are paused: {decision.reason}",
        retry_after_seconds=decision.retry_after_seconds or 1,
    )


def forget(market_id: str | None = None) -> None:
    """Drop cached decisions (after a failed writer condition, and in tests)."""
    if market_id is None:
        _cache.clear()
    else:
        _cache.pop(market_id, None)


def wrong_region_body(decision: WriterDecision, urls: dict[str, str]) -> dict[str, Any]:
    """What a ``WrongRegion`` answer tells the client: where to sign up."""
    return {
        "writerRegion": decision.writer_region,
        "routerUrl": urls.get(decision.writer_region),
        "epoch": decision.epoch,
    }


def _cache_seconds() -> int:
    return contract.WRITER_CHECK_CACHE_SECONDS.read()


def condition_for(table: str, market_id: str, decision: WriterDecision) -> dict[str, Any] | None:
    """The placement's writer condition check, or None for a one-region router
    (no peer: nothing can move the writer)."""
    if contract.ROUTER_PEER_REGION.read() is None:
        return None
    return writer_store.condition_check(table, market_id, decision.writer_region, decision.epoch)
