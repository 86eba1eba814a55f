"""Letterbox geometry: how an image is placed in the square model input, and back.

Mirrors Ultralytics' ``LetterBox(new_shape, auto=False, center=True)`` (resize keeping the aspect
ratio, each side rounded, grey padding split around the image) and ``ops.scale_boxes`` (undo the
padding and the per-axis gain, clip to the image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAD_VALUE = 114
"""Grey level of the padding, as in Ultralytics."""


@dataclass(frozen=True)
class LetterboxGeometry:
    """Where an image of ``height`` x ``width`` lands inside a ``size`` x ``size`` model input.

    Attributes:
        height: Original image height in pixels.
        width: Original image width in pixels.
        size: Side of the square model input.
        resized_height: Height of the resized image inside the input.
        resized_width: Width of the resized image inside the input.
        top: Rows of padding above the image.
        left: Columns of padding left of the image.
    """

    height: int
    width: int
    size: int
    resized_height: int
    resized_width: int
    top: int
    left: int

    @classmethod
    def for_image(cls, height: int, width: int, size: int) -> LetterboxGeometry:
        """Computes the placement exactly as Ultralytics' ``LetterBox.get_params`` does.

        Raises:
            ValueError: If a dimension is not positive.
        """
        if height <= 0 or width <= 0 or size <= 0:
            raise ValueError(f"image and input sizes must be positive, got {height}x{width} into {size}")
        ratio = min(size / height, size / width)
        resized_width = max(round(width * ratio), 1)
        resized_height = max(round(height * ratio), 1)
        return cls(
            height=height,
            width=width,
            size=size,
            resized_height=resized_height,
            resized_width=resized_width,
            top=round((size - resized_height) / 2 - 0.1),
            left=round((size - resized_width) / 2 - 0.1),
        )

    @property
    def gain_x(self) -> float:
        """Horizontal scale from original to model-input pixels."""
        return self.resized_width / self.width

    @property
    def gain_y(self) -> float:
        """Vertical scale from original to model-input pixels."""
        return self.resized_height / self.height


def boxes_to_original(boxes: Any, geometry: LetterboxGeometry, xp: Any) -> Any:
    """Maps ``(N, 4)`` xyxy boxes from model-input pixels to original-image pixels, clipped.

    Same arithmetic as Ultralytics' ``scale_boxes(..., padding=True)`` followed by ``clip_boxes``.

    Args:
        boxes: ``(N, 4)`` float array (NumPy or CuPy) in model-input pixels.
        geometry: The letterbox placement of the image.
        xp: The array module of ``boxes`` (``numpy`` or ``cupy``).

    Returns:
        A new ``(N, 4)`` float32 array in original-image pixels.
    """
    offset = xp.asarray([geometry.left, geometry.top, geometry.left, geometry.top], dtype=xp.float32)
    gain = xp.asarray([geometry.gain_x, geometry.gain_y, geometry.gain_x, geometry.gain_y], dtype=xp.float32)
    mapped = (boxes.astype(xp.float32) - offset) / gain
    upper = xp.asarray([geometry.width, geometry.height, geometry.width, geometry.height], dtype=xp.float32)
    return xp.clip(mapped, 0, upper)
