"""``triton-detect perf`` and the benchmark helpers without a server: parsing, input data, files."""

from __future__ import annotations

import argparse
import base64
import csv
import json
import time
from pathlib import Path

import pytest

from benchmarks.configs import (
    config_path,
    edit_config,
    set_instances,
    set_parameter,
    set_queue_delay,
    set_ultralytics_metadata,
    ultralytics_metadata,
    without_step,
)
from benchmarks.harness import CLIENT, Measurement, run_threads
from benchmarks.link import shaping_commands
from benchmarks.report import LINK, LOOPBACK, Results, render, targets
from benchmarks.systems import SERVER, StepTimes
from yolo26_triton.cli import perf as perf_command
from yolo26_triton.cli.app import ExitCode, main, parser
from yolo26_triton.export.repository import read_config
from yolo26_triton.serving.launcher import DEFAULT_REPOSITORY
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


def test_config_edits_on_a_copy_parse_back_as_model_configs(tmp_path: Path) -> None:
    path = tmp_path / "cpu.pbtxt"
    path.write_text(config_path(DEFAULT_REPOSITORY, "yolo26").read_text())
    edit_config(path, set_queue_delay(500, (4, 8)))
    edit_config(path, set_instances(2))
    edit_config(path, set_parameter("intra_op_num_threads", "1"))
    edit_config(path, set_ultralytics_metadata(ultralytics_metadata(("person", "bus"), 640)))
    config = read_config(path)
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.instance_group[0].count == 2
    assert config.parameters["intra_op_num_threads"].string_value == "1"
    assert "0: 'person'" in config.parameters["metadata"].string_value
    assert "dynamic" not in config.parameters["metadata"].string_value


def test_an_ensemble_copy_can_leave_a_step_out(tmp_path: Path) -> None:
    path = tmp_path / "config.pbtxt"
    path.write_text(config_path(DEFAULT_REPOSITORY, "detect_ensemble").read_text())
    edit_config(path, without_step("validate", "IMAGE"))
    steps = read_config(path).ensemble_scheduling.step
    assert [step.model_name for step in steps] == ["preprocess", "yolo26", "postprocess"]
    assert dict(steps[0].input_map) == {"IMAGE": "IMAGE"}  # preprocess now reads the ensemble input


def test_closed_loop_counts_requests_in_the_window_with_per_thread_state() -> None:
    made: list[int] = []
    result = run_threads(
        "sleep",
        lambda state, _image: __import__("time").sleep(0.01 * (1 + 0 * state)),
        [b"a", b"b"],
        2,
        warmup_s=0.05,
        duration_s=0.3,
        setup=lambda index: made.append(index) or index,
    )
    assert sorted(made) == [0, 1]
    assert 20 <= result.images <= 70 and result.errors == 0
    assert 5 <= result.p50_ms <= 30
    assert 0 <= (result.cpu_ms_per_image(CLIENT) or 0) < 5  # sleeping costs the client little CPU


def test_cpu_per_image_comes_from_the_clocks_read_at_the_window_edges() -> None:
    def spin(_state: object, _image: bytes) -> None:  # 10 ms of this thread's CPU, however busy the machine
        end = time.thread_time() + 0.01
        while time.thread_time() < end:
            pass

    ticks = iter(range(100))
    result = run_threads(
        "spin",
        spin,
        [b"a"],
        1,
        warmup_s=0.02,
        duration_s=0.3,
        cpu_clocks={CLIENT: time.process_time, "counter": lambda: float(next(ticks))},
    )
    assert result.cpu_s["counter"] == 1.0  # read once when the window opened, once when it closed
    # Requests that straddle an edge count whole but spin partly outside: a few percent either way.
    assert 8 <= (result.cpu_ms_per_image(CLIENT) or 0) <= 20  # the process clock sees the spinning


