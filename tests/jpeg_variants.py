"""Images made by the tests themselves: valid but unusual JPEGs, and the bad inputs a camera feed sends."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .sample_images import SAMPLE_IMAGES

EXIF_ORIENTATION = 0x0112
ROTATED_90_CLOCKWISE = 6


def encode(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def photo() -> Image.Image:
    with Image.open(SAMPLE_IMAGES[0]) as image:  # bus.jpg, 810x1080
        return image.convert("RGB")


def small_photo() -> bytes:
    """bus.jpg at 160x120: cheap to decode, so a flood of it loads the detector more than the decoder."""
    return encode(photo().resize((160, 120)))


def unusual_jpegs() -> dict[str, bytes]:
    """Valid JPEGs the server must accept."""
    image = photo()
    exif = image.getexif()
    exif[EXIF_ORIENTATION] = ROTATED_90_CLOCKWISE
    generator = np.random.default_rng(0)
    large = Image.fromarray(generator.integers(0, 255, (3000, 4000, 3), dtype=np.uint8))
    return {
        "grayscale": encode(image.convert("L")),
        "cmyk": encode(image.convert("CMYK")),
        "progressive": encode(image, progressive=True),
        "chroma_444": encode(image, subsampling=0),
        "chroma_422": encode(image, subsampling=1),
        "one_pixel": encode(Image.new("RGB", (1, 1), (200, 10, 10))),
        "wide_4000x3": encode(Image.new("RGB", (4000, 3), (20, 100, 10))),
        "tall_5x3000": encode(image.resize((5, 3000))),
        "exif_rotated": encode(image, exif=exif.tobytes()),
        "large_12mp": encode(large, quality=70),
    }


def bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A small real JPEG whose frame header is rewritten to declare ``width`` x ``height``."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (0, 0, 0))))
    start_of_frame = data.index(b"\xff\xc0")
    data[start_of_frame + 5 : start_of_frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    return buffer.getvalue()


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (8, 8)).save(buffer, "GIF")
    return buffer.getvalue()


def undecodable_jpeg() -> bytes:
    """Sound structure, bogus Huffman tables: passes the header checks, then fails to decode."""
    data = bytearray(encode(photo()))
    huffman_table = data.index(b"\xff\xc4")
    length = int.from_bytes(data[huffman_table + 2 : huffman_table + 4], "big")
    data[huffman_table + 5 : huffman_table + 2 + length] = b"\xff" * (length - 3)
    return bytes(data)


def bad_inputs() -> dict[str, tuple[bytes, str]]:
    """Inputs the server must refuse, with a phrase the refusal message must contain."""
    good = encode(photo())
    generator = np.random.default_rng(1)
    return {
        "empty": (b"", "empty input"),
        "png": (png(), "looks like a PNG"),
        "gif": (gif(), "looks like a GIF"),
        "text": (b"hello, this is not an image\n", "looks like text"),
        "random": (bytes(generator.integers(0, 256, 4096, dtype=np.uint8)), "not a JPEG"),
        "truncated": (good[: len(good) // 2], "no end-of-image marker"),
        "truncated_header": (good[:100], "truncated"),
        "corrupt_segment": (good[:4] + b"\xff\xff" + good[6:], "corrupt JPEG"),
        "bomb_20000x20000": (bomb(), "20000x20000"),
        # 49 MP, under the pixel limit, in a few hundred bytes: refused by its pixels per byte.
        "dense_bomb_7000x7000": (bomb(7000, 7000), "pixels per byte"),
    }
