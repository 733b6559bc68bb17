"""Names shared by the Lex failover handlers and the alarms built on them.

Plain constants only: the Pulumi components import this module to build
CloudWatch alarms, so it must not import boto3 or Powertools.

Every metric lives in :data:`METRIC_NAMESPACE` and is emitted as CloudWatch
embedded metric format by Powertools. The dimension sets below are exact: a
CloudWatch alarm only matches a metric whose dimensions are *all* given, so
the alarm builder must use precisely these.

Health check (``service`` = :data:`HEALTH_CHECK_SERVICE`), once per probe round:

=====================  ============  ====================  ==============================
metric                 unit          dimensions            value
=====================  ============  ====================  ==============================
``ProbeSucceeded``     Count         ``service, region``   1 if the region passed, else 0
``ProbeFailed``        Count         ``service, region``   1 if the region failed, else 0
``ProbeLatency``       Milliseconds  ``service, region``   duration of the attempt that
                                                           decided the result
``RegionSwitched``     Count         ``service``           1 if ``lexRegion`` changed
                                                           this round, else 0
``AllRegionsFailing``  Count         ``service``           1 if every region failed this
                                                           round (fail open), else 0
``RegionActive``       Count         ``service, region``   1 for the region callers are
                                                           sent to after this round, else 0
``OverrideActive``     Count         ``service``           1 if an operator's
                                                           ``overrideRegion`` decided this
                                                           round, else 0
=====================  ============  ====================  ==============================

Zeros are emitted on purpose so the series are continuous: an alarm on
``RegionSwitched``/``AllRegionsFailing`` can use ``Sum >= 1`` and treat missing
data as breaching (the health check itself stopped running).

Region lookup (``service`` = :data:`GET_REGION_SERVICE`), once per invocation:

=====================  ============  ====================  ==============================
``LookupFailedOpen``   Count         ``service``           1 if the lookup fell back to the
                                                           primary because of an error
                                                           (bad input, unreadable table,
                                                           bad configuration), else 0
=====================  ============  ====================  ==============================
"""

from __future__ import annotations

METRIC_NAMESPACE = "ResilientRouting/LexFailover"

HEALTH_CHECK_SERVICE = "lex-dr-health-check"
GET_REGION_SERVICE = "lex-dr-get-region"

#: Dimension names (Powertools adds ``service`` from the service name).
SERVICE_DIMENSION = "service"
REGION_DIMENSION = "region"

# Health check, dimensions service + region.
METRIC_PROBE_SUCCEEDED = "ProbeSucceeded"
METRIC_PROBE_FAILED = "ProbeFailed"
METRIC_PROBE_LATENCY = "ProbeLatency"

# Health check, dimensions service + region, after the decision.
METRIC_REGION_ACTIVE = "RegionActive"

# Health check, dimension service only.
METRIC_REGION_SWITCHED = "RegionSwitched"
METRIC_ALL_REGIONS_FAILING = "AllRegionsFailing"
METRIC_OVERRIDE_ACTIVE = "OverrideActive"

# Region lookup, dimension service only.
METRIC_LOOKUP_FAILED_OPEN = "LookupFailedOpen"

#: metric name -> exact dimension names, for the alarm builder.
METRIC_DIMENSIONS: dict[str, tuple[str, ...]] = {
    METRIC_PROBE_SUCCEEDED: (SERVICE_DIMENSION, REGION_DIMENSION),
    METRIC_PROBE_FAILED: (SERVICE_DIMENSION, REGION_DIMENSION),
    METRIC_PROBE_LATENCY: (SERVICE_DIMENSION, REGION_DIMENSION),
    METRIC_REGION_SWITCHED: (SERVICE_DIMENSION,),
    METRIC_ALL_REGIONS_FAILING: (SERVICE_DIMENSION,),
    METRIC_REGION_ACTIVE: (SERVICE_DIMENSION, REGION_DIMENSION),
    METRIC_OVERRIDE_ACTIVE: (SERVICE_DIMENSION,),
    METRIC_LOOKUP_FAILED_OPEN: (SERVICE_DIMENSION,),
}

#: metric name -> the service whose ``service`` dimension value it carries.
METRIC_SERVICE: dict[str, str] = {
    METRIC_PROBE_SUCCEEDED: HEALTH_CHECK_SERVICE,
    METRIC_PROBE_FAILED: HEALTH_CHECK_SERVICE,
    METRIC_PROBE_LATENCY: HEALTH_CHECK_SERVICE,
    METRIC_REGION_SWITCHED: HEALTH_CHECK_SERVICE,
    METRIC_ALL_REGIONS_FAILING: HEALTH_CHECK_SERVICE,
    METRIC_REGION_ACTIVE: HEALTH_CHECK_SERVICE,
    METRIC_OVERRIDE_ACTIVE: HEALTH_CHECK_SERVICE,
    METRIC_LOOKUP_FAILED_OPEN: GET_REGION_SERVICE,
}
