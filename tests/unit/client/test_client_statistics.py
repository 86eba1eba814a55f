"""ModelStatistics from the statistics extension, in its HTTP JSON and gRPC JSON shapes."""

import json

import pytest
from google.protobuf.json_format import MessageToJson, ParseDict
from tritonclient.grpc import service_pb2

from yolo26_triton.client.types import BatchStatistics, ModelStatistics, parse_statistics

MS = 1_000_000  # ns per ms

# What GET v2/models/stats returns (numbers), for an ensemble and two of its steps after 12 requests.
HTTP_REPLY = {
    "model_stats": [
        {
            "name": "detect_ensemble",
            "version": "1",
            "last_inference": 1735689600123,
            "inference_count": 12,
            "execution_count": 12,
            "inference_stats": {
                "success": {"count": 12, "ns": 12 * 25 * MS},
                "fail": {"count": 1, "ns": 2 * MS},
                "queue": {"count": 12, "ns": 12 * MS // 2},
                "compute_input": {"count": 12, "ns": 12 * 2 * MS},
                "compute_infer": {"count": 12, "ns": 12 * 20 * MS},
                "compute_output": {"count": 12, "ns": 12 * 3 * MS},
                "cache_hit": {"count": 0, "ns": 0},
                "cache_miss": {"count": 0, "ns": 0},
            },
            "batch_stats": [],
            "memory_usage": [],
        },
        {
            "name": "yolo26",
            "version": "1",
            "last_inference": 1735689600120,
            "inference_count": 12,
            "execution_count": 4,
            "inference_stats": {
                "success": {"count": 12, "ns": 12 * 15 * MS},
                "fail": {"count": 0, "ns": 0},
                "queue": {"count": 12, "ns": 12 * 4 * MS},
                "compute_input": {"count": 4, "ns": 4 * MS},
                "compute_infer": {"count": 4, "ns": 4 * 10 * MS},
                "compute_output": {"count": 4, "ns": 2 * MS},
                "cache_hit": {"count": 0, "ns": 0},
                "cache_miss": {"count": 0, "ns": 0},
            },
            "batch_stats": [
                {
                    "batch_size": 4,
                    "compute_input": {"count": 2, "ns": 2 * MS},
                    "compute_infer": {"count": 2, "ns": 2 * 12 * MS},
                    "compute_output": {"count": 2, "ns": MS},
                },
                {
                    "batch_size": 2,
                    "compute_input": {"count": 2, "ns": 2 * MS},
                    "compute_infer": {"count": 2, "ns": 2 * 8 * MS},
                    "compute_output": {"count": 2, "ns": MS},
                },
            ],
            "memory_usage": [],
        },
        {
            "name": "preprocess",
            "version": "1",
            "last_inference": 0,
            "inference_count": 0,
            "execution_count": 0,
            "inference_stats": {
                "success": {"count": 0, "ns": 0},
                "fail": {"count": 0, "ns": 0},
                "queue": {"count": 0, "ns": 0},
                "compute_input": {"count": 0, "ns": 0},
                "compute_infer": {"count": 0, "ns": 0},
                "compute_output": {"count": 0, "ns": 0},
                "cache_hit": {"count": 0, "ns": 0},
                "cache_miss": {"count": 0, "ns": 0},
            },
            "batch_stats": [],
            "memory_usage": [],
        },
    ]
}


def grpc_reply() -> dict[str, object]:
    """The same reply as tritonclient.grpc.aio gives it with as_json=True: from the real protobuf."""
    message = ParseDict(HTTP_REPLY, service_pb2.ModelStatisticsResponse())
    return json.loads(MessageToJson(message, preserving_proto_field_name=True))  # type: ignore[no-any-return]


def test_grpc_json_uses_strings_and_omits_zeros() -> None:
    ensemble, _, preprocess = grpc_reply()["model_stats"]  # type: ignore[misc]
    assert ensemble["inference_count"] == "12"
    assert ensemble["inference_stats"]["cache_hit"] == {}
    assert "inference_count" not in preprocess


@pytest.mark.parametrize("reply", [HTTP_REPLY, grpc_reply()], ids=["http", "grpc"])
def test_both_shapes_parse_to_the_same_statistics(reply: dict[str, object]) -> None:
    ensemble, yolo26, preprocess = parse_statistics(reply)

    assert ensemble == ModelStatistics(
        name="detect_ensemble",
        version="1",
        last_inference_ms=1735689600123,
        inference_count=12,
        execution_count=12,
        success_count=12,
        fail_count=1,
        request_ms=25.0,
        queue_ms=0.5,
        compute_input_ms=2.0,
        compute_infer_ms=20.0,
        compute_output_ms=3.0,
        batch_stats=(),
    )
    assert ensemble.average_batch_size == 1.0

    assert yolo26.average_batch_size == 3.0
    assert (yolo26.queue_ms, yolo26.compute_input_ms, yolo26.compute_infer_ms, yolo26.compute_output_ms) == (
        4.0,
        1.0,
        10.0,
        0.5,
    )
    assert yolo26.batch_stats == (
        BatchStatistics(
            batch_size=2, execution_count=2, compute_input_ms=1.0, compute_infer_ms=8.0, compute_output_ms=0.5
        ),
        BatchStatistics(
            batch_size=4,
            execution_count=2,
            compute_input_ms=1.0,
            compute_infer_ms=12.0,
            compute_output_ms=0.5,
        ),
    )

    assert (preprocess.inference_count, preprocess.success_count, preprocess.last_inference_ms) == (0, 0, 0)
    assert preprocess.average_batch_size == 0.0
    assert preprocess.queue_ms == preprocess.compute_infer_ms == 0.0


def test_empty_reply() -> None:
    assert parse_statistics({}) == ()
    assert parse_statistics({"model_stats": []}) == ()
