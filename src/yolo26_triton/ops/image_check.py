"""Refuse bad images before anything decodes them, from the bytes of their headers alone.

Runs in the ``validate`` model, ahead of the decoder in both profiles: DALI fails or allocates for
the whole batch, so a decompression bomb (a small file declaring 20000x20000 pixels) must be
refused before it reaches the decoder, and each request must fail alone with a message that
names its problem.

Accepted: baseline, extended and progressive JPEGs (SOF0-3, 5-7, 9-11, 13-15) with 1 (grayscale),
3 (YCbCr/RGB) or 4 (CMYK/YCCK) components, any chroma subsampling, any size up to the limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from yolo26_triton.ops.errors import InvalidImageError

JPEG_MAGIC = b"\xff\xd8\xff"
_START_OF_FRAME = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: markers without a length
_START_OF_SCAN, _END_OF_IMAGE = 0xDA, 0xD9
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
)


@dataclass(frozen=True)
class ImageLimits:
    """What the server accepts.

    Attributes:
        max_bytes: Largest encoded file.
        max_pixels: Largest ``width * height`` declared by the JPEG frame header.
        max_pixels_per_byte: Largest ``width * height / len(data)``: a decompression bomb declares
            far more pixels per encoded byte than any real picture reaches, even a flat one: at most
            256 measured (a uniform grayscale picture; ``python -m benchmarks.jpeg_density``), at most
            512 for any Huffman-coded JPEG (one bit per 8x8 block at the least).
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_pixels_per_byte: float = 1000.0

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0 or self.max_pixels_per_byte <= 0:
            raise ValueError(f"limits must be positive, got {self}")


@dataclass(frozen=True)
class JpegFrame:
    """What a JPEG's frame header (SOFn) declares."""

    width: int
    height: int
    components: int
    progressive: bool


def check_image(data: bytes, limits: ImageLimits) -> JpegFrame:
    """Checks ``data`` against ``limits`` without decoding it.

    Returns:
        The frame header of an acceptable JPEG.

    Raises:
        InvalidImageError: With a message naming the problem: empty, too large, not a JPEG (and what it
            looks like), truncated or corrupt, too many pixels, unsupported components.
    """
    if not data:
        raise InvalidImageError("empty input: IMAGE holds no bytes")
    if len(data) > limits.max_bytes:
        raise InvalidImageError(f"input of {len(data)} bytes is above the limit of {limits.max_bytes} bytes")
    if not data.startswith(JPEG_MAGIC):
        raise InvalidImageError(f"not a JPEG: {_looks_like(data)}")
    frame, frame_end = _frame_header(data)
    # Entropy-coded data escapes every 0xFF, so a real FFD9 after the frame header is the image's end.
    # (An EXIF thumbnail's own FFD9 sits in APP1, before the frame header.) Data after it is allowed.
    if data.rfind(b"\xff\xd9") < frame_end:
        raise InvalidImageError("truncated JPEG: no end-of-image marker, the file is cut short")
    pixels = frame.width * frame.height
    if pixels > limits.max_pixels:
        raise InvalidImageError(
            f"JPEG declares {frame.width}x{frame.height} pixels ({pixels / 1e6:.1f} MP), above the limit of "
            f"{limits.max_pixels / 1e6:.1f} MP: refused before decoding"
        )
    if pixels / len(data) > limits.max_pixels_per_byte:
        raise InvalidImageError(
            f"JPEG declares {frame.width}x{frame.height} pixels in {len(data)} bytes "
            f"({pixels / len(data):.0f} pixels per byte, above the limit of {limits.max_pixels_per_byte:.0f} "
            "that real pictures stay under): refused before decoding as a likely decompression bomb"
        )
    return frame


def _frame_header(data: bytes) -> tuple[JpegFrame, int]:
    """Walks the marker segments up to the first SOFn; returns it and where its segment ends."""
    position = 2
    while True:
        # Markers may be preceded by fill bytes 0xFF.
        while position < len(data) and data[position] == 0xFF:
            position += 1
        if position >= len(data):
            raise InvalidImageError("truncated JPEG: it ends before its frame header")
        marker = data[position]
        position += 1
        if marker in _STANDALONE:
            continue
        if marker in (_START_OF_SCAN, _END_OF_IMAGE) or data[position - 2] != 0xFF:
            raise InvalidImageError("corrupt JPEG: no frame header (SOF) before the image data")
        if position + 2 > len(data):
            raise InvalidImageError("truncated JPEG: it ends inside a marker segment")
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2 or position + length > len(data):
            raise InvalidImageError("truncated or corrupt JPEG: a marker segment runs past its end")
        if marker in _START_OF_FRAME:
            segment = data[position + 2 : position + length]
            frame = _parse_frame(segment, progressive=marker in (0xC2, 0xC6, 0xCA, 0xCE))
            return frame, position + length
        position += length


def _parse_frame(segment: bytes, *, progressive: bool) -> JpegFrame:
    if len(segment) < 6:
        raise InvalidImageError("corrupt JPEG: frame header too short")
    height = int.from_bytes(segment[1:3], "big")
    width = int.from_bytes(segment[3:5], "big")
    components = segment[5]
    if width == 0 or height == 0:
        raise InvalidImageError(f"corrupt JPEG: frame header declares {width}x{height} pixels")
    if components not in (1, 3, 4):
        raise InvalidImageError(f"unsupported JPEG: {components} colour components (1, 3 or 4 accepted)")
    return JpegFrame(width=width, height=height, components=components, progressive=progressive)


def _looks_like(data: bytes) -> str:
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return f"looks like {name}"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "looks like a WebP image"
    head = data[:64]
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
        return f"looks like text ({head[:24]!r})"
    return f"unknown format (starts with {data[:8]!r})"
