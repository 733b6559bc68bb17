"""The cell router's environment, read per invocation through its contract.

Every variable, default and bound is declared once, in
:mod:`handlers.cell_router.contract`; these getters are the handlers' names
for them. Read per invocation (cheap, and tests can vary them). A value the
function cannot use raises ``ConfigurationError`` naming the variable
instead of silently falling back: a typo in a stack setting should be loud.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from handlers.cell_router import contract, endpoint_policy
from handlers.common.contract import ConfigurationError

__all__ = ["ConfigurationError"]

DEFAULT_MARKET: str = contract.DEFAULT_MARKET.default
DEFAULT_ENDPOINT_TTL_SECONDS: int = contract.ENDPOINT_TTL_SECONDS.default
DEFAULT_SCALE_OUT_EPISODE_TIMEOUT_SECONDS: int = contract.SCALE_OUT_EPISODE_TIMEOUT_SECONDS.default
DEFAULT_SCALE_OUT_RESEND_SECONDS: int = contract.SCALE_OUT_RESEND_SECONDS.default
DEFAULT_SUPPORT_CONTACT: str = contract.REMEDIATION_SUPPORT_CONTACT.default
DEFAULT_INCIDENT_NOTICE: str = contract.REMEDIATION_INCIDENT_NOTICE.default
DEFAULT_EXPECTED_WAIT_MINUTES: int = contract.REMEDIATION_EXPECTED_WAIT_MINUTES.default


def table_name() -> str:
    return contract.TABLE_NAME.read()


def provisioning_queue_url() -> str:
    return contract.PROVISIONING_QUEUE_URL.read()


def default_market() -> str:
    return contract.DEFAULT_MARKET.read()


def capacity_buffer() -> Decimal:
    return contract.CAPACITY_BUFFER.read()


def scale_out_threshold() -> Decimal:
    return contract.SCALE_OUT_THRESHOLD.read()


def endpoint_ttl_seconds() -> int:
    return contract.ENDPOINT_TTL_SECONDS.read()


def scale_out_episode_timeout_seconds() -> int:
    return contract.SCALE_OUT_EPISODE_TIMEOUT_SECONDS.read()


def scale_out_resend_seconds() -> int:
    return contract.SCALE_OUT_RESEND_SECONDS.read()


def validator_deep_check() -> bool:
    return contract.VALIDATOR_DEEP_CHECK.read()


def validator_timeout_seconds() -> float:
    return float(contract.VALIDATOR_TIMEOUT_SECONDS.read())


def support_contact() -> str:
    return contract.REMEDIATION_SUPPORT_CONTACT.read()


def incident_notice() -> str:
    return contract.REMEDIATION_INCIDENT_NOTICE.read()


def expected_wait_minutes() -> int:
    return contract.REMEDIATION_EXPECTED_WAIT_MINUTES.read()


def cell_endpoint_domains() -> tuple[str, ...]:
    """``CELL_ENDPOINT_DOMAINS``: allowed endpoint host suffixes (absent or
    ``[]``: any public DNS name; see ``endpoint_policy``)."""
    return tuple(endpoint_policy.normalise_domain(v) for v in contract.CELL_ENDPOINT_DOMAINS.read())


def max_cells_per_market() -> int | None:
    """``MAX_CELLS_PER_MARKET``: most cells the registrar records per market
    (absent: no cap)."""
    return contract.MAX_CELLS_PER_MARKET.read()


def slots_per_cell() -> int:
    """``SLOTS_PER_CELL``: counter items ("slots") per cell (default 1: the
    cell item is its own and only slot, exactly the SPEC's layout). Above 1,
    the registrar writes each new cell with that many slots, sign-ups take a
    slot instead of the cell item, and the cell's ``currentCapacity`` is a
    roll-up of its slots (``slots``, ``rollup``)."""
    return contract.SLOTS_PER_CELL.read()


def cell_ready_router_id() -> str | None:
    """``CELL_READY_ROUTER_ID``: when set, a CellReady must name this router
    (``detail.routerId``); the stack's rule already matches on it."""
    return contract.CELL_READY_ROUTER_ID.read()


def writer_gate_settings(env: Mapping[str, str] | None = None) -> Mapping[str, object]:
    """The writer gate's variables, parsed (``contract.WRITER_GATE_FIELDS``)."""
    return {f.attr: f.read(env) for f in contract.WRITER_GATE_FIELDS}
