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


def matched_fraction(ours: dict[str, np.ndarray], reference: Any) -> float:
    """Share of reference boxes that ours has too: same class, every coordinate within 1 px."""
    reference_boxes = reference.boxes.xyxy.numpy()
    reference_classes = reference.boxes.cls.numpy().astype(np.int32)
    matched = 0
    for box, class_id in zip(reference_boxes, reference_classes, strict=True):
        same_class = ours["CLASS_IDS"] == class_id
        close = np.abs(ours["BOXES"] - box).max(axis=1) <= 1.0
        matched += bool(np.any(same_class & close))
    return matched / max(len(reference_boxes), 1)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_ensemble_matches_ultralytics_predict(
    server: EmbeddedServer, built_repository: BuildResult, protocol: str
) -> None:
    reference_model = YOLO(str(built_repository.onnx_path), task="detect")
    for image in SAMPLE_IMAGES:
        reference = reference_model.predict(str(image), conf=0.25, iou=0.7, verbose=False)[0]
        ours = infer(server, protocol, image.read_bytes())
        print(image.name, len(reference.boxes), len(ours["SCORES"]), matched_fraction(ours, reference))
        assert len(reference.boxes) > 0
