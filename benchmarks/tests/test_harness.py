"""The closed loop of :mod:`benchmarks.harness`: what counts, per-thread state, CPU at the window's edges.

No wall-clock bounds: the window's accounting is checked with explicit times, the loops with
relations that hold however busy the machine is.
"""

from __future__ import annotations

import asyncio
import threading
import time
from itertools import count

import pytest

from benchmarks.harness import CLIENT, Window, run_async, run_threads, summarize


def test_a_window_counts_what_ends_inside_it_and_reads_each_clock_at_both_edges() -> None:
    ticks = count()
    window = Window(1.0, 2.0, {"counter": lambda: float(next(ticks))})
    window.open(now=time.perf_counter() - 10.0)  # both edges in the past: the clocks are read at once
    start, end = window.start, window.end
    assert end - start == 2.0
    window.record(start - 0.5, start - 0.1, ok=True)  # ended before the window opened
    window.record(start - 0.5, start, ok=True)  # ended on the opening edge: counts, 0.5 s
    window.record(end - 0.25, end, ok=True)  # ended on the closing edge: counts, 0.25 s
    window.record(start, end - 1.0, ok=False)  # an error inside the window
    window.record(end - 0.1, end + 0.1, ok=True)  # ended after the window closed
    window.record(end - 0.1, end + 0.1, ok=False)
    assert window.latencies == [0.5, 0.25]
    assert window.errors == 1
    assert window.cpu_s() == {"counter": 1.0}  # read once when the window opened, once when it closed


def test_summary_is_in_milliseconds_with_the_project_s_percentiles() -> None:
    measurement = summarize("x", 4, [0.010, 0.020, 0.030, 0.040, 0.050], 2.0, 3, {CLIENT: 0.5})
    assert (measurement.images, measurement.errors, measurement.throughput) == (5, 3, 2.5)
    assert measurement.p50_ms == 30.0
    assert abs(measurement.p99_ms - 49.6) < 1e-9  # linear interpolation between 40 and 50
    assert measurement.cpu_ms_per_image(CLIENT) == 100.0
    assert measurement.cpu_ms_per_image("server") is None
    assert summarize("x", 1, [], 1.0, 0).p50_ms == 0.0


def test_each_thread_gets_its_own_state_and_failures_count_as_errors() -> None:
    """Each worker alternates a good and a bad image, so what one window counts of each differs by at
    most one per worker, however long the calls take."""
    made: list[tuple[int, int]] = []
    strangers: list[int] = []
    calls = [0]

    def setup(index: int) -> tuple[int, int]:
        made.append((index, threading.get_ident()))
        return index, threading.get_ident()

    def call(state: tuple[int, int], image: bytes) -> None:
        calls[0] += 1
        if state[1] != threading.get_ident():
            strangers.append(state[0])
        time.sleep(0.002)
        if image == b"bad":
            raise ValueError("bad image")

    result = run_threads(
        "alternating", call, [b"good", b"bad"], 2, warmup_s=0.05, duration_s=0.3, setup=setup
    )
    assert sorted(index for index, _ in made) == [0, 1]
    assert len({thread for _, thread in made}) == 2
    assert strangers == []
    assert 0 < result.images + result.errors <= calls[0]  # a 0.3 s window holds some 2 ms calls
    assert abs(result.images - result.errors) <= 2
    assert result.images == 0 or result.p50_ms >= 2.0  # a latency includes the call's own sleep


def test_a_failing_setup_stops_the_run_with_its_error() -> None:
    def setup(index: int) -> int:
        if index == 1:
            raise OSError("no connection")
        return index

    with pytest.raises(RuntimeError, match="setup failed") as caught:
        run_threads(
            "broken", lambda _state, _image: None, [b"a"], 2, warmup_s=0.0, duration_s=0.1, setup=setup
        )
    assert isinstance(caught.value.__cause__, OSError)


def test_cpu_per_image_is_the_process_clock_over_the_window() -> None:
    """10 ms of CPU per request shows as several ms per image; 10 ms of sleep as almost none."""

    def spin(_state: object, _image: bytes) -> None:  # 10 ms of this thread's CPU however busy the machine
        end = time.thread_time() + 0.01
        while time.thread_time() < end:
            pass

    def rest(_state: object, _image: bytes) -> None:
        time.sleep(0.01)

    spinning = run_threads("spin", spin, [b"a"], 1, warmup_s=0.02, duration_s=0.5)
    resting = run_threads("sleep", rest, [b"a"], 1, warmup_s=0.02, duration_s=0.5)
    assert (spinning.cpu_ms_per_image(CLIENT) or 0) > 5.0
    assert (resting.cpu_ms_per_image(CLIENT) or 0) < 5.0


def test_the_async_loop_counts_like_the_threaded_one() -> None:
    async def call(image: bytes) -> None:
        await asyncio.sleep(0.002)
        if image == b"bad":
            raise ValueError("bad image")

    result = asyncio.run(run_async("async", call, [b"good", b"bad"], 2, warmup_s=0.05, duration_s=0.3))
    assert result.images + result.errors > 0
    assert abs(result.images - result.errors) <= 2
