"""The stack outputs the tool needs, read from ``pulumi stack output --json``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTPUTS_ENV = "RESILIENT_ROUTING_OUTPUTS"


class OpsError(Exception):
    """A command could not run or was refused; nothing was changed. The
    message says what to change."""


@dataclass(frozen=True)
class StackOutputs:
    primary_region: str
    secondary_region: str
    router_table_name: str | None
    lex_state_table_name: str | None
    #: region -> router API URL (both regions once the router runs in both)
    router_urls: dict[str, str]

    @property
    def regions(self) -> tuple[str, str]:
        return (self.primary_region, self.secondary_region)

    def other(self, region: str) -> str:
        return self.secondary_region if region == self.primary_region else self.primary_region

    def require_router(self) -> str:
        if not self.router_table_name:
            raise OpsError(
                "the stack outputs have no routerTableName: the cell router is not deployed "
                "in this stack (enableCellRouter) or the outputs file is from another stack"
            )
        return self.router_table_name

    def require_lex(self) -> str:
        if not self.lex_state_table_name:
            raise OpsError("the stack outputs have no lexStateTableName")
        return self.lex_state_table_name


def load_outputs(path: str | None, environ: dict[str, str] | None = None) -> StackOutputs:
    """Read the outputs JSON named by ``path`` or ``$RESILIENT_ROUTING_OUTPUTS``."""
    environ = dict(os.environ) if environ is None else environ
    source = path or environ.get(OUTPUTS_ENV)
    if not source:
        raise OpsError(
            "no stack outputs: run `pulumi stack output --json > outputs.json` and pass "
            f"--outputs outputs.json (or set {OUTPUTS_ENV})"
        )
    try:
        data: Any = json.loads(Path(source).read_text())
    except FileNotFoundError:
        raise OpsError(f"stack outputs file {source!r} does not exist") from None
    except json.JSONDecodeError as error:
        raise OpsError(f"stack outputs file {source!r} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise OpsError(f"stack outputs file {source!r} must hold a JSON object")
    missing = [key for key in ("primaryRegion", "secondaryRegion") if not data.get(key)]
    if missing:
        raise OpsError(f"stack outputs file {source!r} lacks {', '.join(missing)}")
    urls = data.get("routerApiUrls")
    if not isinstance(urls, dict):
        urls = {data["primaryRegion"]: data["apiUrl"]} if data.get("apiUrl") else {}
    return StackOutputs(
        primary_region=str(data["primaryRegion"]),
        secondary_region=str(data["secondaryRegion"]),
        router_table_name=data.get("routerTableName") or None,
        lex_state_table_name=data.get("lexStateTableName") or None,
        router_urls={str(k): str(v) for k, v in urls.items()},
    )
