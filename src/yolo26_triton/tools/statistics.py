"""The figures of a measurement: percentiles of latencies, and the server's statistics over a window.

One definition of a percentile for the whole project (the benchmarks' latencies and medians,
``compare``'s median and p90): linear interpolation between the two nearest samples, NumPy's default
(``method="linear"``), so that a p50 is the median. (``perf`` reports perf_analyzer's own figures;
``scripts/soak.py`` computes none; ``benchmarks/gpu_device.py``, which imports nothing of the package,
takes the same median from :func:`statistics.median`.)

Server-side times come from Triton's statistics extension through
:meth:`yolo26_triton.client.TritonClient.statistics`, read before and after a window (:func:`step_times`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yolo26_triton.client import ModelStatistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (linear interpolation between samples; 50: the median).

    Raises:
        ValueError: ``values`` is empty or ``q`` is outside [0, 100].
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q!r}: expected a number in [0, 100]")
    if len(values) == 0:
        raise ValueError("percentile of no values")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


@dataclass(frozen=True)
class StepTimes:
    """One model's share of a measurement window, per request (statistics extension, deltas)."""

    model: str
    requests: int
    """Successful requests in the window."""
    executions: int
    queue_ms: float
    compute_input_ms: float
    compute_infer_ms: float
    compute_output_ms: float

    @property
    def average_batch(self) -> float:
        """Requests per execution (0 without executions)."""
        return self.requests / self.executions if self.executions else 0.0


def step_times(before: ModelStatistics, after: ModelStatistics) -> StepTimes:
    """Per-request averages of the requests a model served between two readings of its statistics.

    Triton keeps running totals; :class:`~yolo26_triton.client.ModelStatistics` gives each as an
    average over the successful requests so far, so the window's total is the difference of
    average x count. (With Triton's response cache on, compute times count cache misses only; the
    project's configs do not enable it.)

    Raises:
        ValueError: The two readings are of different models or versions, or ``after`` is older.
    """
    if (before.name, before.version) != (after.name, after.version):
        raise ValueError(
            f"statistics of {before.name} {before.version!r} and {after.name} {after.version!r}: "
            "expected two readings of one model version"
        )
    requests = after.success_count - before.success_count
    if requests < 0 or after.execution_count < before.execution_count:
        raise ValueError(f"statistics of {after.name}: the second reading is older than the first")

    def per_request(average_before: float, average_after: float) -> float:
        if not requests:
            return 0.0
        total = average_after * after.success_count - average_before * before.success_count
        return total / requests

    return StepTimes(
        model=after.name,
        requests=requests,
        executions=after.execution_count - before.execution_count,
        queue_ms=per_request(before.queue_ms, after.queue_ms),
        compute_input_ms=per_request(before.compute_input_ms, after.compute_input_ms),
        compute_infer_ms=per_request(before.compute_infer_ms, after.compute_infer_ms),
        compute_output_ms=per_request(before.compute_output_ms, after.compute_output_ms),
    )
