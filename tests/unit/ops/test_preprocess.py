"""BatchPreprocessor: one bad image fails alone, the good ones of the same batch still get tensors."""

import numpy as np
import pytest

from yolo26_triton.ops.errors import InvalidImageError
from yolo26_triton.ops.preprocess import BatchPreprocessor, PreprocessedImage

from ...sample_images import SAMPLE_IMAGES

MAX_BATCH_SIZE = 4


@pytest.fixture(scope="module")
def preprocessor() -> BatchPreprocessor:
    return BatchPreprocessor(size=640, max_batch_size=MAX_BATCH_SIZE, num_threads=1)


def as_array(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8)


@pytest.fixture(scope="module")
def good() -> list[np.ndarray]:
    return [as_array(path.read_bytes()) for path in SAMPLE_IMAGES]


@pytest.fixture(scope="module")
def alone(preprocessor: BatchPreprocessor, good: list[np.ndarray]) -> list[PreprocessedImage]:
    """Each good image run by itself: the reference for the mixed batches."""
    results = [preprocessor.run([image]) for image in good]
    assert all(len(result) == 1 and isinstance(result[0], PreprocessedImage) for result in results)
    return [result[0] for result in results]  # type: ignore[misc]


TRUNCATED = "truncated or corrupt"
NOT_JPEG = "not a JPEG"
EMPTY = "empty"


def assert_same(result: PreprocessedImage | InvalidImageError, expected: PreprocessedImage) -> None:
    assert isinstance(result, PreprocessedImage), result
    assert result.pixels.dtype == np.uint8
    assert result.pixels.shape == (3, 640, 640)
    np.testing.assert_array_equal(result.pixels, expected.pixels)
    np.testing.assert_array_equal(result.original_size, expected.original_size)


def assert_invalid(result: PreprocessedImage | InvalidImageError, fragment: str) -> None:
    assert isinstance(result, InvalidImageError), result
    assert isinstance(result, ValueError)
    assert fragment in str(result)


def test_bad_images_fail_alone_across_chunks(
    preprocessor: BatchPreprocessor, good: list[np.ndarray], alone: list[PreprocessedImage]
) -> None:
    truncated = good[0][:2000]
    text = as_array(b"this is plain text, not an image")
    empty = np.zeros(0, np.uint8)
    batch = [good[0], truncated, text, empty, good[1], good[2]]
    assert len(batch) > MAX_BATCH_SIZE

    results = preprocessor.run(batch)

    assert len(results) == len(batch)
    assert_same(results[0], alone[0])
    assert_invalid(results[1], TRUNCATED)
    assert_invalid(results[2], NOT_JPEG)
    assert_invalid(results[3], EMPTY)
    assert_same(results[4], alone[1])
    assert_same(results[5], alone[2])
    assert "2000 bytes" in str(results[1])
    assert "b'this is '" in str(results[2])  # the first bytes, to tell what was sent


def test_undecodable_image_in_a_full_batch_is_isolated(
    preprocessor: BatchPreprocessor, good: list[np.ndarray], alone: list[PreprocessedImage]
) -> None:
    """No empty image: the whole chunk is tried first, fails in DALI, then runs one image at a time."""
    half_jpeg = good[1][: good[1].size // 2]
    results = preprocessor.run([good[2], half_jpeg, good[0], as_array(b"\x89PNG\r\n\x1a\n garbage")])
    assert_same(results[0], alone[2])
    assert_invalid(results[1], TRUNCATED)
    assert_same(results[2], alone[0])
    assert_invalid(results[3], NOT_JPEG)


def test_keeps_working_after_failures(
    preprocessor: BatchPreprocessor, good: list[np.ndarray], alone: list[PreprocessedImage]
) -> None:
    for _ in range(2):
        failed = preprocessor.run([as_array(b"\xff\xd8\xff\xe0 broken"), as_array(b"nope")])
        assert_invalid(failed[0], TRUNCATED)
        assert_invalid(failed[1], NOT_JPEG)
    results = preprocessor.run(good + [good[0]] * 3)  # 6 images: a full chunk and a partial one
    assert len(results) == 6
    for result, expected in zip(results, alone + [alone[0]] * 3, strict=True):
        assert_same(result, expected)


def test_good_batch_original_sizes(preprocessor: BatchPreprocessor, good: list[np.ndarray]) -> None:
    results = preprocessor.run(good)
    sizes = [result.original_size.tolist() for result in results if isinstance(result, PreprocessedImage)]
    assert sizes == [[1080, 810], [720, 1280], [600, 512]]


def test_empty_request_list(preprocessor: BatchPreprocessor) -> None:
    assert preprocessor.run([]) == []
