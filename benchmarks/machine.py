"""The machine a benchmark ran on: CPU, cores, versions, load (for the generated reports)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from pathlib import Path


def machine_facts() -> dict[str, str]:
    """CPU, cores, versions."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    facts = {
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "affinity": str(len(os.sched_getaffinity(0))),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tritonserver": "2.51.0 (nvidia-pytriton wheel, CPU profile, Python backend)",
    }
    for package in (
        "nvidia-pytriton",
        "tritonclient",
        "onnxruntime",
        "nvidia-dali-cuda120",
        "ultralytics",
        "torch",
        "numpy",
        "opencv-python",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            facts[package] = importlib.metadata.version(package)
    return facts


def load_average() -> str:
    """``/proc/loadavg``'s three averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def conditions() -> str:
    """Cores and load, for the reader to judge how quiet the machine was."""
    return (
        f"{os.cpu_count()} cores (this process may use {len(os.sched_getaffinity(0))}), "
        f"load average {load_average()} when it started"
    )
