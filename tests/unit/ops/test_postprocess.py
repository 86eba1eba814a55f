"""The postprocess model's batch work (NumPy here; the same code runs on CuPy in the GPU profile)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import model_config_pb2

from yolo26_triton.export.repository import read_config
from yolo26_triton.ops.detections import DetectionSettings, detections_in_original_pixels
from yolo26_triton.ops.errors import UnknownDetectorError
from yolo26_triton.ops.metadata import (
    WARMUP_DETECTOR_ID,
    DetectorCatalog,
    DetectorMetadata,
)
from yolo26_triton.ops.postprocess import (
    Postprocessor,
    RequestTensors,
    synthetic_classic_output,
    synthetic_nms_free_output,
    to_host,
)

from ...raw_outputs import classic_head, nms_free_head

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"
SIZE = 640
CLASSIC = DetectorMetadata(
    "yolo26", "1", "test.pt", False, "classic", SIZE, tuple(f"c{i}" for i in range(80))
)
NMS_FREE = DetectorMetadata("yolo26_end2end", "1", "test.pt", False, "nms_free", SIZE, CLASSIC.names)


@pytest.fixture
def postprocessor(tmp_path: Path) -> Postprocessor:
    for metadata in (CLASSIC, NMS_FREE):
        folder = tmp_path / metadata.model / metadata.version
        folder.mkdir(parents=True)
        metadata.write(folder / "metadata.json")
    return Postprocessor(DetectorCatalog(tmp_path), SIZE, np)


def request(
    raw: np.ndarray, size: tuple[int, int], metadata: DetectorMetadata | int, **parameters: object
) -> RequestTensors:
    identifier = metadata if isinstance(metadata, int) else metadata.detector_id
    return RequestTensors(
        raw=raw[None],
        original_size=np.array([size], np.int32),
        detector_id=np.array([[identifier]], np.int32),
        parameters=json.dumps(parameters),
    )


def test_a_mixed_batch_equals_each_request_alone(postprocessor: Postprocessor) -> None:
    """Both heads, different thresholds and image sizes in one execute: each request as if alone."""
    cases = [
        (classic_head(seed=1), (1080, 810), CLASSIC, {}),
        (nms_free_head(seed=2), (720, 1280), NMS_FREE, {"conf_threshold": 0.1}),
        (classic_head(seed=3), (600, 512), CLASSIC, {"conf_threshold": 0.3, "iou_threshold": 0.5}),
        (classic_head(seed=4), (853, 1280), CLASSIC, {"max_detections": 7}),
        (nms_free_head(seed=5), (1, 5000), NMS_FREE, {"max_detections": 3}),
    ]
    results = postprocessor.run(
        [request(raw, size, metadata, **parameters) for raw, size, metadata, parameters in cases]
    )

    for (raw, size, metadata, parameters), result in zip(cases, results, strict=True):
        assert not isinstance(result, Exception), result
        boxes, scores, class_ids = detections_in_original_pixels(
            raw, size, DetectionSettings(**parameters), SIZE, np
        )
        assert len(scores) > 0
        np.testing.assert_array_equal(result["BOXES"], boxes[None])
        np.testing.assert_array_equal(result["SCORES"], scores[None])
        np.testing.assert_array_equal(result["CLASS_IDS"], class_ids[None])
        assert result["CLASS_NAMES"].tolist() == [[f"c{i}".encode() for i in class_ids]]
        info = json.loads(result["MODEL_INFO"][0, 0])
        assert (info["model"], info["head"], info["image_size"]) == (
            metadata.model,
            metadata.head,
            list(size),
        )
        assert (result["BOXES"].dtype, result["SCORES"].dtype, result["CLASS_IDS"].dtype) == (
            np.float32,
            np.float32,
            np.int32,
        )


def test_bad_requests_fail_alone(postprocessor: Postprocessor) -> None:
    good = request(classic_head(seed=1), (480, 640), CLASSIC)
    two_images = RequestTensors(
        np.stack([classic_head(seed=1)] * 2),
        np.array([[480, 640]] * 2, np.int32),
        np.array([[CLASSIC.detector_id]] * 2, np.int32),
        "",
    )
    results = postprocessor.run(
        [
            request(classic_head(seed=1), (480, 640), CLASSIC, conf_threshold=2),
            good,
            request(classic_head(seed=1), (480, 640), 12345),
            two_images,
            request(np.zeros((3, 7), np.float32), (480, 640), CLASSIC),
            good,
        ]
    )
    assert isinstance(results[0], ValueError) and "conf_threshold" in str(results[0])
    assert isinstance(results[2], UnknownDetectorError)
    assert isinstance(results[3], ValueError) and "one image per request" in str(results[3])
    assert isinstance(results[4], ValueError) and "neither the classic head" in str(results[4])
    assert not isinstance(results[1], Exception) and not isinstance(results[5], Exception)
    np.testing.assert_array_equal(results[1]["BOXES"], results[5]["BOXES"])


def warmup_samples(config_path: Path) -> list[list[RequestTensors]]:
    """The config's ``model_warmup`` samples as Triton sends them: ``batch_size`` requests of one image."""
    config = read_config(config_path)
    samples = []
    for sample in config.model_warmup:
        tensors = {}
        for name, data in sample.inputs.items():
            dtype = {"TYPE_FP32": np.float32, "TYPE_INT32": np.int32}[
                model_config_pb2.DataType.Name(data.data_type)
            ]
            shape = (1, *data.dims)
            if data.HasField("input_data_file"):
                array = np.fromfile(REPOSITORY / "postprocess" / "warmup" / data.input_data_file, dtype)
                tensors[name] = array.reshape(shape)
            else:
                assert data.zero_data
                tensors[name] = np.zeros(shape, dtype)
        requests = [
            RequestTensors(tensors["output0"], tensors["ORIGINAL_SIZE"], tensors["output_detector_id"], "")
            for _ in range(sample.batch_size)
        ]
        samples.append(requests)
    return samples


