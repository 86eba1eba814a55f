"""The detect contract: request encoding, and decoding real tritonclient InferResult objects.

The responses are built the way Triton sends them (a gRPC ModelInferResponse protobuf with raw output
contents; an HTTP JSON header followed by binary tensors) and read back by tritonclient's own
InferResult classes, so the decoding runs on exactly what the transports hand over.
"""

import json
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2
from tritonclient.utils import np_to_triton_dtype, serialize_byte_tensor

from yolo26_triton.client import InvalidInputError, ServerError
from yolo26_triton.client.codec import (
    OUTPUTS,
    decode_detections,
    decode_model_info,
    encode_image,
    request_parameters,
)
from yolo26_triton.client.transport import outputs_as_numpy

MODEL_INFO = {
    "model": "yolo26",
    "version": "1",
    "source": "yolo26n.pt",
    "untrained": False,
    "head": "classic",
    "image_size": [480, 640],
}


def response_tensors(count: int, model_info: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    names = ["person", "bicycle", "car", "dog"]
    return {
        "BOXES": rng.uniform(0, 400, (1, count, 4)).astype(np.float32),
        "SCORES": rng.uniform(0.5, 1, (1, count)).astype(np.float32),
        "CLASS_IDS": np.arange(count, dtype=np.int32)[None] % 4,
        "CLASS_NAMES": np.array([[names[i % 4].encode() for i in range(count)]], dtype=np.object_).reshape(
            1, count
        ),
        "MODEL_INFO": np.array([[json.dumps(model_info or MODEL_INFO).encode()]], dtype=np.object_),
    }


def raw_bytes(array: np.ndarray) -> bytes:
    if array.dtype == np.object_:
        return bytes(serialize_byte_tensor(array).item()) if array.size else b""
    return array.tobytes()


def grpc_result(tensors: dict[str, np.ndarray]) -> grpcclient.InferResult:
    response = service_pb2.ModelInferResponse(model_name="detect_ensemble", model_version="1")
    for name, array in tensors.items():
        output = response.outputs.add()
        output.name, output.datatype = name, np_to_triton_dtype(array.dtype)
        output.shape.extend(array.shape)
        response.raw_output_contents.append(raw_bytes(array))
    return grpcclient.InferResult(response)


def http_result(tensors: dict[str, np.ndarray]) -> httpclient.InferResult:
    blobs = {name: raw_bytes(array) for name, array in tensors.items()}
    header = {
        "model_name": "detect_ensemble",
        "model_version": "1",
        "outputs": [
            {
                "name": name,
                "datatype": np_to_triton_dtype(array.dtype),
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(blobs[name])},
            }
            for name, array in tensors.items()
        ],
    }
    header_bytes = json.dumps(header).encode()
    body = header_bytes + b"".join(blobs.values())
    return httpclient.InferResult.from_response_body(body, header_length=len(header_bytes))


RESULT_BUILDERS = pytest.mark.parametrize("build", [grpc_result, http_result], ids=["grpc", "http"])


def test_encode_image_is_one_uint8_row_of_the_file_bytes() -> None:
    jpeg = b"\xff\xd8\xff\xe0fake"
    inputs = encode_image(jpeg)
    assert list(inputs) == ["IMAGE"]
    assert inputs["IMAGE"].dtype == np.uint8
    assert inputs["IMAGE"].shape == (1, len(jpeg))
    assert inputs["IMAGE"].tobytes() == jpeg


def test_empty_image_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        encode_image(b"")


def test_request_parameters() -> None:
    assert request_parameters(0.25, 0.7, None) == {"conf_threshold": 0.25, "iou_threshold": 0.7}
    assert request_parameters(0, 1, 300) == {
        "conf_threshold": 0.0,
        "iou_threshold": 1.0,
        "max_detections": 300,
    }
    assert type(request_parameters(1, 0, 1)["conf_threshold"]) is float


