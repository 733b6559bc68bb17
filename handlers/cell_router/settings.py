"""Environment settings, read per invocation (cheap, and tests can vary them).

A value the function cannot use raises ``ConfigurationError`` instead of
silently falling back: a typo in a stack setting should be loud.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from handlers.cell_router import endpoint_policy
from handlers.cell_router.errors import ConfigurationError
from handlers.cell_router.input_parsing import MARKET_ID_PATTERN

DEFAULT_MARKET = "europe"
DEFAULT_CAPACITY_BUFFER = "0.2"
DEFAULT_SCALE_OUT_THRESHOLD = "0.7"
DEFAULT_ENDPOINT_TTL_SECONDS = 300
DEFAULT_VALIDATOR_TIMEOUT_SECONDS = "2"
DEFAULT_SCALE_OUT_EPISODE_TIMEOUT_SECONDS = 7200
#: An episode still unsent after this long lost its sender (every function's
#: timeout is far shorter): the next caller or the sweeper resends it.
DEFAULT_SCALE_OUT_RESEND_SECONDS = 60
DEFAULT_SUPPORT_CONTACT = "your platform support team"
DEFAULT_INCIDENT_NOTICE = (
    "Your cell is currently impaired. Our engineers are aware and working on it."
)
DEFAULT_EXPECTED_WAIT_MINUTES = 15


def table_name() -> str:
    return _required("TABLE_NAME")


def provisioning_queue_url() -> str:
    return _required("PROVISIONING_QUEUE_URL")


def default_market() -> str:
    value = os.environ.get("DEFAULT_MARKET", "").strip() or DEFAULT_MARKET
    if not MARKET_ID_PATTERN.fullmatch(value):
        raise ConfigurationError(f"DEFAULT_MARKET={value!r} is not a valid market id")
    return value


def capacity_buffer() -> Decimal:
    return _decimal("CAPACITY_BUFFER", DEFAULT_CAPACITY_BUFFER, low=0, high=1, high_open=True)


def scale_out_threshold() -> Decimal:
    return _decimal(
        "SCALE_OUT_THRESHOLD", DEFAULT_SCALE_OUT_THRESHOLD, low=0, high=1, low_open=True
    )


def endpoint_ttl_seconds() -> int:
    return int_setting("ENDPOINT_TTL_SECONDS", DEFAULT_ENDPOINT_TTL_SECONDS, low=0)


def scale_out_episode_timeout_seconds() -> int:
    return int_setting(
        "SCALE_OUT_EPISODE_TIMEOUT_SECONDS", DEFAULT_SCALE_OUT_EPISODE_TIMEOUT_SECONDS, low=60
    )


def scale_out_resend_seconds() -> int:
    return int_setting("SCALE_OUT_RESEND_SECONDS", DEFAULT_SCALE_OUT_RESEND_SECONDS, low=10)


def validator_deep_check() -> bool:
    return bool_setting("VALIDATOR_DEEP_CHECK", True)


def validator_timeout_seconds() -> float:
    return float(
        _decimal(
            "VALIDATOR_TIMEOUT_SECONDS",
            DEFAULT_VALIDATOR_TIMEOUT_SECONDS,
            low=0,
            high=30,
            low_open=True,
        )
    )


def support_contact() -> str:
    return os.environ.get("REMEDIATION_SUPPORT_CONTACT", "").strip() or DEFAULT_SUPPORT_CONTACT


def incident_notice() -> str:
    return os.environ.get("REMEDIATION_INCIDENT_NOTICE", "").strip() or DEFAULT_INCIDENT_NOTICE


def expected_wait_minutes() -> int:
    return int_setting("REMEDIATION_EXPECTED_WAIT_MINUTES", DEFAULT_EXPECTED_WAIT_MINUTES, low=0)


def cell_endpoint_domains() -> tuple[str, ...]:
    """``CELL_ENDPOINT_DOMAINS``: JSON list of allowed endpoint host suffixes
    (absent or ``[]``: any public DNS name; see ``endpoint_policy``)."""
    text = _raw("CELL_ENDPOINT_DOMAINS")
    if text is None:
        return ()
    try:
        values = json.loads(text)
    except ValueError:
        raise ConfigurationError(f"CELL_ENDPOINT_DOMAINS={text!r} is not a JSON list") from None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigurationError(f"CELL_ENDPOINT_DOMAINS={text!r} is not a JSON list of strings")
    try:
        return tuple(endpoint_policy.normalise_domain(v) for v in values)
    except ValueError as error:
        raise ConfigurationError(f"CELL_ENDPOINT_DOMAINS: {error}") from None


def max_cells_per_market() -> int | None:
    """``MAX_CELLS_PER_MARKET``: most cells the registrar records per market
    (absent: no cap)."""
    text = _raw("MAX_CELLS_PER_MARKET")
    return None if text is None else int_setting("MAX_CELLS_PER_MARKET", 0, low=1)


def cell_ready_router_id() -> str | None:
    """``CELL_READY_ROUTER_ID``: when set, a CellReady must name this router
    (``detail.routerId``); the stack's rule already matches on it."""
    return _raw("CELL_READY_ROUTER_ID")


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _raw(name: str, env: Mapping[str, str] | None = None) -> str | None:
    value = (os.environ if env is None else env).get(name)
    return value.strip() if value is not None and value.strip() else None


def _decimal(
    name: str,
    default: str,
    *,
    low: int,
    high: int,
    low_open: bool = False,
    high_open: bool = False,
) -> Decimal:
    text = _raw(name) or default
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigurationError(f"{name}={text!r} is not a number") from None
    if not value.is_finite():
        raise ConfigurationError(f"{name}={text!r} is not a finite number")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise ConfigurationError(f"{name}={text!r} is out of range")
    return value


def int_setting(name: str, default: int, *, low: int, env: Mapping[str, str] | None = None) -> int:
    """An integer setting of at least ``low`` (``default`` when unset), read
    from ``env`` (default: the process environment)."""
    text = _raw(name, env)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text!r} is not an integer") from None
    if value < low:
        raise ConfigurationError(f"{name}={text!r} must be at least {low}")
    return value


def bool_setting(name: str, default: bool, env: Mapping[str, str] | None = None) -> bool:
    """A true/false setting (``default`` when unset), read from ``env``
    (default: the process environment)."""
    text = _raw(name, env)
    if text is None:
        return default
    lowered = text.lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}={text!r} is not true/false")
