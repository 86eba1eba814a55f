"""Real JPEGs that ship inside installed packages (no downloads)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import ultralytics

ULTRALYTICS_ASSETS = Path(ultralytics.__file__).parent / "assets"
SAMPLE_IMAGES = (
    ULTRALYTICS_ASSETS / "bus.jpg",  # 810x1080 portrait
    ULTRALYTICS_ASSETS / "zidane.jpg",  # 1280x720 landscape
    Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg",  # 512x600
)
