"""Reading Triton's trace file (``serving/trace.py``): requests, refused requests, executions, overlap.

The entries below have the shape that the embedded tritonserver 2.51 writes with ``trace_file_args``
(tests/integration/test_quotas.py reads a real one): one entry per request naming its model and
parent, then entries of timestamps for the same id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from yolo26_triton.serving.trace import (
    Execution,
    TracedRequest,
    UnstartedRequest,
    executions,
    most_at_once,
    read_trace,
    trace_file_args,
)


def _stamps(**ns: int) -> list[dict[str, Any]]:
    return [{"name": name, "ns": value} for name, value in ns.items()]


def _write(tmp_path: Path, entries: object) -> Path:
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(entries))
    return path


def test_trace_flags_trace_every_request_into_the_file(tmp_path: Path) -> None:
    flags = trace_file_args(tmp_path / "t.json")
    assert "--trace-config=level=TIMESTAMPS" in flags and "--trace-config=rate=1" in flags
    assert f"--trace-config=triton,file={tmp_path / 't.json'}" in flags


def test_requests_that_ran_and_requests_that_never_did(tmp_path: Path) -> None:
    entries = [
        {"id": 1, "model_name": "detect_ensemble", "model_version": 1},
        {"id": 1, "timestamps": _stamps(REQUEST_START=0, QUEUE_START=5, COMPUTE_START=10, COMPUTE_END=90)},
        {"id": 2, "model_name": "yolo26", "model_version": 1, "parent_id": 1},
        # Timestamps may come in several entries for one id.
        {"id": 2, "timestamps": _stamps(REQUEST_START=20_000, QUEUE_START=20_000)},
        {"id": 2, "timestamps": _stamps(COMPUTE_START=3_020_000, COMPUTE_END=4_000_000)},
        # Refused by its full queue: queued, never computed.
        {"id": 3, "model_name": "preprocess", "model_version": 1, "parent_id": 1},
        {"id": 3, "timestamps": _stamps(REQUEST_START=30, QUEUE_START=31)},
        # An ensemble request that never started is not a composing model's refusal.
        {"id": 4, "model_name": "detect_ensemble", "model_version": 1},
        {"id": 4, "timestamps": _stamps(REQUEST_START=40, QUEUE_START=41)},
    ]
    trace = read_trace(_write(tmp_path, entries))
    assert set(trace.requests) == {
        TracedRequest("detect_ensemble", 5, 10, 90),
        TracedRequest("yolo26", 20_000, 3_020_000, 4_000_000),
    }
    assert trace.unstarted == (UnstartedRequest("preprocess", 31),)
    waited = next(r for r in trace.requests if r.model == "yolo26")
    assert waited.wait_ms == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a JSON trace file"),
        ('{"id": 1}', "expected a JSON array"),
        ('[{"model_name": "yolo26"}]', "each with an id"),
    ],
)
def test_a_file_that_is_no_trace_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "trace.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_trace(path)


def test_a_request_that_ran_without_its_model_is_refused(tmp_path: Path) -> None:
    entries = [{"id": 9, "timestamps": _stamps(QUEUE_START=1, COMPUTE_START=2, COMPUTE_END=3)}]
    with pytest.raises(ValueError, match="request 9 ran but has no model name"):
        read_trace(_write(tmp_path, entries))


def test_the_requests_of_one_batch_are_one_execution() -> None:
    batch = [TracedRequest("yolo26", queued, 100, 200) for queued in (1, 2, 3)]
    later = TracedRequest("yolo26", 150, 300, 400)
    other = TracedRequest("yolo26_end2end", 5, 100, 200)
    shared = TracedRequest("preprocess", 0, 50, 60)
    assert executions([*batch, later, other, shared], ["yolo26"]) == [
        Execution("yolo26", 100, 200),
        Execution("yolo26", 300, 400),
    ]
    assert executions([*batch, other], ["yolo26", "yolo26_end2end"]) == [
        Execution("yolo26", 100, 200),
        Execution("yolo26_end2end", 100, 200),
    ]


def test_most_at_once_counts_overlap_and_an_end_frees_before_a_start() -> None:
    assert most_at_once([]) == 0
    runs = [Execution("a", 0, 10), Execution("b", 5, 15), Execution("a", 6, 8), Execution("b", 20, 30)]
    assert most_at_once(runs) == 3
    back_to_back = [Execution("a", 0, 10), Execution("a", 10, 20), Execution("b", 20, 30)]
    assert most_at_once(back_to_back) == 1
