"""A real Prometheus on loopback scrapes the real embedded server and evaluates the committed rules.

- The HPA's signal (prometheus-adapter's query over the recording rule, placeholders filled as the
  adapter fills them) rises above the HPA's target under a bounded load and falls back below after.
- Alerts fire on real faults and resolve after a restart: a Python-backend stub killed
  (TritonModelFailingEveryRequest), the server stopped (TritonNotReady). The Kubernetes readiness
  probe, run as written in the manifest, tells the dead stub; the liveness probe does not.

The rules are the committed file; only ``for:`` is shortened (0 s) so that a test takes seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from tritonclient.utils import InferenceServerException

from yolo26_triton.client import TritonClient, TritonError
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions

from ..deploy_files import container, find, hpa_expression, hpa_target, render
from ..prometheus_process import RULES, SCRAPE_JOB, LocalPrometheus, rules_with_short_for
from ..sample_images import SAMPLE_IMAGES
from .serve_process import kill_stub
from .server_calls import client_config, infer

pytestmark = pytest.mark.integration
LOAD_CLIENTS = 8
"""Concurrent requests of the load: four times the CPU profile's two detector slots."""
LOAD_LIMIT_S = 60.0
ROOT = Path(__file__).resolve().parents[2]


def metrics_target(server: EmbeddedServer) -> str:
    return f"{server.options.host}:{server.options.metrics_port}"


class BoundedLoad:
    """``LOAD_CLIENTS`` closed-loop clients on loopback, in a thread, until stopped or ``LOAD_LIMIT_S``."""

    def __init__(self, server: EmbeddedServer) -> None:
        self._config = client_config(server, max_retries=0, timeout_s=30.0)
        self._images = [path.read_bytes() for path in SAMPLE_IMAGES]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.requests = 0

    async def _run(self) -> None:
        deadline = time.monotonic() + LOAD_LIMIT_S
        async with TritonClient(self._config) as client:

            async def caller(index: int) -> None:
                while not self._stop.is_set() and time.monotonic() < deadline:
                    with contextlib.suppress(TritonError):  # refused when a queue is full: load still
                        await client.detect(self._images[index % len(self._images)])
                    self.requests += 1
                    index += 1

            await asyncio.gather(*(caller(index) for index in range(LOAD_CLIENTS)))

    def __enter__(self) -> BoundedLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=LOAD_LIMIT_S)


def test_hpa_signal_rises_above_its_target_under_load_and_falls_back(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    target = hpa_target("cpu")
    # What prometheus-adapter asks for one pod, with this scrape's labels for the pod's.
    expression = hpa_expression(label_matchers=f'job="{SCRAPE_JOB}"', group_by="instance")

    with LocalPrometheus(tmp_path, [metrics_target(server)], [RULES]) as prometheus:

        def value() -> float | None:
            result = prometheus.query(expression)
            assert len(result) <= 1, result
            return result[0][1] if result else None

        infer(server, "grpc", SAMPLE_IMAGES[0].read_bytes())  # one request: the series exists
        if shutil.which("curl"):  # the manifests' probes, as written, pass on a healthy server
            assert probe(server, "startupProbe") == probe(server, "readinessProbe") == 0
        prometheus.wait(lambda: (v := value()) is not None and v < target, timeout_s=60, what="idle signal")
        with BoundedLoad(server) as load:
            rose_s = prometheus.wait(
                lambda: (v := value()) is not None and v > target, timeout_s=LOAD_LIMIT_S - 5, what="rise"
            )
            peak = value()
        fell_s = prometheus.wait(lambda: (v := value()) is not None and v < target, timeout_s=60, what="fall")
    print(
        f"HPA signal: above {target:g} us after {rose_s:.1f} s of load ({load.requests} requests, "
        f"{peak:.0f} us), back below {fell_s:.1f} s after it stopped"
    )


def probe(server: EmbeddedServer, kind: str) -> int:
    """Runs the server container's exec probe of the base Deployment, as written, against ``server``
    (its port and request file mapped to this checkout's); returns curl's exit code."""
    triton = container(
        find(render("base"), "Deployment", "yolo26-triton")["spec"]["template"]["spec"], "triton"
    )
    command = [
        part.replace("http://localhost:8000", f"http://{server.options.http_url}").replace(
            "@/opt/yolo26-triton/", f"@{ROOT / 'container'}/"
        )
        for part in triton[kind]["exec"]["command"]
    ]
    return subprocess.run(command, capture_output=True, timeout=30).returncode


def live(server: EmbeddedServer) -> int:
    with urllib.request.urlopen(f"http://{server.options.http_url}/v2/health/live", timeout=5) as response:
        return int(response.status)


def test_alerts_fire_on_a_dead_stub_and_a_stopped_server_and_resolve_after_restart(
    repository: Path, tmp_path: Path
) -> None:
    rules = rules_with_short_for(RULES, tmp_path / "rules.yml")
    options = ServerOptions.on_free_ports(repository=repository)
    has_curl = shutil.which("curl") is not None
    with (
        (tmp_path / "server.log").open("w") as log,
        EmbeddedServer(options, log_file=log) as server,
        LocalPrometheus(tmp_path, [metrics_target(server)], [rules]) as prometheus,
    ):
        prometheus.wait(
            lambda: prometheus.query(f'up{{job="{SCRAPE_JOB}"}} == 1') != [],
            timeout_s=20,
            what="first scrape",
        )
        # No request before the fault: one success would hold the alert off for its 1-minute window.
        assert not prometheus.firing("TritonModelFailingEveryRequest")
        assert not prometheus.firing("TritonNotReady")

        kill_stub(server.pid, "postprocess")  # type: ignore[arg-type]

        def failing() -> bool:
            with pytest.raises(InferenceServerException):
                infer(server, "grpc", SAMPLE_IMAGES[0].read_bytes())
            return any(
                alert["model"] == "postprocess"
                for alert in prometheus.firing("TritonModelFailingEveryRequest")
            )

        fired_s = prometheus.wait(failing, timeout_s=30, what="TritonModelFailingEveryRequest fires")
        assert live(server) == 200  # Triton still says live, so liveness alone would not restart it
        if has_curl:
            assert probe(server, "readinessProbe") != 0  # the readiness probe takes the pod out

        server.stop()
        down_s = prometheus.wait(
            lambda: prometheus.firing("TritonNotReady") != [], timeout_s=30, what="not ready"
        )
        server.start()  # same ports: the same scrape target
        infer(server, "grpc", SAMPLE_IMAGES[0].read_bytes())  # what a probe's request does after a restart
        resolved_s = prometheus.wait(
            lambda: (
                not prometheus.firing("TritonModelFailingEveryRequest")
                and not prometheus.firing("TritonNotReady")
            ),
            timeout_s=30,
            what="both alerts resolve",
        )
    print(
        f"stub killed -> firing in {fired_s:.1f} s; stopped -> TritonNotReady in {down_s:.1f} s; "
        f"restarted -> resolved in {resolved_s:.1f} s"
    )
