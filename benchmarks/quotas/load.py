"""The load of one run: closed-loop clients on the entry points of one served configuration.

:func:`serve` starts the embedded server with Triton's trace on, runs a :class:`Load` from this
process (the project's async client, no retries: every refusal is seen) and reads the trace once the
server has stopped (:func:`yolo26_triton.serving.trace.read_trace`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo26_triton.client import ServerUnavailableError, TritonClient, TritonConfig, TritonError
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions
from yolo26_triton.serving.trace import Execution, TracedRequest, executions, read_trace, trace_file_args

HEAD_START_S = 2.0
"""Clients with a request count start this long after the flood: both slots are busy by then."""
REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Flow:
    """Clients that send one entry point one image, each client one request at a time."""

    label: str
    entry_point: str
    clients: int
    image: bytes
    requests: int | None = None
    """Requests in all, one client only, starting :data:`HEAD_START_S` late: the load ends when they
    are done. ``None``: until the load ends."""
    interval_s: float = 0.0
    """With ``requests``: seconds from one request's start to the next's, at least."""


@dataclass
class Outcomes:
    """What one flow's requests got."""

    answered: int = 0
    refused: int = 0
    """``ServerUnavailableError``: a full queue."""
    failed: int = 0
    first_refusal: str = ""

    def count(self, error: TritonError | None) -> None:
        """Counts one request: answered when ``error`` is ``None``."""
        if error is None:
            self.answered += 1
        elif isinstance(error, ServerUnavailableError):
            self.refused += 1
            self.first_refusal = self.first_refusal or str(error)
        else:
            self.failed += 1

    def __str__(self) -> str:
        failed = f", {self.failed} failed otherwise" if self.failed else ""
        return f"{self.answered} answered, {self.refused} refused{failed}"


@dataclass(frozen=True)
class Load:
    """What the clients send: ``history`` alone for the load's duration first, then ``flows``."""

    flows: tuple[Flow, ...]
    history: tuple[Flow, ...] = ()


@dataclass
class Run:
    """One configuration under one load: the clients' outcomes and the server's trace."""

    outcomes: dict[str, Outcomes]
    requests: list[TracedRequest]
    """Requests the measured load sent."""
    history: list[TracedRequest] = field(default_factory=list)
    """Requests the ``history`` flows sent."""
    seconds: float = 0.0
    refused: Counter[str] = field(default_factory=Counter)
    """Requests of the measured load that a composing model's queue refused, per model."""

    def of(self, model: str) -> list[TracedRequest]:
        """The measured requests to ``model``."""
        return [request for request in self.requests if request.model == model]

    def executions(self, *models: str) -> list[Execution]:
        """The measured executions of ``models``."""
        return executions(self.requests, models)


async def _drive(
    options: ServerOptions, load: Load, duration_s: float, outcomes: dict[str, Outcomes]
) -> tuple[int, int, float]:
    """Runs ``load``, counting into ``outcomes`` by flow label; returns the history's and the measured
    load's start (monotonic ns) and the measured load's length in seconds."""
    entry_points = {flow.entry_point for flow in (*load.history, *load.flows)}

    def config(model: str) -> TritonConfig:
        return TritonConfig(
            url=options.grpc_url,
            http_url=options.http_url,
            model=model,
            max_retries=0,
            timeout_s=REQUEST_TIMEOUT_S,
        )

    async with contextlib.AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(TritonClient(config(name))) for name in entry_points}
        for flow in (*load.history, *load.flows):  # connections and first runs before the load
            await clients[flow.entry_point].detect(flow.image)

        async def phase(flows: tuple[Flow, ...]) -> None:
            done = asyncio.Event()

            async def send(flow: Flow) -> None:
                try:
                    await clients[flow.entry_point].detect(flow.image)
                except TritonError as error:
                    outcomes[flow.label].count(error)
                else:
                    outcomes[flow.label].count(None)

            async def endless(flow: Flow) -> None:
                while not done.is_set():
                    await send(flow)

            async def counted(flow: Flow, requests: int) -> None:
                await asyncio.sleep(HEAD_START_S)
                for _ in range(requests):
                    started = time.monotonic()
                    await send(flow)
                    await asyncio.sleep(max(0.0, started + flow.interval_s - time.monotonic()))

            tasks = [endless(flow) for flow in flows if flow.requests is None for _ in range(flow.clients)]
            finite = [counted(flow, flow.requests) for flow in flows if flow.requests is not None]

            async def end() -> None:
                if finite:
                    await asyncio.gather(*finite)
                else:
                    await asyncio.sleep(duration_s)
                done.set()

            await asyncio.gather(end(), *tasks)

        history_start = time.monotonic_ns()
        if load.history:
            await phase(load.history)
        start = time.monotonic_ns()
        await phase(load.flows)
        return history_start, start, (time.monotonic_ns() - start) / 1e9


def serve(repository: Path, workdir: Path, load: Load, duration_s: float, **options: Any) -> Run:
    """Serves ``repository`` with the trace on, runs ``load`` and reads the trace after the stop.

    ``options``: more :class:`ServerOptions` (``detector_slots``, ``extra_args`` appended after the
    trace flags).

    Raises:
        RuntimeError: The trace's timestamps are not on this process's monotonic clock.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    trace_file = workdir / "trace.json"
    extra = (*trace_file_args(trace_file), *options.pop("extra_args", ()))
    server_options = ServerOptions.on_free_ports(repository=repository, extra_args=extra, **options)
    outcomes: dict[str, Outcomes] = defaultdict(Outcomes)
    with (workdir / "tritonserver.log").open("w") as log, EmbeddedServer(server_options, log_file=log):
        history_start, start, seconds = asyncio.run(_drive(server_options, load, duration_s, outcomes))
    trace = read_trace(trace_file)
    if trace.requests and not any(history_start <= request.queued for request in trace.requests):
        raise RuntimeError("the trace's timestamps are not on this process's monotonic clock")
    return Run(
        outcomes=dict(outcomes),
        requests=[request for request in trace.requests if request.queued >= start],
        history=[request for request in trace.requests if history_start <= request.queued < start],
        seconds=seconds,
        refused=Counter(request.model for request in trace.unstarted if request.queued >= start),
    )
