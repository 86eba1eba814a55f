"""The files of the ``nvidia-pytriton`` wheel the embedded server runs: located, never imported.

The package's ``__init__`` imports its client and tritonclient, which a machine that only runs the
server (scripts/gpu_check.sh on a lent GPU) does not hold; so the wheel is found by
``importlib.util.find_spec`` and its files are addressed by path.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from yolo26_triton.serving.errors import LaunchError

STUB_NAME = "triton_python_backend_stub"
LIBRARIES_FOLDER = "nvidia_pytriton.libs"
"""Beside the ``pytriton`` package: the wheel's shared libraries, hash-renamed by auditwheel."""


def pytriton_root() -> Path | None:
    """The installed ``pytriton`` package's folder; ``None`` without the wheel."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def wheel_libraries() -> Path | None:
    """The wheel's ``nvidia_pytriton.libs`` (libb64, libcudart, ...); ``None`` without the wheel."""
    root = pytriton_root()
    folder = root.parent / LIBRARIES_FOLDER if root is not None else None
    return folder if folder is not None and folder.is_dir() else None


@dataclass(frozen=True)
class WheelLayout:
    """Where the ``nvidia-pytriton`` wheel keeps the server's files."""

    tritonserver: Path
    python_backend: Path
    stub: Path
    libraries: Path

    @classmethod
    def find(cls) -> WheelLayout:
        """The wheel's files for this interpreter's Python version.

        Raises:
            LaunchError: The wheel is not installed, or lacks a file (no stub for this Python).
        """
        package = pytriton_root()
        if package is None:
            raise LaunchError(
                "the embedded server needs the nvidia-pytriton wheel: pip install 'yolo26-triton[server]'"
            )
        root = package / "tritonserver"
        python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
        layout = cls(
            tritonserver=root / "bin" / "tritonserver",
            python_backend=root / "backends" / "python",
            stub=root / "python_backend_stubs" / python_version / STUB_NAME,
            libraries=package.parent / LIBRARIES_FOLDER,
        )
        for path in (layout.tritonserver, layout.python_backend, layout.stub, layout.libraries):
            if not path.exists():
                raise LaunchError(
                    f"{path} is missing from the nvidia-pytriton wheel (Python {python_version})"
                )
        return layout
