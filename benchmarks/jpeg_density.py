"""Declared pixels per encoded byte of real and synthetic JPEGs: the data behind ``validate``'s bound.

    python -m benchmarks.jpeg_density

A decompression bomb declares many pixels in few bytes (a 631-byte JPEG declaring 7000x7000 is
77,655 pixels per byte). This prints the density of every JPEG that ships inside installed packages
(camera photos: Ultralytics' bus.jpg and zidane.jpg, matplotlib's grace_hopper.jpg, and whatever
else is there) and of synthetic images that compress as well as JPEG allows: uniform colours,
gradients, screenshot-like text on white and a plain background with a few shapes, at several sizes
and qualities, encoded baseline, with optimized Huffman tables and progressive, by OpenCV and
Pillow. ``ImageLimits.max_pixels_per_byte`` must sit above every one of them.

With Huffman coding every 8x8 block costs at least one bit for its DC difference (and, in a
baseline scan, one for its end-of-block), so a Huffman-coded JPEG cannot pass 64 pixels per bit,
512 per byte, whatever it shows; only arithmetic-coded flat images (rare) or bombs with cut-short
scan data go beyond.
"""

from __future__ import annotations

import io
import site
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from yolo26_triton.ops.errors import InvalidImageError
from yolo26_triton.ops.image_check import ImageLimits, check_image

SIZES = ((640, 480), (1920, 1080), (4032, 3024), (8000, 6000))
QUALITIES = (5, 30, 75, 95)


def packaged_jpegs() -> Iterator[tuple[str, bytes]]:
    """Every ``.jpg``/``.jpeg`` under the installed site-packages (no downloads)."""
    seen: set[Path] = set()
    for root in site.getsitepackages():
        for path in sorted(Path(root).rglob("*.jp*g")):
            if path.resolve() not in seen and path.stat().st_size > 0:
                seen.add(path.resolve())
                yield str(path.relative_to(root)), path.read_bytes()


def scenes(width: int, height: int) -> Iterator[tuple[str, NDArray[np.uint8]]]:
    """Images that JPEG compresses best: flat, smooth, or flat with sharp text and shapes."""
    yield "uniform grey", np.full((height, width, 3), 128, np.uint8)
    yield "uniform black", np.zeros((height, width, 3), np.uint8)
    yield "uniform grey, grayscale", np.full((height, width), 128, np.uint8)
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    yield "gradient", np.repeat(np.repeat(ramp[None, :, None], height, axis=0), 3, axis=2).astype(np.uint8)
    screen = np.full((height, width, 3), 255, np.uint8)
    for row in range(40, height, 40):
        cv2.putText(
            screen,
            "def detect(image): return boxes  # 0123456789",
            (20, row),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.8,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    yield "screenshot text", screen
    plain = np.full((height, width, 3), (235, 225, 210), np.uint8)
    cv2.rectangle(plain, (width // 4, height // 4), (width // 2, height // 2), (30, 60, 200), -1)
    cv2.circle(plain, (3 * width // 4, height // 2), min(width, height) // 6, (20, 20, 20), -1)
    yield "plain background + shapes", plain


def encodings(image: NDArray[np.uint8], quality: int) -> Iterator[tuple[str, bytes]]:
    """The same picture through several encoders and settings."""
    for name, flags in (
        ("cv2 baseline", []),
        ("cv2 optimized", [cv2.IMWRITE_JPEG_OPTIMIZE, 1]),
        ("cv2 progressive", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_OPTIMIZE, 1]),
    ):
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality, *flags])
        assert ok
        yield name, encoded.tobytes()
    buffer = io.BytesIO()
    picture = Image.fromarray(image if image.ndim == 2 else image[:, :, ::-1])
    picture.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    yield "PIL progressive optimized", buffer.getvalue()


def density(data: bytes) -> tuple[int, int, float]:
    """Declared width, height and pixels per byte, read by the same header parser as validate."""
    unlimited = ImageLimits(max_bytes=1 << 30, max_pixels=1 << 40, max_pixels_per_byte=1e12)
    frame = check_image(data, unlimited)
    return frame.width, frame.height, frame.width * frame.height / len(data)


def main() -> None:
    rows: list[tuple[str, float]] = []
    print("Packaged JPEGs (real photos and whatever else ships):")
    for name, data in packaged_jpegs():
        try:
            width, height, ratio = density(data)
        except InvalidImageError as error:
            print(f"  {name}: skipped ({error})")
            continue
        rows.append((f"packaged {name}", ratio))
        print(f"  {ratio:10.1f} px/B  {width}x{height}  {len(data)} B  {name}")
    print("Synthetic (scene, size, quality, encoder): densest encoder per scene and size")
    for width, height in SIZES:
        for scene, image in scenes(width, height):
            best = max(
                (
                    (density(data)[2], f"q{quality} {encoder}", len(data))
                    for quality in QUALITIES
                    for encoder, data in encodings(image, quality)
                ),
            )
            rows.append((f"{scene} {width}x{height}", best[0]))
            print(f"  {best[0]:10.1f} px/B  {scene:26s} {width}x{height}  {best[2]} B  ({best[1]})")
    limit = ImageLimits().max_pixels_per_byte
    densest = max(rows, key=lambda row: row[1])
    print(
        f"Densest: {densest[1]:.1f} px/B ({densest[0]}); validate's bound: {limit:.0f} px/B "
        f"({limit / densest[1]:.1f}x above it)"
    )


if __name__ == "__main__":
    main()
