"""triton-detect: the command registry, argument parsing, settings, output and exit codes."""

import argparse
import asyncio
import dataclasses
import importlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yolo26_triton.cli import app
from yolo26_triton.cli.app import COMMAND_MODULES, ExitCode, UsageError, main
from yolo26_triton.cli.arguments import client_config
from yolo26_triton.cli.detect import rollout_config
from yolo26_triton.cli.output import ProgressBar, format_table, print_detections
from yolo26_triton.client import Detections, InvalidInputError, TritonConfig
from yolo26_triton.rollout import RolloutResult, ShadowRecord
from yolo26_triton.rollout.agreement import ImageAgreement
from yolo26_triton.tools.errors import ToolInputError
from yolo26_triton.tools.images import collect_images


def parse(*argv: str) -> argparse.Namespace:
    return app.parser().parse_args(argv)


def write_jpeg(path: Path) -> Path:
    Image.new("RGB", (64, 48), (10, 20, 30)).save(path, format="JPEG")
    return path


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch, closed_address: str) -> str:
    for variable in ("TRITON_URL", "TRITON_HTTP_URL"):
        monkeypatch.setenv(variable, closed_address)
    monkeypatch.setenv("TRITON_MAX_RETRIES", "0")
    monkeypatch.setenv("TRITON_TIMEOUT", "5")
    return closed_address


def test_every_registered_command_is_defined_by_its_module_and_parses() -> None:
    """``app.COMMAND_MODULES`` and the modules' ``COMMANDS`` name the same commands, each once."""
    defined = {}
    for module_name in set(COMMAND_MODULES.values()):
        for command in importlib.import_module(module_name).COMMANDS:
            assert command.name not in defined, f"{command.name} defined twice"
            defined[command.name] = module_name
    assert defined == COMMAND_MODULES
    minimal = {"detect": ["x.jpg"], "pin": ["1"], "compare": ["x.jpg"]}
    for name in COMMAND_MODULES:
        if name != "perf-analyzer":  # takes its arguments unread
            assert callable(parse(name, *minimal.get(name, [])).run)