@pytest.mark.parametrize("config", ["config.pbtxt", "configs/cpu.pbtxt"])
def test_warmup_samples_run_the_whole_nms(postprocessor: Postprocessor, config: str) -> None:
    samples = warmup_samples(REPOSITORY / "postprocess" / config)
    assert [len(sample) for sample in samples] == [16, 16]
    classic, nms_free = (postprocessor.run(sample) for sample in samples)
    for result in [*classic, *nms_free]:
        assert not isinstance(result, Exception), result
    kept = classic[0]["SCORES"].shape[1]
    assert 1 < kept < 512  # candidates above the threshold, and some suppressed: NMS really ran
    assert nms_free[0]["SCORES"].shape[1] == 150  # the rows above the default threshold
    assert json.loads(classic[0]["MODEL_INFO"][0, 0])["model"] == "model_warmup"
    warmup = REPOSITORY / "postprocess" / "warmup"
    np.testing.assert_array_equal(
        np.fromfile(warmup / "output0_84x512", np.float32).reshape(84, 512), synthetic_classic_output()
    )
    np.testing.assert_array_equal(
        np.fromfile(warmup / "output0_300x6", np.float32).reshape(300, 6), synthetic_nms_free_output()
    )


def test_both_profiles_warm_up_alike() -> None:
    gpu, cpu = (
        read_config(REPOSITORY / "postprocess" / name) for name in ("config.pbtxt", "configs/cpu.pbtxt")
    )
    assert gpu.model_warmup == cpu.model_warmup
    assert WARMUP_DETECTOR_ID == 0  # what zero_data sends


def test_to_host_keeps_host_arrays() -> None:
    arrays = [np.arange(3), np.array([[1, 2]], np.int32)]
    host = to_host(arrays, np)
    for before, after in zip(arrays, host, strict=True):
        np.testing.assert_array_equal(before, after)
