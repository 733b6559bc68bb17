"""The one observability shape (``handlers.common.observability``): service
name from the environment, metrics flushed by the one decorator, failures
reported before they propagate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from handlers.common.observability import Observability


def _documents(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]


def _metrics(document: dict[str, Any]) -> dict[str, Any]:
    # Powertools writes each metric as a list of values, one per add_metric.
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    return {
        "namespace": directive["Namespace"],
        "dimensions": sorted(d for group in directive["Dimensions"] for d in group),
        "values": {m["Name"]: document[m["Name"]] for m in directive["Metrics"]},
        "service": document.get("service"),
    }


def test_the_service_name_comes_from_the_environment(monkeypatch, capsys) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "from-environment")
    shape = Observability(default_service="fallback", namespace="Test/Shape")
    shape.emit("ProbeSucceeded", {"region": "us-east-1"}, 1, MetricUnit.Count)
    (document,) = _documents(capsys.readouterr().out)
    assert _metrics(document) == {
        "namespace": "Test/Shape",
        "dimensions": ["region", "service"],
        "values": {"ProbeSucceeded": [1.0]},
        "service": "from-environment",
    }
    assert shape.logger.service == "from-environment"


def test_without_the_variable_the_default_service_is_used(monkeypatch) -> None:
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    assert Observability(default_service="fallback", namespace=None).service == "fallback"


def test_the_decorator_flushes_metrics_and_reports_the_error(
    monkeypatch, capsys, lambda_context
) -> None:
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    shape = Observability(default_service="shape-test", namespace="Test/Shape")
    reported: list[Exception] = []

    @shape.instrument_handler
    def succeeds(event: Any, context: Any) -> dict[str, bool]:
        return {"ok": True}

    def fails(event: Any, context: Any) -> None:
        shape.count("Attempted")
        raise RuntimeError("boom")

    failing = shape.instrument_handler(fails, on_error=reported.append)

    assert succeeds({}, lambda_context) == {"ok": True}
    assert _documents(capsys.readouterr().out) == []  # nothing recorded, nothing flushed
    with pytest.raises(RuntimeError, match="boom"):
        failing({}, lambda_context)
    assert [str(e) for e in reported] == ["boom"]
    (document,) = _documents(capsys.readouterr().out)
    assert _metrics(document)["values"] == {"Attempted": [1.0]}
    assert _metrics(document)["service"] == "shape-test"