def test_parsing_build_imports_neither_the_client_nor_the_tools() -> None:
    """``build`` must run in the builder image, which has no client (aiohttp...): the registry imports
    only the module of the command asked for (tests/unit/test_container_imports.py runs it there)."""
    unwanted = ("yolo26_triton.client", "yolo26_triton.rollout", "yolo26_triton.tools", "aiohttp")
    code = (
        "import sys\nfrom yolo26_triton.cli.app import parser\nparser(['build'])\n"
        f"print(sorted(m for m in sys.modules if m.startswith({unwanted!r})))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_detect_arguments() -> None:
    args = parse("detect", "a.jpg", "photos", "--json", "--annotate", "out", "--conf", "0.3")
    assert args.paths == [Path("a.jpg"), Path("photos")]
    assert (args.json, args.annotate, args.conf) == (True, Path("out"), 0.3)


def test_flags_override_the_environment() -> None:
    environ = {"TRITON_PROTOCOL": "grpc", "TRITON_URL": "env:1", "TRITON_CONFIDENCE_THRESHOLD": "0.5"}
    config = client_config(
        parse("detect", "a.jpg", "--url", "flag:2", "--conf", "0.1", "--model", "yolo26"), environ
    )
    assert (config.url, config.confidence_threshold, config.model) == ("flag:2", 0.1, "yolo26")
    assert client_config(parse("health"), environ).url == "env:1"


def test_url_follows_the_protocol() -> None:
    config = client_config(parse("health", "--protocol", "http", "--url", "web:8000"), {})
    assert (config.protocol, config.http_url, config.url) == ("http", "web:8000", "localhost:8001")
    from_env = client_config(parse("health", "--url", "web:8000"), {"TRITON_PROTOCOL": "http"})
    assert from_env.http_url == "web:8000"


def test_bad_setting_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRITON_TIMEOUT", "soon")
    assert main(["health"]) == ExitCode.USAGE
    assert "TRITON_TIMEOUT=soon" in capsys.readouterr().err


def test_collect_images(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("b.jpg", "A.JPEG", "c.png", "notes.txt"):
        (folder / name).write_bytes(b"x")
    (folder / "nested.jpg").mkdir()
    explicit = tmp_path / "scan.bin"
    explicit.write_bytes(b"x")
    assert collect_images([explicit, folder]) == [explicit, folder / "A.JPEG", folder / "b.jpg"]
    with pytest.raises(ToolInputError, match="missing"):
        collect_images([tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ToolInputError, match=r"no \.jpg or \.jpeg files"):
        collect_images([empty])


def test_format_table() -> None:
    assert format_table(("A", "LONG"), [(1, "x"), ("wide", "")]) == "A     LONG\n1     x\nwide"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_and_for_more_than_five_files() -> None:
    quiet, few, shown = io.StringIO(), Terminal(), Terminal()
    for stream, total in ((quiet, 10), (few, 5), (shown, 6)):
        bar = ProgressBar(total, stream, width=6)
        for _ in range(total):
            bar.advance()
        bar.finish()
    assert quiet.getvalue() == few.getvalue() == ""
    assert shown.getvalue().endswith("\r[######] 6/6\n")
    assert "\r[###---] 3/6" in shown.getvalue()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_health_exits_1_without_a_server(
    protocol: str, no_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["health", "--protocol", protocol]) == 1
    assert capsys.readouterr().out.startswith(f"unhealthy: {protocol}://{no_server}")


@pytest.mark.parametrize("command", ["stats", "models"])
def test_management_commands_exit_1_without_a_server(
    command: str, no_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command]) == 1
    assert "ServerUnavailableError" in capsys.readouterr().err


def test_detect_reports_each_failed_file_as_json(
    tmp_path: Path, no_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [write_jpeg(tmp_path / f"{n}.jpg") for n in range(3)]
    assert main(["detect", str(tmp_path), "--json"]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [record["file"] for record in records] == [str(path) for path in images]
    assert {record["error"]["type"] for record in records} == {"ServerUnavailableError"}


def test_detect_table_mode_reports_errors_on_stderr(
    tmp_path: Path, no_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    image = write_jpeg(tmp_path / "one.jpg")
    assert main(["detect", str(image)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"error: {image}: ServerUnavailableError" in captured.err


def test_detect_without_images_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", str(tmp_path)]) == 2
    assert "no .jpg or .jpeg files" in capsys.readouterr().err
    assert main(["detect", str(tmp_path / "absent.jpg")]) == 2


def detection_result(untrained: bool) -> RolloutResult:
    detections = Detections(
        xyxy=np.array([[1.04, 2, 30.5, 40]], np.float32),
        confidence=np.array([0.876543], np.float32),
        class_id=np.array([16], np.int32),
        class_names=("dog",),
        image_size=(48, 64),
        model_untrained=untrained,
        model_version="1",
        model_source="yolo26n.yaml" if untrained else "yolo26n.pt",
    )
    return RolloutResult(
        detections=detections,
        backend="triton",
        model_info={"model": "yolo26", "head": "classic"},
        latency_s=0.0123,
        route="detect_ensemble",
    )


def empty_result() -> RolloutResult:
    empty = Detections(
        xyxy=np.zeros((0, 4), np.float32),
        confidence=np.zeros(0, np.float32),
        class_id=np.zeros(0, np.int32),
        class_names=(),
        image_size=(48, 64),
    )
    return RolloutResult(detections=empty, backend="local", model_info={}, latency_s=0.001)


OUTCOMES = [detection_result(untrained=False), empty_result(), InvalidInputError("not a JPEG", status="400")]
PATHS = [Path("a.jpg"), Path("b.jpg"), Path("c.jpg")]


def test_report_as_table(capsys: pytest.CaptureFixture[str]) -> None:
    print_detections(PATHS, OUTCOMES, as_json=False)
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "FILE   BACKEND  VERSION  CLASS  CONF  X1  Y1  X2  Y2",
        "a.jpg  triton   1        dog    0.88  1   2   30  40",
        "b.jpg  local    -        -",
    ]
    assert captured.err == "error: c.jpg: InvalidInputError: [400] not a JPEG\n"


def test_report_as_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    print_detections(PATHS, OUTCOMES, as_json=True)
    first, second, third = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first == {
        "file": "a.jpg",
        "backend": "triton",
        "image_size": [48, 64],
        "latency_ms": 12.3,
        "route": "detect_ensemble",
        "model": {"model": "yolo26", "head": "classic"},
        "detections": [
            {"class_id": 16, "class_name": "dog", "confidence": 0.8765, "bbox": [1.0, 2.0, 30.5, 40.0]}
        ],
    }
    assert (second["backend"], second["route"], second["detections"]) == ("local", None, [])
    assert "shadow" not in second and "fallback" not in second
    assert third == {
        "file": "c.jpg",
        "error": {"type": "InvalidInputError", "status": "400", "message": "[400] not a JPEG"},
    }


def test_report_warns_once_about_an_untrained_model(capsys: pytest.CaptureFixture[str]) -> None:
    print_detections(PATHS[:2], [detection_result(untrained=True)] * 2, as_json=True)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: the boxes come from an UNTRAINED model (source: yolo26n.yaml); they are not meaningful"
    ]


def test_fallback_and_shadow_comparison_in_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    async def records() -> list[RolloutResult]:
        compared: asyncio.Future[ShadowRecord] = asyncio.get_running_loop().create_future()
        compared.set_result(ShadowRecord("compared", 0.2, 0.05, ImageAgreement(3, 2, 2, 0.99, 0.001)))
        failed: asyncio.Future[ShadowRecord] = asyncio.get_running_loop().create_future()
        failed.set_result(ShadowRecord("failed", 0.1, error="ServerUnavailableError: refused"))
        base = empty_result()
        return [
            dataclasses.replace(base, shadow=compared),
            dataclasses.replace(base, shadow=failed),
            dataclasses.replace(base, fallback="circuit_open"),
        ]

    print_detections(PATHS, asyncio.run(records()), as_json=True)
    compared, failed, fallback = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert compared["shadow"] == {
        "status": "compared",
        "local_ms": 200.0,
        "triton_ms": 50.0,
        "agreement": 0.8,
        "local_boxes": 3,
        "triton_boxes": 2,
        "matched": 2,
    }
    assert failed["shadow"] == {
        "status": "failed",
        "local_ms": 100.0,
        "triton_ms": None,
        "error": "ServerUnavailableError: refused",
    }
    assert (fallback["backend"], fallback["fallback"]) == ("local", "circuit_open")


def test_detect_talks_to_triton_unless_triton_enabled_says_otherwise() -> None:
    triton = TritonConfig()  # enabled=False, the library's default
    assert rollout_config(triton, {}).triton.enabled
    assert rollout_config(triton, {"TRITON_ENABLED": " "}).triton.enabled  # blank counts as unset
    assert not rollout_config(triton, {"TRITON_ENABLED": "false"}).triton.enabled
    shadowing = rollout_config(triton, {"TRITON_ROLLOUT_PERCENT": "0", "TRITON_SHADOW": "true"})
    assert (shadowing.rollout_percent, shadowing.shadow) == (0.0, True)
    with pytest.raises(UsageError, match="TRITON_ROLLOUT_PERCENT=200"):
        rollout_config(triton, {"TRITON_ROLLOUT_PERCENT": "200"})


def test_detect_exits_2_on_bad_rollout_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image = write_jpeg(tmp_path / "one.jpg")
    monkeypatch.setenv("TRITON_ENABLED", "false")
    monkeypatch.setenv("YOLO_WEIGHTS", str(tmp_path / "absent.pt"))
    assert main(["detect", str(image)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: YOLO_WEIGHTS={tmp_path / 'absent.pt'}: cannot load")
    monkeypatch.setenv("YOLO_LETTERBOX", "stretch")
    assert main(["detect", str(image)]) == 2
    assert "YOLO_LETTERBOX=stretch" in capsys.readouterr().err
