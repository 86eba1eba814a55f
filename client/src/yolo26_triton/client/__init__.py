"""Async client for YOLO26 object detection on Triton: JPEG bytes in, boxes out.

Example::

    config = TritonConfig.from_env()
    client = TritonClient(config)
    if await client.is_healthy():
        result = await client.detect(image_bytes)
        for det in result.detections:
            print(f"{det.class_name}: {det.confidence:.2f}")
    await client.close()

Modules: ``config`` (settings from ``TRITON_*``), ``errors`` (the exception hierarchy), ``retry``,
``transport`` (gRPC / HTTP), ``codec`` (the model's tensors), ``types`` (returned values),
``client`` (:class:`TritonClient`), ``annotate`` (drawing boxes with Pillow).
"""

from yolo26_triton.client.client import TritonClient
from yolo26_triton.client.config import TritonConfig
from yolo26_triton.client.errors import (
    AccessDeniedError,
    InferenceTimeoutError,
    InvalidInputError,
    ModelNotReadyError,
    ServerError,
    ServerUnavailableError,
    TritonError,
)
from yolo26_triton.client.types import (
    BatchStatistics,
    Detection,
    DetectionResult,
    Detections,
    ModelStatistics,
    ModelStatus,
    ModelVersionState,
)

__all__ = [
    "AccessDeniedError",
    "BatchStatistics",
    "Detection",
    "DetectionResult",
    "Detections",
    "InferenceTimeoutError",
    "InvalidInputError",
    "ModelNotReadyError",
    "ModelStatistics",
    "ModelStatus",
    "ModelVersionState",
    "ServerError",
    "ServerUnavailableError",
    "TritonClient",
    "TritonConfig",
    "TritonError",
]