def test_targets_compare_the_systems_of_one_run() -> None:
    def m(system: str, level: int, images: int, client_cpu_s: float = 1.0) -> Measurement:
        return Measurement(system, level, images, 1.0, 1.0, 1.0, 0, {CLIENT: client_cpu_s})

    loopback = [
        m("triton", 1, 20, 0.1),
        m("triton", 8, 33, 0.2),
        m("ultralytics", 1, 18, 1.0),
        m("ultralytics", 8, 34, 2.0),
        m("in-process", 1, 25),
        m("in-process", 8, 33),
    ]
    link = [m("triton", 4, 30), m("ultralytics", 4, 12)]
    verdicts = {
        target.name: (round(value, 3) if value is not None else None, met)
        for target in targets((1, 8))
        for value, met in [target.evaluate(Results.of(loopback, link))]
    }
    assert verdicts == {
        "a/c images/s at c=1, loopback": (1.111, True),
        "a/c images/s at c=8, loopback": (0.971, False),
        f"a/c images/s at c=4, {LINK}": (2.5, True),
        "a/b images/s at c=1": (0.8, True),
        "a/b images/s at c=8": (1.0, True),
        "client CPU per image a/c at c=1, loopback": (0.09, True),  # 5 ms against 55.6 ms
        "client CPU per image a/c at c=8, loopback": (0.103, True),
        "a at c=8 / a at c=1 images/s": (1.65, True),
    }
    assert targets((1,))[1].evaluate(Results.of(loopback))[1] is None  # no link run: not judged
    assert LOOPBACK != LINK


def test_the_report_marks_each_target_and_explains_each_miss_with_the_run_s_figures() -> None:
    def m(system: str, level: int, images: int) -> Measurement:
        return Measurement(
            system, level, images, 1.0, 10.0, 20.0, 0, {CLIENT: 0.1 * images, SERVER: 0.9 * images}
        )

    loopback = [m("triton", 1, 20), m("triton", 8, 24), m("ultralytics", 1, 18), m("ultralytics", 8, 20)]
    loopback += [m("in-process", 1, 22), m("in-process", 8, 23)]
    steps = {1: [StepTimes("yolo26", 20, 20, 0.5, 0.2, 30.0, 0.3)]}
    report = render(
        loopback=loopback,
        link=[],
        link_probe=None,
        link_skipped="`unshare -n` failed",
        breakdown=steps,
        levels=(1, 8),
        context=dict.fromkeys(
            (
                "command",
                "conditions",
                "images",
                "warmup",
                "duration",
                "dali_threads",
                "onnx_threads",
                "model",
                "load_before",
                "load_after",
                "started",
                "elapsed",
            ),
            "x",
        ),
        facts={"cpu": "test"},
        notes="",
    )
    assert "Skipped: `unshare -n` failed." in report
    assert "| a at c=8 / a at c=1 images/s | >= 1.5 | 1.20 | **no** |" in report
    assert "| a/c images/s at c=1, loopback | >= 1 | 1.11 | yes |" in report
    assert "| a/c images/s at c=4, 1 Gbit/s link | >= 2 | not run | - |" in report
    assert "scaled by 1.05 in this run" in report  # b's own c=8 / c=1, from the same run
    assert "yolo26 0.5 queued + 30.5 ms computing (batch 1.0)" in report
    assert "| triton | 1 | 20.00 | 10.0 | 20.0 | 0 | 100.0 | 900.0 |" in report  # CPU ms per image


def test_the_link_is_shaped_in_each_direction_by_the_server_ports() -> None:
    commands = [" ".join(command) for command in shaping_commands([8000, 8001])]
    assert commands[0] == "ip link set lo up"
    assert "htb default 20" in commands[1]  # unmatched packets (client -> server): class 1:20
    assert sum("rate 1gbit ceil 1gbit" in command for command in commands) == 2
    assert [command.split("sport ")[1] for command in commands if "sport" in command] == [
        "8000 0xffff flowid 1:10",
        "8001 0xffff flowid 1:10",
    ]
