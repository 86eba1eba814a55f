"""The GPU check's CPU half: ``scripts/gpu_check.py --cpu`` runs end to end on the embedded server.

The script is meant for a lent GPU machine (docs/gpu.md, "GPU check"); here every model is on
KIND_CPU, so what runs is the script itself: the generated repository (detector stand-in, probe,
the project's postprocess with both configs, ensembles), the binary-tensor HTTP client, the
statistics it reads, the two server starts. The GPU half differs only in the instance kind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..sample_images import SAMPLE_IMAGES

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_runs_on_the_cpu(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for path in SAMPLE_IMAGES:
        shutil.copy(path, images)
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--cpu", "--images", str(images),
         "--out", str(out), "--repeats", "2"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["ok"] and report["device"] == "cpu"
    assert report["placement"] == {"output0": "cpu", "ORIGINAL_SIZE": "cpu", "output_detector_id": "cpu"}
    assert set(report["agreement"]) == {path.name for path in SAMPLE_IMAGES}
    assert all(entry["agree"] and entry["boxes"] > 0 for entry in report["agreement"].values())
    for conf in ("0.25", "0.0"):
        timings = report["postprocess_ms_per_image"][conf]
        assert timings["batch_1"] > 0 and timings["batch_16"] > 0  # the burst ran as one batch of 16
    for key in ("first_call_ms_without_warmup", "first_call_ms_with_warmup", "ready_s_with_warmup"):
        assert report[key] > 0
    assert (out / "tritonserver.log").stat().st_size > 0
    deadline = time.monotonic() + 15  # stubs end a moment after their server
    while (leftovers := _processes_mentioning(report["workdir"])) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers == [], f"servers or stubs still running after the check: {leftovers}"


def _processes_mentioning(text: str) -> list[str]:
    return [
        entry.name
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and text.encode() in _command_line(entry)
    ]


def _command_line(process: Path) -> bytes:
    try:
        return (process / "cmdline").read_bytes()
    except OSError:
        return b""  # ended while we looked


def test_gpu_check_wrapper_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "gpu_check.sh")], check=False).returncode == 0
