"""annotate_image draws boxes and labels on a copy of the decoded image."""

import io

import numpy as np
from PIL import Image

from yolo26_triton.client import Detections
from yolo26_triton.client.annotate import PALETTE, annotate_image

GREY = (128, 128, 128)


def jpeg(width: int = 320, height: int = 240) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), GREY).save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


def detections(untrained: bool = False, count: int = 1) -> Detections:
    return Detections(
        xyxy=np.array([[40, 60, 200, 180]] * count, dtype=np.float32).reshape(count, 4),
        confidence=np.array([0.87] * count, dtype=np.float32),
        class_id=np.array([1] * count, dtype=np.int32),
        class_names=("bicycle",) * count,
        image_size=(240, 320),
        model_untrained=untrained,
    )


def close_to(pixel: tuple[int, ...], color: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, color, strict=True))


def test_draws_the_box_in_the_class_colour() -> None:
    image = annotate_image(jpeg(), detections())
    assert (image.size, image.mode) == ((320, 240), "RGB")
    assert close_to(image.getpixel((120, 180)), PALETTE[1])  # bottom edge of the box
    assert close_to(image.getpixel((120, 120)), GREY)  # inside the box, untouched
    assert close_to(image.getpixel((300, 230)), GREY)  # outside the box


def test_draws_the_label_above_the_box() -> None:
    image = np.asarray(annotate_image(jpeg(), detections()))
    label_strip = image[30:58, 42:120]
    assert (np.abs(label_strip.astype(int) - PALETTE[1]).sum(axis=2) < 60).any()
    assert (label_strip.min(axis=2) > 200).any()  # white text


def test_no_detections_leaves_the_pixels() -> None:
    original = np.asarray(Image.open(io.BytesIO(jpeg())).convert("RGB"))
    annotated = np.asarray(annotate_image(jpeg(), detections(count=0)))
    np.testing.assert_array_equal(original, annotated)


def test_untrained_model_gets_a_banner() -> None:
    image = annotate_image(jpeg(), detections(untrained=True, count=0))
    assert close_to(image.getpixel((1, 1)), (200, 0, 0))
