"""benchmarks/gpu_run.sh, which runs on a lent GPU machine, runs every step here in its dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dry_run_prepares_the_inputs_and_measures_every_part_on_the_cpu(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "PYTHON": sys.executable,
        "GPU_INPUT": str(tmp_path / "gpu-input"),
        "TIME_LIMIT_S": "300",
    }
    completed = subprocess.run(
        [str(ROOT / "benchmarks" / "gpu_run.sh"), "--dry-run", str(tmp_path / "out")],
        cwd=tmp_path,  # the script finds the project from its own path
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    carried = sorted(path.name for path in (tmp_path / "gpu-input").iterdir())
    assert carried == ["bus.jpg", "grace_hopper.jpg", "yolo26n.torchscript", "zidane.jpg"]
    assert sum(path.stat().st_size for path in (tmp_path / "gpu-input").iterdir()) < 32 * 2**20  # carry limit
    record = json.loads((tmp_path / "out" / "gpu_device.json").read_text())
    assert record["facts"]["device"] == "cpu"
    assert record["transfer"][0]["uint8_mb_per_image"] * 4 == record["transfer"][0]["fp32_mb_per_image"]
    assert record["detector"][0]["images_per_s"] > 0  # the exported detector ran
    assert [row["mode"] for row in record["decode"]] == ["one call per image", "one call for 3 images"]
    assert "mode: dry-run" in (tmp_path / "out" / "machine.txt").read_text()
    assert "## Detector network alone" in (tmp_path / "out" / "GPU_DEVICE.md").read_text()
    assert not list(ROOT.glob("*.torchscript"))  # the export wrote nothing into the project
