"""Triton's own trace file: when each request entered a model's queue and when its batch ran.

With :func:`trace_file_args` the server traces every request (``level=TIMESTAMPS``, Triton's native
``triton`` mode) and writes one JSON array to the file when it stops. Each traced request has an
``id``; entries with that id give its model (``model_name``), its parent (``parent_id``: the ensemble
request that sent it, absent for an ensemble request itself) and its timestamps, nanoseconds of the
server's steady clock (``CLOCK_MONOTONIC``, the clock of :func:`time.monotonic_ns` on Linux)::

    [{"id": 7, "model_name": "yolo26", "model_version": 1, "parent_id": 5},
     {"id": 7, "timestamps": [{"name": "REQUEST_START", "ns": 1893...}, {"name": "QUEUE_START", ...},
                              {"name": "COMPUTE_START", ...}, {"name": "COMPUTE_END", ...}, ...]}]

:func:`read_trace` turns the file into :class:`TracedRequest` (requests that ran) and
:class:`UnstartedRequest` (requests to a composing model that never ran: its full queue refused them,
or they timed out in it). The requests of one dynamic batch share their compute timestamps, so one
(model, compute start, compute end) is one execution of the model (:func:`executions`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def trace_file_args(trace_file: Path) -> tuple[str, ...]:
    """``tritonserver`` flags that trace every request into ``trace_file`` (written when it stops).

    Not to be combined with :attr:`~yolo26_triton.serving.options.ServerOptions.trace_url`: the server
    has one trace mode.
    """
    return (
        "--trace-config=level=TIMESTAMPS",
        "--trace-config=rate=1",
        f"--trace-config=triton,file={trace_file}",
    )


@dataclass(frozen=True)
class TracedRequest:
    """One request that a model ran: when it entered the model's queue and when its batch ran (ns)."""

    model: str
    queued: int
    started: int
    ended: int

    @property
    def wait_ms(self) -> float:
        """Time in the model's queue (the rate limiter's wait included), in milliseconds."""
        return (self.started - self.queued) / 1e6


@dataclass(frozen=True)
class UnstartedRequest:
    """A request to a composing model that never ran: refused by its full queue, or timed out in it."""

    model: str
    queued: int


@dataclass(frozen=True)
class Execution:
    """One execution of a model (one dynamic batch), in nanoseconds of the server's steady clock."""

    model: str
    start: int
    end: int


@dataclass(frozen=True)
class Trace:
    """What one trace file holds."""

    requests: tuple[TracedRequest, ...]
    """Requests that ran, ensemble requests included (their model is the ensemble)."""
    unstarted: tuple[UnstartedRequest, ...]
    """Requests to composing models that never ran."""


def read_trace(trace_file: Path) -> Trace:
    """Reads a trace file that the server wrote with :func:`trace_file_args`.

    Raises:
        ValueError: The file is not a trace of Triton's ``triton`` mode (not a JSON array of entries
            with an ``id``), or a request that ran has no model name or queue timestamp.
    """
    try:
        entries = json.loads(trace_file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{trace_file}: not a JSON trace file ({error})") from error
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "id" in e for e in entries):
        raise ValueError(f"{trace_file}: expected a JSON array of trace entries, each with an id")
    records: dict[Any, dict[str, Any]] = defaultdict(dict)
    for entry in entries:
        record = records[entry["id"]]
        if "model_name" in entry:
            record["model"] = str(entry["model_name"])
        if "parent_id" in entry:
            record["parent_id"] = entry["parent_id"]
        for stamp in entry.get("timestamps", []):
            record[stamp["name"]] = int(stamp["ns"])
    requests, unstarted = [], []
    for key, record in records.items():
        if "COMPUTE_START" in record and "COMPUTE_END" in record:
            if "model" not in record or "QUEUE_START" not in record:
                raise ValueError(f"{trace_file}: request {key} ran but has no model name or QUEUE_START")
            requests.append(
                TracedRequest(
                    record["model"], record["QUEUE_START"], record["COMPUTE_START"], record["COMPUTE_END"]
                )
            )
        elif "parent_id" in record and "QUEUE_START" in record and "model" in record:
            unstarted.append(UnstartedRequest(record["model"], record["QUEUE_START"]))
    return Trace(tuple(requests), tuple(unstarted))


def executions(requests: Iterable[TracedRequest], models: Sequence[str]) -> list[Execution]:
    """Distinct executions of ``models``, by start: the requests of one batch share their compute times."""
    distinct = {Execution(r.model, r.started, r.ended) for r in requests if r.model in models}
    return sorted(distinct, key=lambda execution: (execution.start, execution.end, execution.model))


def most_at_once(runs: Iterable[Execution]) -> int:
    """The largest number of executions running at the same instant (an end frees before a start)."""
    runs = list(runs)
    events = sorted([(run.start, 1) for run in runs] + [(run.end, -1) for run in runs])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak
