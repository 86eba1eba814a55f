"""``triton-detect perf`` without a server: parsing, input data, files."""

from __future__ import annotations

import argparse
import base64
import csv
import json
from pathlib import Path

import pytest

from yolo26_triton.cli import perf as perf_command
from yolo26_triton.cli.app import ExitCode, main, parser
from yolo26_triton.tools.errors import PerfError, ToolInputError
from yolo26_triton.tools.images import sample_images
from yolo26_triton.tools.perf import analyzer, results

# perf_analyzer 2.51's -f report, as written against detect_ensemble on this machine.
REPORT = (
    "Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
    "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,"
    "p50 latency,p90 latency,p95 latency,p99 latency\n"
    "1,14.8086,19,6442,2,887,57707,1752,6,63352,72618,78605,144020\n"
    "2,17.2147,19,31295,2,1185,80827,2647,6,116941,127998,131874,133077"
)


def test_parse_perf_csv_reads_throughput_and_percentiles_in_ms() -> None:
    rows = results.parse_perf_csv(REPORT, "grpc")
    assert [row.concurrency for row in rows] == [1, 2]
    assert rows[0].protocol == "grpc"
    assert rows[0].throughput == pytest.approx(14.8086)
    assert rows[0].p50_ms == pytest.approx(63.352)
    assert rows[1].p99_ms == pytest.approx(133.077)
    assert rows[1].server_compute_infer_ms == pytest.approx(80.827)


def test_parse_perf_csv_rejects_missing_columns_and_empty_reports() -> None:
    with pytest.raises(PerfError, match="p99 latency"):
        results.parse_perf_csv("Concurrency,Inferences/Second\n1,2\n", "http")
    with pytest.raises(PerfError, match="no measurements"):
        results.parse_perf_csv(REPORT.splitlines()[0], "http")


def test_input_data_holds_each_jpeg_as_base64_with_its_length_as_shape(tmp_path: Path) -> None:
    images = [b"\xff\xd8\xff" + bytes(range(200)), b"\xff\xd8\xff\xe0abc"]
    path = analyzer.write_input_data(images, tmp_path / "data.json")
    entries = json.loads(path.read_text())["data"]
    assert [base64.b64decode(entry["IMAGE"]["b64"]) for entry in entries] == images
    assert [entry["IMAGE"]["shape"] for entry in entries] == [[203], [7]]
    with pytest.raises(ToolInputError):
        analyzer.write_input_data([b""], tmp_path / "empty.json")


def test_sample_images_are_real_jpegs() -> None:
    images = sample_images()
    assert len(images) == 3
    assert all(path.read_bytes()[:3] == b"\xff\xd8\xff" for path in images)


def test_link_libraries_gives_the_hash_renamed_copies_their_plain_names(tmp_path: Path) -> None:
    source = tmp_path / "nvidia_pytriton.libs"
    source.mkdir()
    (source / "libb64-98cb6333.so.0d").write_bytes(b"b64")
    (source / "libcudart-09529672.so.12.6.77").write_bytes(b"cudart")
    folder = analyzer.link_libraries(tmp_path / "links", source)
    assert (folder / "libb64.so.0d").read_bytes() == b"b64"
    assert (folder / "libcudart.so.12").read_bytes() == b"cudart"
    environment = analyzer.perf_analyzer_environment(folder)
    assert environment["LD_LIBRARY_PATH"].split(":")[0] == str(folder)


def test_the_installed_perf_analyzer_and_its_libraries_are_found(tmp_path: Path) -> None:
    binary = analyzer.perf_analyzer_binary()
    assert binary.is_file()
    folder = analyzer.link_libraries(tmp_path / "links")
    assert {path.name for path in folder.iterdir()} == set(analyzer.LIBRARY_PATTERNS)


