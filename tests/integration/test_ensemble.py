"""The detect_ensemble on the real embedded server, compared with Ultralytics' own predict()."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException
from ultralytics import YOLO

from yolo26_triton.builder import BuildResult
from yolo26_triton.server import EmbeddedServer

from ..sample_images import SAMPLE_IMAGES

pytestmark = pytest.mark.integration
OUTPUTS = ("BOXES", "SCORES", "CLASS_IDS", "CLASS_NAMES", "MODEL_INFO")
PROTOCOLS = {"http": httpclient, "grpc": grpcclient}
CONF = 0.45
"""Above this the fixture model keeps fewer than 300 boxes per sample image after NMS, so no box
sits at the max_det cut, where scores that differ by 1e-4 between two letterbox resizes could swap
the last place."""


def infer(server: EmbeddedServer, protocol: str, image: bytes, **parameters: Any) -> dict[str, np.ndarray]:
    """One detect_ensemble request with tritonclient's plain synchronous API."""
    module = PROTOCOLS[protocol]
    url = server.options.http_url if protocol == "http" else server.options.grpc_url
    client = module.InferenceServerClient(url)
    try:
        data = np.frombuffer(image, dtype=np.uint8)[None]
        tensor = module.InferInput("IMAGE", list(data.shape), "UINT8")
        tensor.set_data_from_numpy(data)
        outputs = [module.InferRequestedOutput(name) for name in OUTPUTS]
        result = client.infer("detect_ensemble", [tensor], outputs=outputs, parameters=parameters or None)
        return {name: result.as_numpy(name)[0] for name in OUTPUTS}
    finally:
        client.close()


SCORE_TOLERANCE = 0.01
"""Scores of one box differ by up to 0.005 between the two pipelines: DALI (float) and OpenCV
(fixed point) resize to within one grey level, and the fixture's scaled classifier amplifies it."""


def unmatched_reference_boxes(ours: dict[str, np.ndarray], reference: Any) -> list[int]:
    """Indices of reference boxes that ours lacks: same class, every coordinate within 1 px and
    the score within :data:`SCORE_TOLERANCE`, each of our boxes used once."""
    unused = np.ones(len(ours["SCORES"]), dtype=bool)
    missing = []
    for index, (box, score, class_id) in enumerate(
        zip(reference.boxes.xyxy.numpy(), reference.boxes.conf.numpy(), reference.boxes.cls.numpy(), strict=True)
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
def ultralytics_onnx(built_repository: BuildResult) -> YOLO:
    """Ultralytics' own predict() on the ONNX file the server runs, with the server's square letterbox.

    For an ONNX with dynamic axes, predict() letterboxes to the smallest stride-multiple
    rectangle (``auto=True``); the ensemble's input is always 640x640, as for a TensorRT engine
    or a static ONNX. Clearing the backend's ``dynamic`` flag makes predict() do the same.
    """
    model = YOLO(str(built_repository.onnx_path), task="detect")
    model.predict(str(SAMPLE_IMAGES[0]), verbose=False)
    model.predictor.model.dynamic = False
    return model


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_ensemble_matches_ultralytics_predict(server: EmbeddedServer, ultralytics_onnx: YOLO, protocol: str) -> None:
    for image in SAMPLE_IMAGES:
        reference = ultralytics_onnx.predict(str(image), conf=CONF, iou=0.7, verbose=False)[0]
        ours = infer(server, protocol, image.read_bytes(), conf_threshold=CONF)
        assert 0 < len(reference.boxes) < 300, "the fixture model must produce boxes, not truncated"
        assert len(ours["SCORES"]) == len(reference.boxes), image.name
        assert unmatched_reference_boxes(ours, reference) == [], image.name
        assert list(ours["CLASS_NAMES"]) == [reference.names[int(c)].encode() for c in ours["CLASS_IDS"]]
