"""Header checks before decoding: each bad input kind refused with its own message, unusual JPEGs accepted."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from ultralytics.data.augment import LetterBox

from yolo26_triton.ops.errors import InvalidImageError
from yolo26_triton.ops.image_check import ImageLimits, check_image
from yolo26_triton.ops.preprocess import BatchPreprocessor, PreprocessedImage

from ...jpeg_variants import bad_inputs, bomb, undecodable_jpeg, unusual_jpegs

UNUSUAL = unusual_jpegs()
BAD = bad_inputs()


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_refused_with_its_own_message(name: str) -> None:
    data, phrase = BAD[name]
    with pytest.raises(InvalidImageError, match=phrase):
        check_image(data, ImageLimits())


def test_each_bad_kind_has_a_distinct_message() -> None:
    messages = set()
    for data, _ in BAD.values():
        with pytest.raises(InvalidImageError) as refused:
            check_image(data, ImageLimits())
        messages.add(str(refused.value))
    assert len(messages) == len(BAD)


@pytest.mark.parametrize("name", sorted(UNUSUAL))
def test_unusual_but_valid_jpegs_pass(name: str) -> None:
    frame = check_image(UNUSUAL[name], ImageLimits())
    assert frame.width > 0 and frame.height > 0
    assert frame.components in (1, 3, 4)


def test_frame_header_facts() -> None:
    assert check_image(UNUSUAL["grayscale"], ImageLimits()).components == 1
    assert check_image(UNUSUAL["cmyk"], ImageLimits()).components == 4
    assert check_image(UNUSUAL["progressive"], ImageLimits()).progressive
    large = check_image(UNUSUAL["large_12mp"], ImageLimits())
    assert (large.width, large.height) == (4000, 3000)


def test_limits_are_configurable() -> None:
    with pytest.raises(InvalidImageError, match="above the limit of 1000 bytes"):
        check_image(UNUSUAL["chroma_444"], ImageLimits(max_bytes=1000))
    with pytest.raises(InvalidImageError, match=r"4000x3000 pixels \(12.0 MP\)"):
        check_image(UNUSUAL["large_12mp"], ImageLimits(max_pixels=10_000_000))
    sparse = ImageLimits(max_pixels=30_000_000, max_pixels_per_byte=1e9)
    check_image(bomb(6000, 5000), sparse)  # at the limit: accepted
    with pytest.raises(ValueError, match="positive"):
        ImageLimits(max_bytes=0)
    with pytest.raises(ValueError, match="positive"):
        ImageLimits(max_pixels_per_byte=0)


def test_pixels_per_byte_bound_sits_above_flat_pictures_and_below_bombs() -> None:
    """Flat pictures compress best (benchmarks/jpeg_density.py); a bomb declares far more per byte."""
    flat = [
        encode_flat(np.full((3024, 4032), 128, np.uint8), quality=50, optimize=True),
        encode_flat(np.full((3024, 4032, 3), 128, np.uint8), quality=95, optimize=True),
        encode_flat(np.zeros((1080, 1920, 3), np.uint8), quality=5, progressive=True),
    ]
    for data in flat:
        check_image(data, ImageLimits())
    data = bomb(7000, 7000)
    with pytest.raises(InvalidImageError, match=rf"7000x7000 pixels in {len(data)} bytes"):
        check_image(data, ImageLimits())
    check_image(data, ImageLimits(max_pixels_per_byte=1e9))  # the density alone refused it


def encode_flat(
    image: np.ndarray, *, quality: int, optimize: bool = False, progressive: bool = False
) -> bytes:
    flags = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, int(optimize)]
    ok, encoded = cv2.imencode(".jpg", image, [*flags, cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    assert ok
    return bytes(encoded.tobytes())


def test_data_after_the_end_of_image_is_allowed() -> None:
    """Motion photos append a video after the JPEG's end-of-image marker."""
    check_image(UNUSUAL["chroma_422"] + b"\x00\x00\x00\x18ftypmp42" + bytes(1000), ImageLimits())


def test_undecodable_data_behind_sound_headers_fails_in_the_decoder() -> None:
    check_image(undecodable_jpeg(), ImageLimits())
    (outcome,) = BatchPreprocessor(size=640, max_batch_size=2, num_threads=1).run(
        [np.frombuffer(undecodable_jpeg(), np.uint8)]
    )
    assert isinstance(outcome, InvalidImageError)
    assert "truncated or corrupt" in str(outcome)


@pytest.fixture(scope="module")
def decoded() -> dict[str, PreprocessedImage]:
    preprocessor = BatchPreprocessor(size=640, max_batch_size=16, num_threads=2)
    outcomes = preprocessor.run([np.frombuffer(data, np.uint8) for data in UNUSUAL.values()])
    assert all(isinstance(outcome, PreprocessedImage) for outcome in outcomes)
    return dict(zip(UNUSUAL, outcomes, strict=True))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(UNUSUAL))
def test_unusual_jpegs_decode_like_ultralytics(decoded: dict[str, PreprocessedImage], name: str) -> None:
    """Same pixels as cv2.imdecode + LetterBox (as predict() reads them), EXIF orientation applied."""
    bgr = cv2.imdecode(np.frombuffer(UNUSUAL[name], np.uint8), cv2.IMREAD_COLOR)
    reference = LetterBox((640, 640), auto=False)(image=bgr)[..., ::-1].transpose(2, 0, 1).astype(np.float32)
    ours = decoded[name]
    assert tuple(ours.original_size) == bgr.shape[:2]
    tolerance = 2 if name == "cmyk" else 1  # CMYK -> RGB conversion rounds differently
    assert np.abs(ours.pixels.astype(np.float32) - reference).max() <= tolerance


def test_exif_orientation_is_applied(decoded: dict[str, PreprocessedImage]) -> None:
    assert tuple(decoded["chroma_444"].original_size) == (1080, 810)
    assert tuple(decoded["exif_rotated"].original_size) == (810, 1080)  # rotated upright, as cv2 does