@pytest.mark.parametrize(
    ("conf", "iou", "max_detections", "message"),
    [
        (1.5, 0.7, None, "conf_threshold=1.5"),
        (-0.1, 0.7, None, "conf_threshold=-0.1"),
        (True, 0.7, None, "conf_threshold=True"),
        (0.5, 2, None, "iou_threshold=2"),
        (0.5, 0.7, 0, "max_detections=0"),
        (0.5, 0.7, 301, "max_detections=301"),
        (0.5, 0.7, 10.0, "max_detections=10.0"),
        (0.5, 0.7, True, "max_detections=True"),
    ],
)
def test_bad_request_parameters(conf: float, iou: float, max_detections: int | None, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        request_parameters(conf, iou, max_detections)


@RESULT_BUILDERS
def test_decodes_a_response(build: Any) -> None:
    tensors = response_tensors(5)
    detections, model_info = decode_detections(outputs_as_numpy(build(tensors), OUTPUTS))

    assert model_info == MODEL_INFO
    assert len(detections) == 5
    np.testing.assert_array_equal(detections.xyxy, tensors["BOXES"][0])
    np.testing.assert_array_equal(detections.confidence, tensors["SCORES"][0])
    np.testing.assert_array_equal(detections.class_id, tensors["CLASS_IDS"][0])
    assert detections.class_names == ("person", "bicycle", "car", "dog", "person")
    assert detections.image_size == (480, 640)
    assert (detections.model_untrained, detections.model_version, detections.model_source) == (
        False,
        "1",
        "yolo26n.pt",
    )
    assert [det.class_name for det in detections] == list(detections.class_names)


@RESULT_BUILDERS
def test_decodes_a_response_without_detections(build: Any) -> None:
    detections, _ = decode_detections(outputs_as_numpy(build(response_tensors(0)), OUTPUTS))
    assert len(detections) == 0
    assert detections.xyxy.shape == (0, 4)
    assert (detections.xyxy.dtype, detections.confidence.dtype, detections.class_id.dtype) == (
        np.float32,
        np.float32,
        np.int32,
    )


@RESULT_BUILDERS
def test_untrained_model_and_utf8_names(build: Any) -> None:
    tensors = response_tensors(1, {**MODEL_INFO, "untrained": True, "source": "yolo26n.yaml", "version": 3})
    tensors["CLASS_NAMES"] = np.array([["café".encode()]], dtype=np.object_)
    detections, _ = decode_detections(outputs_as_numpy(build(tensors), OUTPUTS))
    assert detections.model_untrained is True
    assert (detections.model_version, detections.model_source) == ("3", "yolo26n.yaml")
    assert detections.class_names == ("café",)


@RESULT_BUILDERS
def test_a_missing_output_is_a_server_error(build: Any) -> None:
    tensors = response_tensors(2)
    del tensors["MODEL_INFO"]
    with pytest.raises(ServerError, match="no output 'MODEL_INFO'"):
        outputs_as_numpy(build(tensors), OUTPUTS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BOXES": np.zeros((1, 2, 4), np.float64)}, "xyxy must have dtype float32"),
        ({"CLASS_IDS": np.zeros((1, 2), np.int64)}, "class_id must have dtype int32"),
        ({"SCORES": np.zeros((1, 3), np.float32)}, r"confidence must have shape \(2,\)"),
        ({"BOXES": np.zeros((2, 2, 4), np.float32)}, "BOXES must have a batch dimension of 1"),
        ({"MODEL_INFO": np.array([[b"{not json"]], dtype=np.object_)}, "MODEL_INFO is not JSON"),
        ({"MODEL_INFO": np.array([[b"[1, 2]"]], dtype=np.object_)}, "MODEL_INFO must be a JSON object"),
        (
            {"MODEL_INFO": np.array([[b"{}", b"{}"]], dtype=np.object_)},
            "MODEL_INFO must hold one JSON object",
        ),
        (
            {
                "MODEL_INFO": np.array(
                    [[json.dumps({**MODEL_INFO, "image_size": 640}).encode()]], dtype=np.object_
                )
            },
            "image_size must be",
        ),
    ],
)
def test_contract_violations_are_server_errors(change: dict[str, np.ndarray], message: str) -> None:
    tensors = {**response_tensors(2), **change}
    with pytest.raises(ServerError, match=message):
        decode_detections(tensors)


def test_decode_model_info_accepts_a_flat_tensor() -> None:
    assert decode_model_info(np.array([json.dumps(MODEL_INFO).encode()], dtype=np.object_)) == MODEL_INFO
