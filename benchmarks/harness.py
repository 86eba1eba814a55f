"""Closed-loop load: ``concurrency`` callers, each sending its next image as soon as the last returns.

Every request that ends inside the measurement window (after the warm-up) counts: images/s is
their number over the window's length, latencies are theirs. Callers start on different images
so that sizes mix within each moment.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


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

    @property
    def throughput(self) -> float:
        """Images per second."""
        return self.images / self.seconds if self.seconds > 0 else 0.0


def summarize(
    system: str, concurrency: int, latencies: Sequence[float], seconds: float, errors: int
) -> Measurement:
    """A :class:`Measurement` from the latencies (seconds) of the requests in the window."""
    values = np.asarray(latencies, dtype=np.float64) * 1000.0
    p50, p99 = (float(np.percentile(values, q)) for q in (50, 99)) if values.size else (0.0, 0.0)
    return Measurement(system, concurrency, int(values.size), seconds, p50, p99, errors)


class _Window:
    def __init__(self, warmup_s: float, duration_s: float) -> None:
        self.warmup_s, self.duration_s = warmup_s, duration_s
        self.open()

    def open(self) -> None:
        self.start = time.perf_counter() + self.warmup_s
        self.end = self.start + self.duration_s
        self.latencies: list[float] = []
        self.errors = 0
        self.lock = threading.Lock()

    def record(self, began: float, ended: float, ok: bool) -> None:
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
) -> Measurement:
    """``concurrency`` threads, each calling ``call(state, image)`` in a loop.

    ``state`` is what ``setup(worker_index)`` returned in that thread (the index without
    ``setup``): objects bound to their thread, such as a gevent-based HTTP client, are made there.
    The warm-up starts once every thread has its state.
    """
    window = _Window(warmup_s, duration_s)
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
    return summarize(system, concurrency, window.latencies, duration_s, window.errors)


async def run_async(
    system: str,
    call: Callable[[bytes], Awaitable[object]],
    images: Sequence[bytes],
    concurrency: int,
    *,
    warmup_s: float,
    duration_s: float,
) -> Measurement:
    """``concurrency`` tasks on this event loop, each awaiting ``call(image)`` in a loop."""
    window = _Window(warmup_s, duration_s)

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
    return summarize(system, concurrency, window.latencies, duration_s, window.errors)
