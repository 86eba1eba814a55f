"""The JPEGs a tool runs on: the files and folders a user names, or the samples that ship in packages."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from yolo26_triton.tools.errors import ToolInputError

JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
SAMPLES = (
    ("ultralytics", "assets/bus.jpg"),  # 810x1080 portrait: a bus, people
    ("ultralytics", "assets/zidane.jpg"),  # 1280x720 landscape: two people, a tie
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),  # 512x600: a person
)
"""Real JPEGs inside installed packages (no download): package, path inside it."""


def sample_images() -> list[Path]:
    """The :data:`SAMPLES` whose package is installed, found without importing the packages.

    Raises:
        ToolInputError: None of them is installed.
    """
    images = []
    for package, relative in SAMPLES:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            path = Path(next(iter(spec.submodule_search_locations))) / relative
            if path.is_file():
                images.append(path)
    if not images:
        raise ToolInputError("no sample JPEGs found (ultralytics, matplotlib): name the images to use")
    return images


def collect_images(paths: Sequence[Path]) -> list[Path]:
    """The files named, plus the ``.jpg``/``.jpeg`` files directly inside the folders named, sorted.

    Raises:
        ToolInputError: A path does not exist, or there is no JPEG at all.
    """
    images: list[Path] = []
    for path in paths:
        if path.is_dir():
            images.extend(
                sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in JPEG_SUFFIXES)
            )
        elif path.is_file():
            images.append(path)
        else:
            raise ToolInputError(f"no such file or folder: {path}")
    if not images:
        raise ToolInputError("no .jpg or .jpeg files found")
    return images
