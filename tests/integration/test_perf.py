"""``triton-detect perf`` and ``benchmarks/run.py`` against the real server: they run and write their files.

Short windows: these check the tooling, not the numbers. They serve the untrained ``yolo26n.yaml``
(as the benchmark does: speed does not depend on weights) rather than the session's spread-score
fixture, whose thousands of boxes above the default threshold make each request's NMS take about a
second and a 1 s perf_analyzer window hold almost no requests.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from yolo26_triton.contract import ENTRY_POINT
from yolo26_triton.export.builder import build_repository
from yolo26_triton.export.repository import copy_templates
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import DEFAULT_REPOSITORY, ServerOptions

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    paths = [str(ROOT / "src"), str(ROOT), environment.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return environment


@pytest.fixture(scope="module")
def speed_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with the untrained yolo26n.yaml exported into it."""
    repository = tmp_path_factory.mktemp("speed") / "model_repository"
    copy_templates(DEFAULT_REPOSITORY, repository)
    build_repository(repository, "yolo26n.yaml")
    return repository


@pytest.fixture(scope="module")
def speed_server(
    speed_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedServer]:
    """The real server on free loopback ports, serving :func:`speed_repository`."""
    log_path = tmp_path_factory.mktemp("speed-server") / "tritonserver.log"
    options = ServerOptions.on_free_ports(repository=speed_repository)
    with log_path.open("w") as log, EmbeddedServer(options, log_file=log) as running:
        yield running


def test_perf_sweeps_both_protocols_with_real_jpegs(speed_server: EmbeddedServer, tmp_path: Path) -> None:
    server = speed_server
    out = tmp_path / "perf"
    command = [
        sys.executable,
        "-m",
        "yolo26_triton.cli",
        "perf",
        "--url",
        server.options.grpc_url,
        "--http-url",
        server.options.http_url,
        "--concurrency",
        "1,2",
        "--measurement-interval-ms",
        "800",
        "--stability-percentage",
        "100",
        "--out",
        str(out),
    ]
    completed = subprocess.run(
        command, cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    with (out / "perf.csv").open() as source:
        rows = list(csv.DictReader(source))
    assert [(row["protocol"], row["concurrency"]) for row in rows] == [
        ("grpc", "1"),
        ("grpc", "2"),
        ("http", "1"),
        ("http", "2"),
    ]
    assert all(float(row["throughput"]) > 0 and float(row["p99_ms"]) >= float(row["p50_ms"]) for row in rows)
    assert (out / "perf.png").read_bytes()[:4] == b"\x89PNG"
    assert "Composing models" in (out / "perf_analyzer_grpc.log").read_text()


def test_perf_analyzer_runs_with_its_own_flags_against_the_ensemble(
    speed_server: EmbeddedServer, tmp_path: Path
) -> None:
    """`triton-detect perf-analyzer ...` hands every flag to NVIDIA's binary, which then starts
    (alone it cannot: libb64.so.0d) and measures detect_ensemble with real JPEGs."""
    from yolo26_triton.tools.images import sample_images
    from yolo26_triton.tools.perf.analyzer import write_input_data

    data = write_input_data([path.read_bytes() for path in sample_images()], tmp_path / "input.json")
    report = tmp_path / "report.csv"
    command = [
        str(Path(sys.executable).parent / "triton-detect"),
        "perf-analyzer",
        "-m",
        ENTRY_POINT,
        "-u",
        speed_server.options.grpc_url,
        "-i",
        "grpc",
        "--input-data",
        str(data),
        "--concurrency-range",
        "2:2",
        "--measurement-interval",
        "800",
        "-s",
        "100",
        "-f",
        str(report),
    ]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "Composing models" in completed.stdout  # perf_analyzer's own ensemble breakdown
    rows = list(csv.DictReader(report.open()))
    assert [row["Concurrency"] for row in rows] == ["2"] and float(rows[0]["Inferences/Second"]) > 0


def test_perf_fails_with_exit_1_when_no_server_listens(tmp_path: Path) -> None:
    from yolo26_triton.serving.options import free_port

    command = [
        sys.executable,
        "-m",
        "yolo26_triton.cli",
        "perf",
        "--protocol",
        "grpc",
        "--url",
        f"127.0.0.1:{free_port()}",
        "--concurrency",
        "1",
        "--measurement-interval-ms",
        "500",
        "--out",
        str(tmp_path),
    ]
    completed = subprocess.run(
        command, cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "did not answer" in completed.stderr


def test_benchmark_runs_all_three_systems_and_writes_results(speed_repository: Path, tmp_path: Path) -> None:
    """Loopback (a, b, c at two levels), then the 1 Gbit/s link (a and c at one level) where a network
    namespace can be made here, else a line that says why it was skipped."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--repository",
        str(speed_repository),
        "--concurrency",
        "1,2",
        "--link-concurrency",
        "1",
        "--duration",
        "0.7",
        "--warmup",
        "0.3",
        "--out",
        str(tmp_path),
    ]
    completed = subprocess.run(
        command, cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = (tmp_path / "RESULTS.md").read_text()
    for system in ("triton", "ultralytics", "in-process"):
        for level in (1, 2):
            assert f"| {system} | {level} |" in report
    assert "| a/c images/s at c=1, loopback | >= 1 |" in report
    assert "| a/b images/s at c=8 | >= 0.95 | not run | - |" in report
    assert "| 2 | yolo26 |" in report
    assert "load average" in report and "cores" in report
    progress = [line for line in completed.stdout.splitlines() if "img/s" in line]
    assert all("errors 0" in line and "CPU/img client" in line for line in progress), completed.stdout
    link = json.loads((tmp_path / "results.json").read_text())
    if link["link_skipped"] is None:  # the namespace could be made: a and c were measured over it
        assert [(m["system"], m["concurrency"]) for m in link["link"]] == [("triton", 1), ("ultralytics", 1)]
        assert 0.8 <= link["link_probe"]["up_gbit_s"] <= 1.1
        assert len(progress) == 8
    else:
        assert f"Skipped: {link['link_skipped']}" in report
        assert len(progress) == 6
