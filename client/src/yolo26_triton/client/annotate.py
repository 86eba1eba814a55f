"""Draw detections onto a copy of the image they came from (Pillow)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont, ImageOps

from yolo26_triton.client.types import Detections

# Distinct, dark enough for white label text; a class keeps its colour across images.
PALETTE = (
    (230, 25, 75),
    (60, 140, 60),
    (0, 110, 200),
    (200, 100, 0),
    (145, 30, 180),
    (0, 128, 128),
    (128, 0, 0),
    (90, 90, 0),
    (0, 0, 128),
    (170, 60, 120),
)
UNTRAINED_BANNER = "UNTRAINED MODEL: these boxes mean nothing"


def annotate_image(image_bytes: bytes, detections: Detections) -> Image.Image:
    """Draw each box with a ``"<class> <confidence>"`` label on an RGB copy of the encoded image.

    The image is turned upright by its EXIF orientation first, as the server's decoder (and
    Ultralytics' ``cv2.imread``) does, since the boxes are in that upright frame. Detections of an
    untrained model also get a banner saying so.

    Args:
        image_bytes: The encoded image the detections were made on.
        detections: Boxes in pixels of that image.

    Returns:
        The annotated image.
    """
    with Image.open(io.BytesIO(image_bytes)) as source:
        image = ImageOps.exif_transpose(source).convert("RGB")
    draw = ImageDraw.Draw(image)
    line_width = max(2, round(max(image.size) / 400))
    font = ImageFont.load_default(size=max(12, 6 * line_width))
    padding = line_width
    for detection in detections:
        color = PALETTE[detection.class_id % len(PALETTE)]
        x1, y1, x2, y2 = detection.bbox
        draw.rectangle((x1, y1, x2, y2), outline=color, width=line_width)
        label = f"{detection.class_name} {detection.confidence:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        label_height = bottom - top + 2 * padding
        label_top = y1 - label_height if y1 >= label_height else y1  # above the box when it fits
        draw.rectangle((x1, label_top, x1 + right - left + 2 * padding, label_top + label_height), fill=color)
        draw.text((x1 + padding - left, label_top + padding - top), label, fill="white", font=font)
    if detections.model_untrained:
        left, top, right, bottom = draw.textbbox((0, 0), UNTRAINED_BANNER, font=font)
        draw.rectangle((0, 0, right - left + 4 * padding, bottom - top + 4 * padding), fill=(200, 0, 0))
        draw.text((2 * padding - left, 2 * padding - top), UNTRAINED_BANNER, fill="white", font=font)
    return image
