"""Every error the cell router raises, in one module.

Lambda reports an unhandled exception's class name as ``errorType`` and Step
Functions surfaces it as the error name, so the state machine and the API map
these names to status codes. Renaming a class is a contract change.
"""

from __future__ import annotations


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
    """A scale-out request could not be queued; the episode was released so a
    later sign-up retries. The user's assignment is unaffected."""


class ConfigurationError(CellRouterError):
    """An environment variable holds a value the function cannot use."""


class CellLimitReached(CellRouterError):
    """The market already has ``MAX_CELLS_PER_MARKET`` cells; the registrar
    records no more (the event goes to ``CellReady-failed``; an alarm fires)."""
