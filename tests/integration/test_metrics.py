"""The Grafana dashboard only queries metrics the real server exports."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from yolo26_triton.server import EmbeddedServer

from ..sample_images import SAMPLE_IMAGES
from .test_ensemble import infer

pytestmark = pytest.mark.integration
DASHBOARD = Path(__file__).resolve().parents[2] / "monitoring" / "grafana" / "dashboards" / "triton.json"


def test_dashboard_metrics_exist_on_the_server(server: EmbeddedServer) -> None:
    infer(server, "grpc", SAMPLE_IMAGES[0].read_bytes())  # summaries appear after a first request
    with urllib.request.urlopen(server.options.metrics_url, timeout=10) as response:
        exported = set(re.findall(r"^(nv_\w+)", response.read().decode(), flags=re.MULTILINE))
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])  # a row panel has none
        for name in re.findall(r"\bnv_\w+", target["expr"])
    }
    assert queried, "the dashboard queries Triton metrics"
    assert queried <= exported, queried - exported
