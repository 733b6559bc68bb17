"""resilient-routing: the Pulumi program.

Reads the stack configuration once, builds one ``aws`` and one ``aws-native``
provider per region, composes the components and exports their outputs.
Nothing below reads configuration except through ``settings``.
"""

from __future__ import annotations

import pulumi

from components.providers import region_providers
from config import load_settings

settings = load_settings()

tags = {"project": settings.project, "stack": settings.stack}
primary = region_providers("primary", settings.primary_region, tags)
secondary = region_providers("secondary", settings.secondary_region, tags)

pulumi.export("primaryRegion", settings.primary_region)
pulumi.export("secondaryRegion", settings.secondary_region)

# --- lex failover -----------------------------------------------------------
# (MultiRegionLexBot, HealthCheck, ConnectIntegration are composed here.)

# --- cell router --------------------------------------------------------------
# (CellRouter data layer, Orchestrator and CellRouterApi are composed here.)
