"""Every error the cell router raises, in one module.

Lambda reports an unhandled exception's class name as ``errorType`` and Step
Functions surfaces it as the error name, so the state machine and the API map
these names to status codes. Renaming a class is a contract change.
"""

from __future__ import annotations

from handlers.common import contract as _contract


class CellRouterError(Exception):
    """Base class, so callers can catch every routing error at once."""


class InvalidRequest(CellRouterError):
    """The event or body is malformed; nothing was written (400)."""


class NoCapacity(CellRouterError):
    """No healthy, active cell of the market is below its assignable limit (503)."""


class UserNotFound(CellRouterError):
    """The caller has no cell mapping yet (404)."""


class CellUnavailable(CellRouterError):
    """The caller is mapped to a cell whose item no longer exists (503)."""


class ProvisioningUnavailable(CellRouterError):
    """A scale-out request could not be queued; its episode stays open and
    unsent, so a later sign-up or the sweeper resends it. The user's
    assignment is unaffected."""


# The house's one ConfigurationError (every family raises it from its
# contract); re-exported here so the state machine's error names stay in one
# module. Not a CellRouterError: a misconfigured function is our fault (500).
ConfigurationError = _contract.ConfigurationError


class UnknownMarket(CellRouterError):
    """The market has no cells and is not known to the router (404): not a
    market the deployment serves, or a typo (market ids are case-sensitive)."""


class ServiceUnavailable(CellRouterError):
    """AWS throttled, conflicted or failed transiently until the request's
    deadline (503); the caller should retry after ``retry_after_seconds``."""

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class WrongRegion(CellRouterError):
    """This region is not the market's writer region (421); the message names
    the region and router URL to call instead."""

    def __init__(self, message: str, *, region: str = "", router_url: str = "") -> None:
        super().__init__(message)
        self.region = region
        self.router_url = router_url


class CellLimitReached(CellRouterError):
    """The market already has ``MAX_CELLS_PER_MARKET`` cells; the registrar
    records no more (the event goes to ``CellReady-failed``; an alarm fires)."""
