"""client/scripts/: each thin script, run as a user runs it, against the real server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from yolo26_triton.client import DetectionResult, TritonClient, TritonConfig
from yolo26_triton.contract import ENTRY_POINT
from yolo26_triton.serving.launcher import EmbeddedServer

from ..sample_images import SAMPLE_IMAGES

pytestmark = pytest.mark.integration

SCRIPTS = Path(__file__).resolve().parents[2] / "client" / "scripts"
CONF = 0.25


def environment(server: EmbeddedServer) -> dict[str, str]:
    return {
        **os.environ,
        "TRITON_URL": server.options.grpc_url,
        "TRITON_HTTP_URL": server.options.http_url,
        "TRITON_CONFIDENCE_THRESHOLD": str(CONF),
    }


def run_script(server: EmbeddedServer, name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *arguments],
        env=environment(server),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def detect_directly(server: EmbeddedServer, images: list[Path]) -> list[DetectionResult]:
    """What the library itself answers for ``images`` with the scripts' settings."""

    async def detect() -> list[DetectionResult]:
        async with TritonClient(TritonConfig.from_env(environment(server))) as client:
            return [await client.detect(image.read_bytes()) for image in images]

    return asyncio.run(detect())


def test_detect_file_prints_what_the_client_returns(server: EmbeddedServer) -> None:
    image = SAMPLE_IMAGES[0]
    (expected,) = detect_directly(server, [image])
    assert len(expected.detections) > 0  # the spread-score model finds something at this threshold

    as_json = run_script(server, "detect_file.py", str(image), "--json")
    assert as_json.returncode == 0, as_json.stderr
    printed = json.loads(as_json.stdout)
    assert printed["image"] == str(image) and printed["model_version"] == expected.model_version
    assert [det["class_name"] for det in printed["detections"]] == list(expected.detections.class_names)
    boxes = [coordinate for det in printed["detections"] for coordinate in det["bbox"]]
    assert boxes == pytest.approx(expected.detections.xyxy.ravel().tolist(), abs=0.01)

    table = run_script(server, "detect_file.py", str(image))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("CLASS") and len(lines) == len(expected.detections) + 2
    assert lines[-1].startswith(f"{len(expected.detections)} objects, detector version 1,")


def test_detect_file_reports_a_refused_image_in_one_line(server: EmbeddedServer, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a JPEG")
    refused = run_script(server, "detect_file.py", str(text))
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("error: InvalidInputError:") and len(refused.stderr.splitlines()) == 1


def test_detect_folder_goes_through_every_image_in_batches(server: EmbeddedServer, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for image in SAMPLE_IMAGES:
        shutil.copy(image, folder / image.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    (folder / "readme.txt").write_text("ignored: not a JPEG name")
    expected = dict(
        zip(
            [image.name for image in SAMPLE_IMAGES],
            detect_directly(server, list(SAMPLE_IMAGES)),
            strict=True,
        )
    )

    finished = run_script(server, "detect_folder.py", str(folder), "--batch", "2", "--json")
    assert finished.returncode == 1  # one image failed; the others were answered
    lines = [json.loads(line) for line in finished.stdout.splitlines()]
    assert [Path(line["image"]).name for line in lines] == sorted(["broken.jpg", *expected])
    by_name = {Path(line["image"]).name: line for line in lines}
    assert by_name.pop("broken.jpg")["error"].startswith("InvalidInputError:")
    for name, line in by_name.items():
        assert line["objects"] == len(expected[name].detections) > 0, name
        assert sum(line["classes"].values()) == line["objects"]
    assert finished.stderr.strip().endswith(f"{len(expected)} of {len(expected) + 1} images detected")


def test_server_status_shows_health_versions_and_statistics(server: EmbeddedServer) -> None:
    detect_directly(server, [SAMPLE_IMAGES[0]])  # at least one request counted

    as_json = run_script(server, "server_status.py", "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["healthy"] is True
    assert report["model"]["name"] == ENTRY_POINT and report["model"]["ready"] is True
    statistics = {stats["name"]: stats for stats in report["statistics"]}
    assert {ENTRY_POINT, "validate", "preprocess", "yolo26", "postprocess"} <= set(statistics)
    assert statistics[ENTRY_POINT]["success_count"] >= 1

    text = run_script(server, "server_status.py")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[:2] == ["server: healthy", f"model {ENTRY_POINT}: ready (v1 READY)"]
    assert any(line.split()[0] == "yolo26" for line in text.stdout.splitlines()[3:])


def test_server_status_says_unhealthy_when_nothing_answers(tmp_path: Path) -> None:
    closed = subprocess.run(
        [sys.executable, str(SCRIPTS / "server_status.py")],
        env={**os.environ, "TRITON_URL": "127.0.0.1:9", "TRITON_TIMEOUT": "5", "TRITON_MAX_RETRIES": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert closed.returncode == 1
    assert closed.stderr.startswith("error: ServerUnavailableError:"), closed.stderr
