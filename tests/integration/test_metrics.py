"""The Grafana dashboard, the alert and recording rules and the HPA's metric only use metrics the real
server exports."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from yolo26_triton.serving.launcher import EmbeddedServer

from ..deploy_files import adapter_rule, adapter_series, rules
from ..sample_images import SAMPLE_IMAGES
from .server_calls import infer

pytestmark = pytest.mark.integration
DASHBOARD = Path(__file__).resolve().parents[2] / "monitoring" / "grafana" / "dashboards" / "triton.json"
GPU_ONLY = frozenset({"nv_gpu_memory_used_bytes", "nv_gpu_memory_total_bytes"})
"""Exported only where Triton sees a GPU (Triton 2.51 docs/user_guide/metrics.md, "GPU Memory"), so
this CPU-only server cannot show them: they are checked on a GPU host, not here."""
PROMETHEUS_OWN = frozenset({"up"})
"""Series Prometheus itself writes for every scrape target."""


@pytest.fixture(scope="module")
def exported(server: EmbeddedServer) -> set[str]:
    infer(server, "grpc", SAMPLE_IMAGES[0].read_bytes())  # summaries appear after a first request
    with urllib.request.urlopen(server.options.metrics_url, timeout=10) as response:
        return set(re.findall(r"^(nv_\w+)", response.read().decode(), flags=re.MULTILINE))


def series_in(expression: str) -> set[str]:
    """The series names an expression reads: Triton's (``nv_*``), recording rules (``a:b:c``) and
    Prometheus' own."""
    names = set(re.findall(r"\bnv_\w+", expression))
    names |= set(re.findall(r"(?<![\w\"])[a-z_]+:[a-z0-9_:]+", expression))
    names |= {name for name in PROMETHEUS_OWN if re.search(rf"\b{name}\s*[{{\[]", expression)}
    return names


def test_dashboard_metrics_exist_on_the_server(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])  # a row panel has none
        for name in re.findall(r"\bnv_\w+", target["expr"])
    }
    assert queried, "the dashboard queries Triton metrics"
    assert queried <= exported, queried - exported


def test_rule_and_hpa_metrics_exist_on_the_server(exported: set[str]) -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    used = set().union(*(series_in(rule["expr"]) for rule in rules()))
    hpa = series_in(adapter_rule()["metricsQuery"].replace("<<.Series>>", adapter_series()))
    assert hpa == {adapter_series()} and hpa <= recorded
    triton = {name for name in used if name.startswith("nv_")}
    assert triton - GPU_ONLY, "the rules read Triton's metrics"
    assert triton - GPU_ONLY <= exported, (triton - GPU_ONLY) - exported
    assert not GPU_ONLY & exported  # a CPU-only server: if this changes, check them like the others
    assert used - triton <= recorded | PROMETHEUS_OWN, used - triton - recorded
