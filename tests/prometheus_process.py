"""A real Prometheus on loopback (Debian's ``prometheus`` package), scraping the servers a test runs.

The binaries come from the system (``.ci/run`` installs the package). Where they are missing a test
skips, except in CI (``CI=true``), where a missing Prometheus is a failure, not a silent skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
import yaml

from yolo26_triton.serving.options import free_port

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "monitoring" / "rules" / "triton.yml"
SCRAPE_JOB = "triton"
"""The job name of compose's monitoring/prometheus.yml and of the ServiceMonitor's relabeling."""


def prometheus_binary(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; skips the test without it, outside CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: install Debian's prometheus package (.ci/run does, as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def rules_with_short_for(source: Path, destination: Path, for_: str = "0s") -> Path:
    """A copy of a rules file with every ``for:`` set to ``for_``; the expressions stay as written."""
    document = yaml.safe_load(source.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = for_
    destination.write_text(yaml.safe_dump(document, sort_keys=False))
    return destination


class LocalPrometheus:
    """Prometheus scraping ``targets`` (``host:port`` of metrics endpoints) every second, evaluating
    ``rule_files`` every second; a context manager, its data in ``workdir``."""

    def __init__(self, workdir: Path, targets: Sequence[str], rule_files: Sequence[Path]) -> None:
        self.workdir = workdir
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": SCRAPE_JOB, "static_configs": [{"targets": list(targets)}]}],
        }
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        log = (self.workdir / "prometheus.log").open("wb")
        self._process = subprocess.Popen(
            [
                prometheus_binary("prometheus"),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            self.wait(lambda: self._get("/-/ready") is not None, timeout_s=30, what="Prometheus ready")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                body = response.read()
        except (urllib.error.URLError, OSError):
            return None
        return json.loads(body) if body.startswith(b"{") else body

    def query(self, expression: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: ``(labels, value)`` per series of the result."""
        reply = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expression}))
        assert reply is not None and reply["status"] == "success", reply
        return [(item["metric"], float(item["value"][1])) for item in reply["data"]["result"]]

    def firing(self, alert: str) -> list[dict[str, str]]:
        """The labels of each firing instance of ``alert``."""
        reply = self._get("/api/v1/alerts")
        assert reply is not None, "no answer from /api/v1/alerts"
        return [
            entry["labels"]
            for entry in reply["data"]["alerts"]
            if entry["labels"]["alertname"] == alert and entry["state"] == "firing"
        ]

    def wait(self, condition: Callable[[], bool], *, timeout_s: float, what: str) -> float:
        """Polls ``condition`` every 0.5 s; returns the seconds it took, fails after ``timeout_s``."""
        started = time.monotonic()
        while not condition():
            if self._process is not None and self._process.poll() is not None:
                raise AssertionError(
                    f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}"
                )
            assert time.monotonic() - started < timeout_s, f"not within {timeout_s:.0f} s: {what}"
            time.sleep(0.5)
        return time.monotonic() - started