def test_perf_analyzer_command_passes_its_flags_to_the_binary_which_starts() -> None:
    """The binary alone fails to load libb64.so.0d; through the command it starts and answers."""
    import subprocess
    import sys

    triton_detect = str(Path(sys.executable).parent / "triton-detect")
    completed = subprocess.run(
        [triton_detect, "perf-analyzer", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "Perf Analyzer Version 2.51.0" in completed.stdout + completed.stderr
    args = _parse(["perf-analyzer", "-m", "detect_ensemble", "-h"])
    assert args.arguments == ["-m", "detect_ensemble", "-h"]  # nothing read by our parser, -h included
    assert _parse(["perf-analyzer", "--", "-m", "x"]).arguments == ["--", "-m", "x"]  # "--" dropped later


def test_command_line_names_model_url_protocol_data_and_report(tmp_path: Path) -> None:
    settings = analyzer.PerfSettings(url="127.0.0.1:8001", protocol="grpc", measurement_interval_ms=1500)
    command = analyzer.perf_analyzer_command(
        Path("/bin/perf_analyzer"), settings, tmp_path / "d.json", tmp_path / "r.csv", concurrency=4
    )
    text = " ".join(command)
    assert "-m detect_ensemble -u 127.0.0.1:8001 -i grpc" in text
    assert "--concurrency-range 4:4" in text and "--measurement-interval 1500" in text
    assert f"--input-data {tmp_path / 'd.json'}" in text and f"-f {tmp_path / 'r.csv'}" in text


def _parse(argv: list[str]) -> argparse.Namespace:
    return parser(argv[:1]).parse_args(argv)


def test_register_adds_perf_with_its_options_and_defaults() -> None:
    args = _parse(["perf"])
    assert args.run is perf_command.perf
    assert (args.protocol, args.concurrency, args.model) == ("both", (1, 2, 4, 8), "detect_ensemble")
    args = _parse(["perf", "--protocol", "http", "--concurrency", "1,3", "--measurement-interval-ms", "900"])
    assert (args.protocol, args.concurrency, args.measurement_interval_ms) == ("http", (1, 3), 900)
    with pytest.raises(SystemExit):
        _parse(["perf", "--concurrency", "0,2"])


def test_endpoints_follow_the_flags_then_the_environment() -> None:
    environ = {"TRITON_URL": "h:1", "TRITON_HTTP_URL": "h:2"}
    assert perf_command.endpoints(_parse(["perf"]), environ) == {"grpc": "h:1", "http": "h:2"}
    assert perf_command.endpoints(_parse(["perf"]), {}) == {
        "grpc": "localhost:8001",
        "http": "localhost:8000",
    }
    assert perf_command.endpoints(_parse(["perf", "--protocol", "http", "--url", "x:9"]), environ) == {
        "http": "x:9"
    }
    both = _parse(["perf", "--url", "x:1", "--http-url", "x:2"])
    assert perf_command.endpoints(both, environ) == {"grpc": "x:1", "http": "x:2"}


def test_bad_arguments_exit_2_before_running_anything(tmp_path: Path) -> None:
    assert main(["perf", "--measurement-interval-ms", "10", "--out", str(tmp_path)]) == ExitCode.USAGE
    assert main(["perf", "--images", str(tmp_path / "missing.jpg"), "--out", str(tmp_path)]) == ExitCode.USAGE
    assert not any(tmp_path.iterdir())  # nothing measured, nothing written


def test_rows_are_written_as_csv_and_plotted(tmp_path: Path) -> None:
    rows = results.parse_perf_csv(REPORT, "grpc") + results.parse_perf_csv(REPORT, "http")
    with results.write_rows(rows, tmp_path / "perf.csv").open() as source:
        records = list(csv.DictReader(source))
    assert [(r["protocol"], r["concurrency"]) for r in records] == [
        ("grpc", "1"),
        ("grpc", "2"),
        ("http", "1"),
        ("http", "2"),
    ]
    png = results.plot_rows(rows, tmp_path / "perf.png", "title")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
