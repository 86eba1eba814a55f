"""The wire contract of the ``detect_ensemble`` model: request tensors and parameters, response decoding.

The names, data types and limits are :mod:`yolo26_triton.contract`'s (the server imports the same);
this module turns them into tritonclient's arrays and back into :class:`Detections`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from yolo26_triton.client.errors import InvalidInputError, ServerError
from yolo26_triton.client.types import Detections
from yolo26_triton.contract import (
    BOXES,
    CLASS_IDS,
    CLASS_NAMES,
    CONF_THRESHOLD,
    ENSEMBLE_OUTPUTS,
    IMAGE,
    IOU_THRESHOLD,
    MAX_DETECTIONS,
    MODEL_INFO,
    SCORES,
    parameter_problem,
)

OUTPUTS = tuple(ENSEMBLE_OUTPUTS)


def encode_image(image: bytes) -> dict[str, npt.NDArray[np.uint8]]:
    """The request inputs for one encoded image.

    Raises:
        InvalidInputError: ``image`` is empty.
    """
    if not image:
        raise InvalidInputError("the image is empty: expected the bytes of a JPEG file")
    return {IMAGE: np.frombuffer(image, dtype=np.uint8)[None]}


def request_parameters(
    conf_threshold: float, iou_threshold: float, max_detections: int | None
) -> dict[str, float | int]:
    """The request parameters the server understands; ``max_detections=None`` keeps the server's default.

    Raises:
        InvalidInputError: A value is out of its range.
    """
    given = {CONF_THRESHOLD: conf_threshold, IOU_THRESHOLD: iou_threshold, MAX_DETECTIONS: max_detections}
    for name, value in given.items():
        problem = None if value is None else parameter_problem(name, value)
        if problem:
            raise InvalidInputError(f"{name}={value!r}: {problem}")
    parameters: dict[str, float | int] = {
        CONF_THRESHOLD: float(conf_threshold),
        IOU_THRESHOLD: float(iou_threshold),
    }
    if max_detections is not None:
        parameters[MAX_DETECTIONS] = max_detections
    return parameters


def decode_model_info(model_info: npt.NDArray[Any]) -> dict[str, Any]:
    """Parse ``MODEL_INFO`` (BYTES ``[1, 1]``, a JSON object).

    Raises:
        ServerError: The tensor is not one JSON object.
    """
    if model_info.size != 1:
        raise ServerError(f"MODEL_INFO must hold one JSON object, got shape {model_info.shape}")
    raw = model_info.reshape(-1)[0]
    try:
        record = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ServerError(f"MODEL_INFO is not JSON: {raw!r}") from error
    if not isinstance(record, dict):
        raise ServerError(f"MODEL_INFO must be a JSON object, got {record!r}")
    return record


def decode_detections(outputs: Mapping[str, npt.NDArray[Any]]) -> tuple[Detections, dict[str, Any]]:
    """Turn the response tensors of one request into :class:`Detections` and the ``MODEL_INFO`` record.

    Raises:
        ServerError: The response breaks the contract (shapes, dtypes or ``MODEL_INFO``).
    """
    model_info = decode_model_info(outputs[MODEL_INFO])
    try:
        boxes = _single(outputs, BOXES, np.float32)
        names = _single(outputs, CLASS_NAMES)
        version = model_info.get("version")
        source = model_info.get("source")
        detections = Detections(
            xyxy=boxes.reshape(-1, 4) if boxes.size == 0 else boxes,
            confidence=_single(outputs, SCORES, np.float32),
            class_id=_single(outputs, CLASS_IDS, np.int32),
            class_names=tuple(_text(name) for name in names.tolist()),
            image_size=_image_size(model_info),
            model_untrained=bool(model_info.get("untrained", False)),
            model_version=None if version is None else str(version),
            model_source=None if source is None else str(source),
        )
    except (ValueError, UnicodeDecodeError) as error:
        raise ServerError(f"the response breaks the detect contract: {error}") from error
    return detections, model_info


def _image_size(model_info: Mapping[str, Any]) -> tuple[int, int]:
    size = model_info.get("image_size")
    if not isinstance(size, list | tuple) or len(size) != 2:
        raise ValueError(f"MODEL_INFO image_size must be [height, width], got {size!r}")
    return size[0], size[1]  # Detections checks that both are positive integers


def _single(
    outputs: Mapping[str, npt.NDArray[Any]], name: str, empty_dtype: type[np.generic] | None = None
) -> npt.NDArray[Any]:
    """The one request's slice of output ``name``.

    tritonclient's HTTP decoder returns an empty tensor as float64 whatever its datatype, so an empty
    slice takes ``empty_dtype``; a non-empty one keeps its dtype for ``Detections`` to check.
    """
    array = outputs[name]
    if array.ndim < 1 or array.shape[0] != 1:
        raise ValueError(f"{name} must have a batch dimension of 1, got shape {array.shape}")
    first: npt.NDArray[Any] = array[0]
    if first.size == 0 and empty_dtype is not None:
        return first.astype(empty_dtype)
    return first


def _text(name: object) -> str:
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)
