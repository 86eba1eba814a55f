"""Letterbox geometry and box mapping against Ultralytics' own ``LetterBox`` and ``scale_boxes``."""

import numpy as np
import pytest
import torch
from ultralytics.data.augment import LetterBox
from ultralytics.utils.ops import scale_boxes

from yolo26_triton.ops.letterbox import LetterboxGeometry, boxes_to_original

SIZE = 640

SHAPES = [
    (1, 1),  # tiny
    (1, 5000),  # extreme landscape
    (5000, 1),  # extreme portrait
    (2, 3),
    (7, 7),
    (333, 517),  # odd sizes
    (517, 333),
    (479, 641),
    (639, 641),
    (640, 640),  # exact
    (1080, 810),  # bus.jpg, portrait
    (720, 1280),  # zidane.jpg, landscape
    (600, 512),
    (853, 1280),  # half-pixel resize: Python's round() rounds 426.5 to 426
    (1280, 853),
    (1442, 2560),
    (1281, 1280),
    (3000, 4000),  # larger
    (4000, 3000),
    (8000, 17),
]


def ultralytics_params(height: int, width: int, size: int = SIZE) -> dict:
    """Ultralytics' letterbox parameters for an image of ``height`` x ``width``."""
    letterbox = LetterBox(new_shape=(size, size), auto=False)
    return letterbox.get_params({"img": np.zeros((height, width, 3), np.uint8)})


def assert_same_placement(height: int, width: int, size: int = SIZE) -> None:
    geometry = LetterboxGeometry.for_image(height, width, size)
    params = ultralytics_params(height, width, size)
    assert (geometry.resized_width, geometry.resized_height) == tuple(params["new_unpad"]), (height, width)
    assert (geometry.top, geometry.left) == (params["top"], params["left"]), (height, width)
    assert (geometry.height, geometry.width, geometry.size) == (height, width, size)
    # The placed image and Ultralytics' padding fill the input exactly.
    assert geometry.top + geometry.resized_height + params["bottom"] == size
    assert geometry.left + geometry.resized_width + params["right"] == size


@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_geometry_matches_ultralytics(height: int, width: int) -> None:
    assert_same_placement(height, width)


def test_geometry_matches_ultralytics_random_sweep() -> None:
    rng = np.random.default_rng(2026)
    sides = np.exp(rng.uniform(0, np.log(8000), size=(200, 2))).astype(int)
    for height, width in sides:
        assert_same_placement(int(height), int(width))


@pytest.mark.parametrize("size", [32, 320, 1280])
def test_geometry_matches_ultralytics_other_input_sizes(size: int) -> None:
    for height, width in SHAPES:
        assert_same_placement(height, width, size)


def test_gains_are_resized_over_original() -> None:
    geometry = LetterboxGeometry.for_image(1080, 810, SIZE)
    assert (geometry.resized_height, geometry.resized_width) == (640, 480)
    assert geometry.gain_y == pytest.approx(640 / 1080)
    assert geometry.gain_x == pytest.approx(480 / 810)


@pytest.mark.parametrize(
    ("height", "width", "size"),
    [(0, 10, 640), (10, 0, 640), (-1, 5, 640), (5, -3, 640), (10, 10, 0), (10, 10, -640)],
)
def test_non_positive_sizes_raise(height: int, width: int, size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        LetterboxGeometry.for_image(height, width, size)


def random_boxes(rng: np.random.Generator, count: int) -> np.ndarray:
    """Corner (xyxy) boxes in model-input pixels, many of them reaching outside the image and the input."""
    corners = rng.uniform(-120, SIZE + 120, size=(count, 2, 2))
    corners.sort(axis=1)
    return corners.transpose(0, 2, 1).reshape(count, 4)[:, [0, 2, 1, 3]].astype(np.float32)


@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_boxes_to_original_matches_scale_boxes(height: int, width: int) -> None:
    rng = np.random.default_rng(height * 10007 + width)
    boxes = random_boxes(rng, 500)
    assert (boxes[:, 0] <= boxes[:, 2]).all() and (boxes[:, 1] <= boxes[:, 3]).all()
    geometry = LetterboxGeometry.for_image(height, width, SIZE)

    mapped = boxes_to_original(boxes, geometry, np)

    torch_boxes = torch.from_numpy(boxes)
    expected = scale_boxes((SIZE, SIZE), torch_boxes.clone(), (height, width)).numpy()
    assert mapped.dtype == np.float32
    assert mapped.shape == boxes.shape
    np.testing.assert_allclose(mapped, expected, rtol=1e-6, atol=1e-3)
    # Clipped to the original image, and the clipping did happen for some boxes.
    assert (mapped >= 0).all()
    assert (mapped[:, [0, 2]] <= width).all() and (mapped[:, [1, 3]] <= height).all()
    assert (mapped == 0).any()
    # The input is left untouched (scale_boxes works in place, boxes_to_original must not).
    np.testing.assert_array_equal(boxes, random_boxes(np.random.default_rng(height * 10007 + width), 500))


def test_boxes_to_original_inverts_the_letterbox() -> None:
    geometry = LetterboxGeometry.for_image(720, 1280, SIZE)  # resized 640x360, top 140
    inside = np.array([[0, 140, 640, 500], [320, 320, 480, 410]], np.float32)
    mapped = boxes_to_original(inside, geometry, np)
    np.testing.assert_allclose(mapped, [[0, 0, 1280, 720], [640, 360, 960, 540]], atol=1e-3)


def test_boxes_to_original_empty() -> None:
    geometry = LetterboxGeometry.for_image(480, 640, SIZE)
    mapped = boxes_to_original(np.zeros((0, 4), np.float32), geometry, np)
    assert mapped.shape == (0, 4)
    assert mapped.dtype == np.float32
