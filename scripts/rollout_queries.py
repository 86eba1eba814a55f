"""Evaluate every query of the Grafana rollout row with a real Prometheus scraping the facade's metrics.

Needs the ``prometheus`` binary (Debian: ``apt-get install prometheus``; 2.42 was used). Feeds a
:class:`~yolo26_triton.rollout.metrics.RolloutMetrics` with a seeded mix (30 % Triton, shadow traffic,
fallbacks, drops), serves it on a loopback port, lets Prometheus scrape it every second for about 15 s,
then prints each query's result; exits 1 when a query fails or returns nothing::

    .venv/bin/python scripts/rollout_queries.py
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from yolo26_triton.rollout.agreement import ImageAgreement
from yolo26_triton.rollout.metrics import PREFIX, RolloutMetrics
from yolo26_triton.server import free_port

DASHBOARD = Path(__file__).resolve().parents[1] / "monitoring" / "grafana" / "dashboards" / "triton.json"
SCRAPE_CONFIG = """global:
  scrape_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["{target}"]
"""


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def feed(metrics: RolloutMetrics, rng: random.Random) -> None:
    """One second's worth of a 30 % rollout with shadow traffic on the rest."""
    for _ in range(20):
        if rng.random() < 0.3:
            metrics.request("triton", "serve")
            metrics.answer("triton", "serve", rng.uniform(0.02, 0.05))
        else:
            metrics.request("local", "serve")
            metrics.answer("local", "serve", rng.uniform(0.08, 0.2))
            metrics.request("triton", "shadow")
            metrics.answer("triton", "shadow", rng.uniform(0.02, 0.05))
            metrics.shadow_compared(ImageAgreement(10, 10, 10 if rng.random() < 0.8 else 9, 1.0, 0.0))
    metrics.error("triton", "serve", "ServerUnavailableError")
    metrics.fallback("ServerUnavailableError")
    metrics.error("triton", "shadow", "InferenceTimeoutError")
    metrics.shadow_drop()


def main() -> int:
    """Run the check; 0 when every query returns data."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        print("error: no prometheus binary on PATH", file=sys.stderr)
        return 2
    registry = CollectorRegistry()
    metrics = RolloutMetrics(registry)
    metrics.rollout(30)
    queries = [
        (panel["title"], target["expr"])
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel.get("targets", [])
        if PREFIX in target["expr"]
    ]
    app = make_server("127.0.0.1", 0, make_wsgi_app(registry), handler_class=_Quiet)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "prometheus.yml"
        config.write_text(SCRAPE_CONFIG.format(target=f"127.0.0.1:{app.server_port}"))
        server = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder}/data",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            rng = random.Random(0)
            for _ in range(15):
                feed(metrics, rng)
                time.sleep(1)
            metrics.circuit(True)
            time.sleep(2)
            failed = 0
            for title, query in queries:
                url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
                with urllib.request.urlopen(url, timeout=10) as response:
                    reply = json.load(response)
                series = reply["data"]["result"] if reply["status"] == "success" else []
                failed += not series
                values = ", ".join(
                    f"{dict(sample['metric']) or ''} {float(sample['value'][1]):.3f}" for sample in series
                )
                print(f"{'ok' if series else 'EMPTY'}  {title}: {query}\n     {values}")
        finally:
            server.terminate()
            server.wait(timeout=30)
            app.shutdown()
    print(f"{len(queries)} queries, {failed} empty or failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
