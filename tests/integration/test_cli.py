"""``triton-detect serve`` and ``detect`` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from yolo26_triton.contract import ENTRY_POINT
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import free_port

from ..conftest import ADMIN_KEY
from ..sample_images import SAMPLE_IMAGES
from .serve_process import TRITON_DETECT, start_serve

pytestmark = pytest.mark.integration


def test_serve_prints_ready_and_stops_cleanly_on_sigterm(repository: Path, tmp_path: Path) -> None:
    """Even with an idle keep-alive HTTP client connected, which holds Triton 2.51 until its exit
    timeout and makes it exit with code 1 (hardening issue, finding 5)."""
    serve = start_serve(repository, tmp_path / "serve.log")
    try:
        ready_line = serve.ready_line()
        assert f"127.0.0.1:{serve.grpc_port}" in ready_line and "trained" in ready_line
        with socket.create_connection(("127.0.0.1", serve.http_port), timeout=10) as idle:
            idle.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: t\r\n\r\n")
            assert idle.recv(4096).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            serve.process.send_signal(signal.SIGTERM)
            assert serve.process.wait(timeout=60) == 0
            assert time.monotonic() - started < 10
    finally:
        serve.kill()


def test_serve_refuses_a_public_address_without_the_opt_in(repository: Path) -> None:
    refused = subprocess.run(
        [*TRITON_DETECT, "serve", "--repository", str(repository), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2  # a refused setting (ExitCode.USAGE), as `serve --help` says
    assert "refusing to listen on 0.0.0.0" in refused.stderr
    assert "CVE-2025-23310" in refused.stderr and "--expose-unpatched-server" in refused.stderr
    help_text = subprocess.run(
        [*TRITON_DETECT, "serve", "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "--expose-unpatched-server" in help_text
    for bug in ("2**62", "CVE-2025-23310/23311", "CVE-2025-23319/23320/23334", "gzip"):
        assert bug in " ".join(help_text.split()), bug


def test_detect_command_prints_json_lines_and_annotates(server: EmbeddedServer, tmp_path: Path) -> None:
    command = [
        *TRITON_DETECT,
        "detect",
        *map(str, SAMPLE_IMAGES[:2]),
        "--json",
        "--url",
        server.options.grpc_url,
        "--annotate",
        str(tmp_path),
        "--conf",
        "0.5",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    records = [json.loads(line) for line in finished.stdout.splitlines()]
    assert [Path(record["file"]).name for record in records] == ["bus.jpg", "zidane.jpg"]
    assert [record["backend"] for record in records] == ["triton", "triton"]  # TRITON_ENABLED unset: Triton
    assert all(detection["confidence"] >= 0.5 for detection in records[0]["detections"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bus.jpg", "zidane.jpg"]


def run_cli(*arguments: str, admin_key: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "TRITON_ADMIN_KEY": admin_key} if admin_key else None
    return subprocess.run(
        [*TRITON_DETECT, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )


def test_health_models_and_stats_commands(server: EmbeddedServer) -> None:
    url = ["--url", server.options.grpc_url]
    assert run_cli("health", *url).returncode == 0
    assert run_cli("health", "--url", f"127.0.0.1:{free_port()}").returncode == 1
    locked = run_cli("models", *url)
    assert locked.returncode == 1 and "AccessDeniedError" in locked.stderr
    models = run_cli("models", *url, admin_key=ADMIN_KEY)
    assert models.returncode == 0
    for model in (ENTRY_POINT, "preprocess", "yolo26", "postprocess"):
        assert model in models.stdout
    run_cli("detect", str(SAMPLE_IMAGES[0]), *url)
    stats = run_cli("stats", *url)
    assert stats.returncode == 0
    assert all(model in stats.stdout for model in (ENTRY_POINT, "preprocess", "yolo26", "postprocess"))
