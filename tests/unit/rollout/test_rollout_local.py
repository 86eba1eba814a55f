"""The in-process side: loading weights, predict() options, decoding and converting, lazy loading."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from ultralytics.engine.results import Results

from yolo26_triton.client import InvalidInputError
from yolo26_triton.export.repository import read_config
from yolo26_triton.ops.image_check import ImageLimits
from yolo26_triton.rollout.errors import LocalModelError
from yolo26_triton.rollout.local import (
    UltralyticsDetector,
    load_ultralytics,
    ultralytics_logs_to_stderr,
)


@pytest.mark.parametrize("weights", ["yolo26n.yaml", "model.onnx", "weights"])
def test_only_pt_weights_are_accepted(weights: str) -> None:
    with pytest.raises(LocalModelError, match=r"expected trained weights, a \.pt"):
        load_ultralytics(weights)


def test_unloadable_weights_fail_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(LocalModelError) as raised:
        load_ultralytics(str(broken))
    message = str(raised.value)
    assert "broken.pt" in message and "meaningless" in message and "\n" not in message


class FakeModel:
    """Stands in for ``ultralytics.YOLO``: answers predict() with a fixed ``Results``."""

    def __init__(self, boxes: torch.Tensor) -> None:
        self.boxes = boxes
        self.calls: list[tuple[tuple[int, ...], dict[str, object]]] = []

    def predict(self, image: np.ndarray, **options: object) -> list[Results]:
        self.calls.append((image.shape, options))
        return [Results(image, path="image0.jpg", names={0: "person", 5: "bus"}, boxes=self.boxes)]


def test_ultralytics_detector_decodes_predicts_and_converts(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buffer, format="JPEG")
    model = FakeModel(torch.tensor([[1.0, 2.0, 30.0, 40.0, 0.9, 5.0], [0.0, 0.0, 10.0, 10.0, 0.5, 0.0]]))
    result = UltralyticsDetector(model, {"conf": 0.3, "rect": False}).detect(buffer.getvalue())
    assert model.calls == [((48, 64, 3), {"verbose": False, "conf": 0.3, "rect": False})]
    assert result.xyxy.dtype == np.float32 and result.class_id.dtype == np.int32
    np.testing.assert_allclose(result.xyxy, [[1, 2, 30, 40], [0, 0, 10, 10]])
    np.testing.assert_allclose(result.confidence, [0.9, 0.5])
    assert result.class_names == ("bus", "person")
    assert result.image_size == (48, 64)


def test_ultralytics_detector_refuses_undecodable_bytes() -> None:
    with pytest.raises(InvalidInputError, match="cannot decode"):
        UltralyticsDetector(FakeModel(torch.zeros(0, 6)), {}).detect(b"not a jpeg")


def test_ultralytics_logs_go_to_stderr_meanwhile(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("ultralytics")
    logger.addHandler(handler)
    level = logger.level
    try:
        with ultralytics_logs_to_stderr():
            logger.warning("during")
        with ultralytics_logs_to_stderr(logging.ERROR):
            logger.warning("dropped")
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "during" in err and "dropped" not in err
    assert logger.level == level
    assert stream.getvalue().endswith("after\n") and "during" not in stream.getvalue()  # restored


def test_the_in_process_side_refuses_what_the_server_refuses() -> None:
    # LocalDetector checks images with ImageLimits()'s defaults: they must be the validate model's
    # configured limits, or the two sides would refuse different files.
    config = read_config(
        Path(__file__).resolve().parents[3] / "model_repository" / "validate" / "config.pbtxt"
    )
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    configured = ImageLimits(
        max_bytes=int(parameters["max_image_bytes"]),
        max_pixels=int(parameters["max_image_pixels"]),
        max_pixels_per_byte=float(parameters["max_image_pixels_per_byte"]),
    )
    assert configured == ImageLimits()
