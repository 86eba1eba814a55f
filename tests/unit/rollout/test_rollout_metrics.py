"""The facade's Prometheus metrics and the helpers that serve them on the application's ``/metrics``."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from yolo26_triton.rollout.agreement import ImageAgreement
from yolo26_triton.rollout.metrics import (
    PREFIX,
    RolloutMetrics,
    mount_metrics,
    with_metrics_asgi,
)

from ...prometheus_text import metrics_server, parse_samples, scrape, value


def test_every_series_exists_before_the_first_request() -> None:
    registry = CollectorRegistry()
    RolloutMetrics(registry)
    with metrics_server(registry) as url:
        samples = scrape(f"{url}/metrics")
    for backend, role in (("triton", "serve"), ("triton", "shadow"), ("local", "serve")):
        labels = frozenset({"backend": backend, "role": role}.items())
        assert ("yolo26_detector_requests_total", labels) in samples
        assert ("yolo26_detector_latency_seconds_count", labels) in samples
    assert value(samples, "yolo26_detector_circuit_open") == 0
    assert value(samples, "yolo26_detector_shadow_dropped_total") == 0


def test_what_the_detector_reports_is_counted() -> None:
    registry = CollectorRegistry()
    metrics = RolloutMetrics(registry)
    metrics.rollout(25)
    metrics.request("triton", "serve")
    metrics.error("triton", "serve", "ServerUnavailableError")
    metrics.fallback("ServerUnavailableError")
    metrics.request("local", "serve")
    metrics.answer("local", "serve", 0.2)
    metrics.circuit(True)
    metrics.shadow_compared(
        ImageAgreement(reference_count=4, candidate_count=6, matched=4, mean_iou=0.9, max_score_diff=0)
    )
    metrics.shadow_drop()
    with metrics_server(registry) as url:
        samples = scrape(f"{url}/metrics")
    assert value(samples, "yolo26_detector_rollout_percent") == 25
    assert value(samples, "yolo26_detector_requests_total", backend="triton", role="serve") == 1
    assert (
        value(
            samples,
            "yolo26_detector_errors_total",
            backend="triton",
            role="serve",
            error="ServerUnavailableError",
        )
        == 1
    )
    assert value(samples, "yolo26_detector_fallbacks_total", reason="ServerUnavailableError") == 1
    assert value(samples, "yolo26_detector_latency_seconds_count", backend="local", role="serve") == 1
    assert (
        value(samples, "yolo26_detector_latency_seconds_bucket", backend="local", role="serve", le="0.25")
        == 1
    )
    assert (
        value(samples, "yolo26_detector_latency_seconds_bucket", backend="local", role="serve", le="0.1") == 0
    )
    assert value(samples, "yolo26_detector_circuit_open") == 1
    assert value(samples, "yolo26_detector_shadow_agreement_sum") == pytest.approx(0.8)
    assert value(samples, "yolo26_detector_shadow_agreement_bucket", le="0.8") == 1
    assert value(samples, "yolo26_detector_shadow_boxes_total", backend="local") == 4
    assert value(samples, "yolo26_detector_shadow_boxes_total", backend="triton") == 6
    assert value(samples, "yolo26_detector_shadow_matched_boxes_total") == 4
    assert value(samples, "yolo26_detector_shadow_dropped_total") == 1


def test_a_second_set_in_one_registry_is_refused() -> None:
    registry = CollectorRegistry()
    RolloutMetrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        RolloutMetrics(registry)


def test_wsgi_helper_serves_metrics_and_passes_the_rest_on() -> None:
    registry = CollectorRegistry()
    RolloutMetrics(registry).request("local", "serve")
    with metrics_server(registry) as url:
        samples = scrape(f"{url}/metrics")
        with pytest.raises(urllib.error.HTTPError) as other:
            urllib.request.urlopen(f"{url}/detect", timeout=10)
    assert value(samples, "yolo26_detector_requests_total", backend="local", role="serve") == 1
    assert other.value.code == 404 and other.value.read() == b"the application"


async def _get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.get(path)


def test_asgi_helper_serves_metrics_and_passes_the_rest_on() -> None:
    registry = CollectorRegistry()
    RolloutMetrics(registry).request("triton", "shadow")

    async def application(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"the application"})

    app = with_metrics_asgi(application, registry=registry)
    metrics, other = asyncio.run(_get(app, "/metrics")), asyncio.run(_get(app, "/detect"))
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    samples = parse_samples(metrics.text)
    assert value(samples, "yolo26_detector_requests_total", backend="triton", role="shadow") == 1
    assert other.text == "the application"


def test_starlette_app_gets_metrics_at_exactly_the_path() -> None:
    registry = CollectorRegistry()
    RolloutMetrics(registry).fallback("circuit_open")

    async def detect(request: Request) -> PlainTextResponse:
        return PlainTextResponse("boxes")

    app = Starlette(routes=[Route("/detect", detect)])
    mount_metrics(app, registry=registry)
    metrics = asyncio.run(_get(app, "/metrics"))
    assert metrics.status_code == 200  # not a redirect to /metrics/ as app.mount() would answer
    assert value(parse_samples(metrics.text), "yolo26_detector_fallbacks_total", reason="circuit_open") == 1
    assert asyncio.run(_get(app, "/detect")).text == "boxes"


DASHBOARD = Path(__file__).resolve().parents[3] / "monitoring" / "grafana" / "dashboards" / "triton.json"
_SAMPLE_SUFFIXES = re.compile(r"_(total|bucket|sum|count)$")


def test_dashboard_rollout_row_queries_only_metrics_the_facade_exports() -> None:
    registry = CollectorRegistry()
    RolloutMetrics(registry)
    with metrics_server(registry) as url, urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        exported = {family.name for family in text_string_to_metric_families(response.read().decode())}
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        _SAMPLE_SUFFIXES.sub("", name)
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(rf"\b{PREFIX}_\w+", target["expr"])
    }
    assert len(queried) >= 8, queried  # requests, errors, latency, fallbacks, circuit, shadow...
    assert queried <= exported, queried - exported
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert any("rollout" in title.lower() for title in rows)
