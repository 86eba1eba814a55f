"""Closed-loop load: ``concurrency`` callers, each sending its next image as soon as the last returns.

Every request that ends inside the measurement window (after the warm-up) counts: images/s is
their number over the window's length, latencies are theirs. Callers start on different images
so that sizes mix within each moment.

CPU time is read at the window's edges from clocks the caller names (``cpu_clocks``): this
process's own (:func:`time.process_time`, all its threads: the load generator, i.e. the client)
unless told otherwise, and e.g. the server's process tree (:func:`process_tree_cpu_s`). A clock's
CPU seconds over the window, divided by the images answered in it, is that side's CPU per image.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from yolo26_triton.tools.statistics import percentile

CpuClock = Callable[[], float]
"""CPU seconds consumed so far by something (a process, a process tree)."""
CLIENT = "client"


@dataclass(frozen=True)
class Measurement:
    """One system at one concurrency level."""

    system: str
    concurrency: int
    images: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds per clock over the window (``client``: the load generator's process)."""

    @property
    def throughput(self) -> float:
        """Images per second."""
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def cpu_ms_per_image(self, clock: str = CLIENT) -> float | None:
        """Milliseconds of CPU that ``clock`` spent per answered image (None if not measured)."""
        if clock not in self.cpu_s or not self.images:
            return None
        return self.cpu_s[clock] * 1000.0 / self.images


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its living descendants (e.g. a server and its
    Python-backend stubs), via psutil (Ultralytics' dependency)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def summarize(
    system: str,
    concurrency: int,
    latencies: Sequence[float],
    seconds: float,
    errors: int,
    cpu_s: Mapping[str, float] | None = None,
) -> Measurement:
    """A :class:`Measurement` from the latencies (seconds) of the requests in the window."""
    milliseconds = [latency * 1000.0 for latency in latencies]
    p50, p99 = (percentile(milliseconds, q) for q in (50, 99)) if milliseconds else (0.0, 0.0)
    return Measurement(system, concurrency, len(milliseconds), seconds, p50, p99, errors, dict(cpu_s or {}))


class Window:
    """The measurement window of one level: what ended inside it, and the CPU clocks at its edges.

    Times are :func:`time.perf_counter` seconds. A request counts when it ends inside
    ``[start, end]``: its latency when it succeeded, an error otherwise.
    """

    def __init__(self, warmup_s: float, duration_s: float, cpu_clocks: Mapping[str, CpuClock] | None) -> None:
        self.warmup_s, self.duration_s = warmup_s, duration_s
        self.clocks = dict(cpu_clocks) if cpu_clocks is not None else {CLIENT: time.process_time}
        self.latencies: list[float] = []
        self.errors = 0
        self.lock = threading.Lock()
        self.start = self.end = float("inf")
        self._readings: dict[str, list[float]] = {name: [] for name in self.clocks}
        self._sampler: threading.Thread | None = None

    def open(self, now: float | None = None) -> None:
        """Starts the warm-up at ``now`` (default: now); a thread reads the CPU clocks when the window
        opens and when it closes."""
        self.start = (time.perf_counter() if now is None else now) + self.warmup_s
        self.end = self.start + self.duration_s
        self._sampler = threading.Thread(target=self._sample, daemon=True, name="cpu-clocks")
        self._sampler.start()

    def _sample(self) -> None:
        for edge in (self.start, self.end):
            time.sleep(max(0.0, edge - time.perf_counter()))
            for name, clock in self.clocks.items():
                self._readings[name].append(clock())

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds of each clock between the window's edges (waits for the closing reading)."""
        if self._sampler is not None:
            self._sampler.join()
        return {name: values[1] - values[0] for name, values in self._readings.items() if len(values) == 2}

    def record(self, began: float, ended: float, ok: bool) -> None:
        """Counts one request that ran from ``began`` to ``ended``, if it ended inside the window."""
        if self.start <= ended <= self.end:
            with self.lock:
                if ok:
                    self.latencies.append(ended - began)
                else:
                    self.errors += 1


def run_threads(
    system: str,
    call: Callable[[Any, bytes], object],
    images: Sequence[bytes],
    concurrency: int,
    *,
    warmup_s: float,
    duration_s: float,
    setup: Callable[[int], Any] | None = None,
    cpu_clocks: Mapping[str, CpuClock] | None = None,
) -> Measurement:
    """``concurrency`` threads, each calling ``call(state, image)`` in a loop.

    ``state`` is what ``setup(worker_index)`` returned in that thread (the index without
    ``setup``): objects bound to their thread, such as a gevent-based HTTP client, are made there.
    The warm-up starts once every thread has its state.
    """
    window = Window(warmup_s, duration_s, cpu_clocks)
    ready = threading.Barrier(concurrency, action=window.open)

    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            state = setup(index) if setup is not None else index
            ready.wait()
        except threading.BrokenBarrierError:
            return
        except BaseException as error:
            failures.append(error)
            ready.abort()
            return
        position = index
        while time.perf_counter() < window.end:
            image = images[position % len(images)]
            position += 1
            began = time.perf_counter()
            try:
                call(state, image)
                ok = True
            except Exception:
                ok = False
            window.record(began, time.perf_counter(), ok)

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{system}: a worker's setup failed") from failures[0]
    return summarize(system, concurrency, window.latencies, duration_s, window.errors, window.cpu_s())


async def run_async(
    system: str,
    call: Callable[[bytes], Awaitable[object]],
    images: Sequence[bytes],
    concurrency: int,
    *,
    warmup_s: float,
    duration_s: float,
    cpu_clocks: Mapping[str, CpuClock] | None = None,
) -> Measurement:
    """``concurrency`` tasks on this event loop, each awaiting ``call(image)`` in a loop."""
    window = Window(warmup_s, duration_s, cpu_clocks)
    window.open()

    async def worker(index: int) -> None:
        position = index
        while time.perf_counter() < window.end:
            image = images[position % len(images)]
            position += 1
            began = time.perf_counter()
            try:
                await call(image)
                ok = True
            except Exception:
                ok = False
            window.record(began, time.perf_counter(), ok)

    await asyncio.gather(*(worker(index) for index in range(concurrency)))
    cpu_s = await asyncio.to_thread(window.cpu_s)
    return summarize(system, concurrency, window.latencies, duration_s, window.errors, cpu_s)
