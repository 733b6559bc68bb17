"""Process environment for the drill: no AWS account, no network, quiet handlers.

The handlers read their settings from ``os.environ`` (as in Lambda) and build
boto3 clients from the standard environment, so the drill points them at the
embedded emulator by environment alone. Everything set here is restored on
exit, so the drill can run inside a test process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from handlers.cell_router import contract as router_contract
from support.emulator import FAKE_CREDENTIALS, scoped_environ  # noqa: F401 (re-exported)

#: The emulator and the local cell endpoints listen here; never via a proxy.
LOCAL_HOSTS = "127.0.0.1,localhost"

#: Handler loggers (Powertools ``service`` names) and library loggers that
#: would otherwise print a JSON line or an access-log line per request.
_NOISY_LOGGERS = (
    "werkzeug",
    "moto",
    "botocore",
    "urllib3",
    "cell-router",
    "lex-dr-health-check",
    "lex-dr-get-region",
)


def offline_environment(region: str) -> dict[str, str | None]:
    """What the drill sets: fake credentials, no shared config or profile, no
    instance metadata, no proxy for local addresses, Powertools quiet. A value
    of ``None`` removes the variable."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        # Never read ~/.aws: a developer's profile must not leak into the drill.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": None,
        "NO_PROXY": LOCAL_HOSTS,
        "no_proxy": LOCAL_HOSTS,
        # The handlers' Powertools utilities: quiet logs (EMF metrics go to the
        # sink of ``handler_stdout``), no X-Ray daemon to talk to. Metrics stay
        # enabled: disabled, Powertools never clears them and prints them
        # anyway every 100 values.
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        "POWERTOOLS_METRICS_DISABLED": None,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }


def handler_environment(*environments: Mapping[str, str]) -> dict[str, str]:
    """The stack's function environments (merged, later ones win) as the drill
    runs the handlers with them: without ``POWERTOOLS_LOG_LEVEL``, so the
    stack's INFO does not override the quiet level of ``offline_environment``."""
    merged: dict[str, str] = {}
    for environment in environments:
        merged.update(environment)
    merged.pop("POWERTOOLS_LOG_LEVEL", None)
    return merged


#: The setting that makes a router two-region (``writer_gate``): without it
#: the gate places with no read and adds no writer condition.
PEER_REGION_SETTING = router_contract.ROUTER_PEER_REGION.name


def one_region(environment: Mapping[str, str]) -> dict[str, str]:
    """``environment`` as one region's router runs it alone: the stack's
    routers run in both regions (issue #13), but a story on one emulated
    table has no peer whose heartbeat the writer gate could read (it would
    refuse every sign-up as partitioned). The two-region writer rules are
    exercised by the two-region scenario, on both regional tables."""
    return {k: v for k, v in environment.items() if k != PEER_REGION_SETTING}


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence per-request log lines and Powertools' "no metrics" warnings."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


class _Discard:
    """A write-only text stream that keeps nothing."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@contextmanager
def handler_stdout() -> Iterator[None]:
    """Discard what handlers print (Powertools' EMF metric lines, one per
    invocation). The drill's own ``Report`` keeps the stream it was given."""
    with contextlib.redirect_stdout(_Discard()):  # type: ignore[type-var]
        yield
