"""Ultralytics' letterbox as the reference the DALI pipeline is compared with (within one grey level)."""

from __future__ import annotations

import numpy as np
from ultralytics.data.augment import LetterBox

SIZE = 640


def ultralytics_chw(bgr: np.ndarray) -> np.ndarray:
    """Ultralytics' letterbox of a decoded BGR image, as RGB CHW uint8 grey levels."""
    letterboxed = LetterBox((SIZE, SIZE), auto=False)(image=bgr)[..., ::-1]
    return np.ascontiguousarray(letterboxed.transpose(2, 0, 1))


def max_grey_level_difference(pixels: np.ndarray, expected: np.ndarray) -> int:
    """Largest difference between ``pixels`` and ``expected``, both in grey levels (uint8)."""
    return int(np.abs(pixels.astype(np.int32) - expected.astype(np.int32)).max())
