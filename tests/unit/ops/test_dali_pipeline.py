"""The DALI letterbox pipeline (CPU decoder) against Ultralytics' ``LetterBox`` on real JPEGs."""

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from nvidia.dali import Pipeline
from nvidia.dali import backend as dali_backend

from yolo26_triton.contract import MAX_BATCH_SIZE
from yolo26_triton.ops.dali_pipeline import INPUT_NAME, build_pipeline
from yolo26_triton.ops.letterbox import PAD_VALUE, LetterboxGeometry

from ...letterbox_reference import max_grey_level_difference, ultralytics_chw
from ...sample_images import SAMPLE_IMAGES
from ...server_dali import autoserialize

DALI_FILE = Path(__file__).resolve().parents[3] / "model_repository" / "preprocess" / "1" / "dali.py"

SIZE = 640
BATCH_SIZE = 4


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    pipe = build_pipeline(decoder="cpu", size=SIZE, batch_size=BATCH_SIZE)
    pipe.build()
    yield pipe


def run(pipe: Pipeline, encoded: list[bytes]) -> list[tuple[np.ndarray, np.ndarray]]:
    pipe.feed_input(INPUT_NAME, [np.frombuffer(data, np.uint8) for data in encoded])
    images, sizes = pipe.run()
    return [(np.asarray(images[index]), np.asarray(sizes[index])) for index in range(len(encoded))]


def synthetic_jpeg(height: int, width: int, seed: int = 0) -> bytes:
    """Smooth random JPEG (sharp noise would measure JPEG chroma details, not the letterbox)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    if min(height, width) > 8:
        image = cv2.GaussianBlur(image, (0, 0), 3)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return encoded.tobytes()


def solid_jpeg(height: int, width: int) -> bytes:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = (30, 200, 60)  # BGR, far from the padding grey
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    return encoded.tobytes()


@pytest.mark.parametrize("path", SAMPLE_IMAGES, ids=lambda path: path.name)
def test_sample_image_matches_ultralytics_letterbox(pipeline: Pipeline, path: Path) -> None:
    ((pixels, original_size),) = run(pipeline, [path.read_bytes()])
    bgr = cv2.imread(str(path))

    assert pixels.dtype == np.uint8  # grey levels: the detector's graph divides by 255
    assert pixels.shape == (3, SIZE, SIZE)
    assert original_size.tolist() == list(bgr.shape[:2])
    assert max_grey_level_difference(pixels, ultralytics_chw(bgr)) <= 1


@pytest.mark.parametrize(
    ("height", "width"),
    [
        (40, 1500),
        (1500, 40),
        (1, 1),
        (3, 2000),
        (333, 517),
        (853, 1280),
        (1280, 853),
    ],
)
def test_synthetic_jpeg_matches_ultralytics_letterbox(pipeline: Pipeline, height: int, width: int) -> None:
    encoded = synthetic_jpeg(height, width)
    ((pixels, original_size),) = run(pipeline, [encoded])
    bgr = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)

    assert pixels.dtype == np.uint8
    assert pixels.shape == (3, SIZE, SIZE)
    assert original_size.dtype == np.int32
    assert original_size.tolist() == [height, width]
    assert max_grey_level_difference(pixels, ultralytics_chw(bgr)) <= 1


@pytest.mark.parametrize(
    ("height", "width"),
    [
        (1080, 810),
        (720, 1280),
        (40, 1500),
        (1500, 40),
        (1, 1),
        (5, 1279),
        (333, 517),
        (853, 1280),
        (1442, 2560),
        (5, 1280),
    ],
)
def test_image_lands_where_letterbox_geometry_says(pipeline: Pipeline, height: int, width: int) -> None:
    """The postprocess maps boxes back with LetterboxGeometry: the pipeline must place the image there."""
    ((pixels, _),) = run(pipeline, [solid_jpeg(height, width)])
    grey = pixels.astype(np.int32)
    padding = (np.abs(grey - PAD_VALUE) <= 1).all(axis=0)
    rows = np.nonzero(~padding.all(axis=1))[0]
    columns = np.nonzero(~padding.all(axis=0))[0]
    geometry = LetterboxGeometry.for_image(height, width, SIZE)

    assert (rows[0], rows[-1] + 1) == (geometry.top, geometry.top + geometry.resized_height)
    assert (columns[0], columns[-1] + 1) == (geometry.left, geometry.left + geometry.resized_width)
    assert (grey[:, padding] == PAD_VALUE).all()


def test_ragged_batch_equals_one_image_at_a_time(pipeline: Pipeline) -> None:
    encoded = [path.read_bytes() for path in SAMPLE_IMAGES] + [synthetic_jpeg(40, 1500)]
    assert len(encoded) == BATCH_SIZE
    batched = run(pipeline, encoded)
    for data, (pixels, original_size) in zip(encoded, batched, strict=True):
        ((alone_pixels, alone_size),) = run(pipeline, [data])
        np.testing.assert_array_equal(pixels, alone_pixels)
        np.testing.assert_array_equal(original_size, alone_size)


def test_dali_py_autoserializes_the_gpu_pipeline(tmp_path: Path) -> None:
    """``preprocess/1/dali.py`` as the DALI backend loads it: serialized at load time, no GPU needed."""
    data = autoserialize(DALI_FILE, tmp_path / "model.dali").read_bytes()

    assert INPUT_NAME.encode() in data  # the external source Triton feeds by name
    assert b"mixed" in data  # nvJPEG decoder
    assert b"experimental__decoders__Image" in data  # applies EXIF orientation in DALI 2.1.1 too
    # Parse it back the way Pipeline.deserialize does, up to (not including) the build, which needs a GPU.
    parsed = dali_backend.Pipeline(data, dali_backend._PipelineParams())
    assert parsed.requires_gpu()
    assert parsed.params().max_batch_size == MAX_BATCH_SIZE


@pytest.mark.skipif(dali_backend.GetCUDADeviceCount() == 0, reason="Pipeline.deserialize builds: needs a GPU")
def test_autoserialized_gpu_pipeline_deserializes_on_a_gpu(tmp_path: Path) -> None:
    path = autoserialize(DALI_FILE, tmp_path / "model.dali")
    pipe = Pipeline.deserialize(filename=str(path), device_id=0)
    assert pipe.max_batch_size == MAX_BATCH_SIZE


def test_serialized_cpu_pipeline_round_trips(pipeline: Pipeline, tmp_path: Path) -> None:
    """The same graph, serialized and read back with Pipeline.deserialize, gives identical outputs."""
    path = tmp_path / "cpu.dali"
    build_pipeline(decoder="cpu", size=SIZE, batch_size=2).serialize(filename=str(path))
    restored = Pipeline.deserialize(filename=str(path))
    assert restored.max_batch_size == 2

    encoded = SAMPLE_IMAGES[1].read_bytes()
    ((pixels, original_size),) = run(restored, [encoded])
    ((expected_pixels, expected_size),) = run(pipeline, [encoded])
    np.testing.assert_array_equal(pixels, expected_pixels)
    np.testing.assert_array_equal(original_size, expected_size)
