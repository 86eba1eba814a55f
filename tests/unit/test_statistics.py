"""The project's one percentile, and the server's statistics over a measurement window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from yolo26_triton.client import ModelStatistics
from yolo26_triton.tools.statistics import StepTimes, percentile, step_times

MS = 1_000_000  # ns per ms


def test_percentiles_interpolate_between_samples() -> None:
    values = [50.0, 10.0, 40.0, 20.0, 30.0]  # any order
    assert percentile(values, 50) == 30.0  # the median
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 50.0
    assert percentile(values, 90) == pytest.approx(46.0)  # 40 + 0.6 * (50 - 40)
    assert percentile([10.0, 20.0], 50) == 15.0  # an even count: between the middle two
    assert percentile(np.array([7.0]), 99) == 7.0


@pytest.mark.parametrize("q", [-1, 100.5, float("nan")])
def test_a_percentile_outside_0_to_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match="percentile q="):
        percentile([1.0], q)


def test_no_values_have_no_percentile() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def reading(
    requests: int, executions: int, queue_ns: int, infer_ns: int, version: str = "1"
) -> ModelStatistics:
    """A statistics extension entry with these running totals (as the server keeps them)."""

    def duration(ns: int) -> dict[str, Any]:
        return {"count": requests, "ns": ns}

    return ModelStatistics.from_json(
        {
            "name": "yolo26",
            "version": version,
            "inference_count": requests,
            "execution_count": executions,
            "inference_stats": {
                "success": duration(queue_ns + infer_ns),
                "queue": duration(queue_ns),
                "compute_input": duration(requests * MS // 10),
                "compute_infer": duration(infer_ns),
                "compute_output": duration(requests * MS // 5),
            },
        }
    )


def test_step_times_are_the_window_s_own_averages() -> None:
    """10 requests at 1 ms queue before the window, then 20 at 4 ms: the window's queue is 4 ms, not
    the 3 ms average since the model was loaded."""
    before = reading(requests=10, executions=10, queue_ns=10 * MS, infer_ns=10 * 30 * MS)
    after = reading(
        requests=30, executions=15, queue_ns=10 * MS + 20 * 4 * MS, infer_ns=10 * 30 * MS + 20 * 45 * MS
    )
    assert after.queue_ms == pytest.approx(3.0)
    times = step_times(before, after)
    assert (times.model, times.requests, times.executions) == ("yolo26", 20, 5)
    assert times.queue_ms == pytest.approx(4.0)
    assert times.compute_infer_ms == pytest.approx(45.0)
    assert times.compute_input_ms == pytest.approx(0.1)
    assert times.compute_output_ms == pytest.approx(0.2)
    assert times.average_batch == 4.0


def test_an_idle_window_has_zero_times() -> None:
    idle = reading(requests=3, executions=3, queue_ns=3 * MS, infer_ns=3 * MS)
    assert step_times(idle, idle) == StepTimes("yolo26", 0, 0, 0.0, 0.0, 0.0, 0.0)
    assert step_times(idle, idle).average_batch == 0.0


def test_readings_of_different_versions_or_in_the_wrong_order_are_refused() -> None:
    first = reading(requests=3, executions=3, queue_ns=MS, infer_ns=MS)
    later = reading(requests=5, executions=4, queue_ns=MS, infer_ns=MS)
    with pytest.raises(ValueError, match="one model version"):
        step_times(first, reading(requests=5, executions=4, queue_ns=MS, infer_ns=MS, version="2"))
    with pytest.raises(ValueError, match="older"):
        step_times(later, first)
