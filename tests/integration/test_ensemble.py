"""The detect_ensemble on the real embedded server, compared with Ultralytics' own predict()."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException
from ultralytics import YOLO

from yolo26_triton.export.builder import BuildResult
from yolo26_triton.export.image_input import float_input_copy
from yolo26_triton.serving.launcher import EmbeddedServer

from ..jpeg_variants import undecodable_jpeg
from ..model_fixture import CONF, SCORE_TOLERANCE
from ..sample_images import SAMPLE_IMAGES
from .server_calls import infer

pytestmark = pytest.mark.integration


def unmatched_reference_boxes(ours: dict[str, np.ndarray], reference: Any) -> list[int]:
    """Indices of reference boxes that ours lacks: same class, every coordinate within 1 px and
    the score within :data:`SCORE_TOLERANCE`, each of our boxes used once."""
    unused = np.ones(len(ours["SCORES"]), dtype=bool)
    missing = []
    for index, (box, score, class_id) in enumerate(
        zip(
            reference.boxes.xyxy.numpy(),
            reference.boxes.conf.numpy(),
            reference.boxes.cls.numpy(),
            strict=True,
        )
    ):
        candidates = (
            unused
            & (ours["CLASS_IDS"] == int(class_id))
            & (np.abs(ours["BOXES"] - box).max(axis=1) <= 1.0)
            & (np.abs(ours["SCORES"] - score) <= SCORE_TOLERANCE)
        )
        if candidates.any():
            unused[np.argmax(candidates)] = False
        else:
            missing.append(index)
    return missing


@pytest.fixture(scope="module")
def ultralytics_onnx(built_repository: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> YOLO:
    """Ultralytics' own predict() on the ONNX graph the server runs, with the server's square letterbox.

    The served file takes UINT8 and divides by 255 inside the graph; predict() divides itself and
    feeds FP32, so it runs the same graph with its FP32 input back, as Ultralytics exported it.
    For an ONNX with dynamic axes, predict() letterboxes to the smallest stride-multiple
    rectangle (``auto=True``); the ensemble's input is always 640x640, as for a TensorRT engine
    or a static ONNX. Clearing the backend's ``dynamic`` flag makes predict() do the same.
    """
    exported = tmp_path_factory.mktemp("ultralytics") / "model.onnx"
    model = YOLO(str(float_input_copy(built_repository.onnx_path, exported)), task="detect")
    model.predict(str(SAMPLE_IMAGES[0]), verbose=False)
    model.predictor.model.dynamic = False
    return model


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_ensemble_matches_ultralytics_predict(
    server: EmbeddedServer, ultralytics_onnx: YOLO, protocol: str
) -> None:
    for image in SAMPLE_IMAGES:
        reference = ultralytics_onnx.predict(str(image), conf=CONF, iou=0.7, verbose=False)[0]
        ours = infer(server, protocol, image.read_bytes(), conf_threshold=CONF)
        assert 0 < len(reference.boxes) < 300, "the fixture model must produce boxes, not truncated"
        assert len(ours["SCORES"]) == len(reference.boxes), image.name
        assert unmatched_reference_boxes(ours, reference) == [], image.name
        assert list(ours["CLASS_NAMES"]) == [reference.names[int(c)].encode() for c in ours["CLASS_IDS"]]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_request_parameters_set_thresholds_per_request(server: EmbeddedServer, protocol: str) -> None:
    image = SAMPLE_IMAGES[0].read_bytes()
    loose = infer(server, protocol, image, conf_threshold=CONF)
    strict = infer(server, protocol, image, conf_threshold=0.55)
    capped = infer(server, protocol, image, conf_threshold=CONF, max_detections=3)
    assert 3 < len(strict["SCORES"]) < len(loose["SCORES"])
    assert strict["SCORES"].min() > 0.55
    np.testing.assert_array_equal(capped["SCORES"], loose["SCORES"][:3])


def test_defaults_are_ultralytics_predict_defaults(server: EmbeddedServer, ultralytics_onnx: YOLO) -> None:
    image = SAMPLE_IMAGES[1]
    reference = ultralytics_onnx.predict(str(image), verbose=False)[0]  # conf 0.25, iou 0.7, max_det 300
    ours = infer(server, "grpc", image.read_bytes())
    assert len(ours["SCORES"]) == len(reference.boxes)
    assert ours["SCORES"].min() > 0.25


@pytest.mark.parametrize(
    "parameters", [{"conf_threshold": 2.0}, {"iou_threshold": -1.0}, {"max_detections": 0}]
)
def test_bad_threshold_is_invalid_argument(server: EmbeddedServer, parameters: dict[str, Any]) -> None:
    with pytest.raises(InferenceServerException) as raised:
        infer(server, "grpc", SAMPLE_IMAGES[0].read_bytes(), **parameters)
    assert "INVALID_ARGUMENT" in str(raised.value.status())
    assert next(iter(parameters)) in raised.value.message()


def test_model_info_names_the_detector(server: EmbeddedServer, built_repository: BuildResult) -> None:
    outputs = infer(server, "http", SAMPLE_IMAGES[0].read_bytes())
    info = json.loads(outputs["MODEL_INFO"][0])
    assert info == {
        "model": "yolo26",
        "version": "1",
        "source": built_repository.metadata.source,
        "untrained": False,
        "head": "classic",
        "image_size": [1080, 810],
    }
    assert built_repository.metadata.names[0] == "person"  # read back from the exported ONNX metadata


def test_bad_images_fail_alone_in_a_batch(server: EmbeddedServer) -> None:
    """Refused by validate (header) or by preprocess (decoder): either way alone, neighbours answered."""
    good = [image.read_bytes() for image in SAMPLE_IMAGES]
    bad = [good[0][: len(good[0]) // 3], b"not an image at all", undecodable_jpeg()]
    requests = good + bad + good

    def attempt(image: bytes) -> dict[str, np.ndarray] | InferenceServerException:
        try:
            return infer(server, "grpc", image, conf_threshold=CONF)
        except InferenceServerException as error:
            return error

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        outcomes = list(pool.map(attempt, requests))
    for outcome in outcomes[:3] + outcomes[6:]:
        assert isinstance(outcome, dict) and len(outcome["SCORES"]) > 0
    truncated, garbage, undecodable = outcomes[3:6]
    assert isinstance(truncated, InferenceServerException) and "truncated JPEG" in truncated.message()
    assert isinstance(garbage, InferenceServerException) and "not a JPEG" in garbage.message()
    assert isinstance(undecodable, InferenceServerException)
    assert "cannot decode image" in undecodable.message()
    for error in (truncated, garbage, undecodable):
        assert "INVALID_ARGUMENT" in str(error.status())
    np.testing.assert_array_equal(outcomes[0]["BOXES"], outcomes[6]["BOXES"])


def test_server_loaded_the_cpu_profile(server: EmbeddedServer) -> None:
    client = httpclient.InferenceServerClient(server.options.http_url)
    try:
        backends = {
            model: client.get_model_config(model).get("backend") for model in ("preprocess", "yolo26")
        }
    finally:
        client.close()
    assert backends == {"preprocess": "python", "yolo26": "python"}
