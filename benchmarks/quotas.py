"""Quotas under load: Triton's rate limiter, the detectors' priority and the queues, from Triton's trace.

    python -m benchmarks.quotas                                    # every scenario
    python -m benchmarks.quotas --duration 5 --scenario slots      # a quick look at one
    python -m benchmarks.quotas --out benchmarks/QUOTAS.md         # also write the report

Builds its own repository the supported way: the templates, then ``yolo26n.yaml`` (untrained) as
``yolo26`` (classic head, entry point ``detect_ensemble``) and as ``yolo26_end2end`` (NMS-free head,
entry point ``detect_end2end``, configs generated from ``yolo26``'s). Each configuration is a copy of
it, served on the embedded tritonserver (CPU profile) with Triton's trace on for every request
(``TIMESTAMPS``), and loaded from this process by closed-loop clients (the project's async client,
no retries: every refusal is seen). What happened is read from the trace once the server has
stopped: each request to a composing model has a queue start and a compute start and end, and the
requests of one batch share their compute timestamps, so one (model, start, end) is one execution.
Only requests that the measured load sent count (queued after it began). Scenarios (README,
"Quotas: one model cannot starve another"):

- ``slots``: both entry points flooded; the most detector executions at once with the rate limiter
  off (``detector_slots=0``), on without ``--rate-limit-resource``, and on with 2 slots (global
  resource, the shipped configs; and per device).
- ``priority``: ``detect_end2end`` flooded, one light client on ``detect_ensemble``; how long
  requests to the shared steps (``validate``, ``preprocess``, ``postprocess``) wait in their queues
  with both detectors at priority 1 and at 1000 (shipped).
- ``split``: both entry points flooded; executions and images per detector model with equal
  priorities (1000, shipped) and with ``yolo26_end2end`` at 4000.
- ``starvation``: the integration test's load (tests/integration/test_quotas.py): 32 clients flood
  ``detect_end2end`` with a small JPEG, its queue lowered to 4, while one client sends 8 requests.
- ``history``: the rate limiter counts executions since the model was loaded: ``yolo26`` runs alone
  first, then ``detect_end2end`` is flooded while light clients use ``detect_ensemble``.
- ``shared-queue``: 120 and 240 clients flood ``detect_end2end``: when do the shared steps' queues (64
  each) fill up and refuse ``detect_ensemble``'s requests too?
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from yolo26_triton.client import ServerUnavailableError, TritonClient, TritonConfig, TritonError
from yolo26_triton.export.builder import build_repository
from yolo26_triton.export.repository import copy_templates
from yolo26_triton.serving.launcher import DEFAULT_REPOSITORY, EmbeddedServer, ServerOptions
from yolo26_triton.tools.images import sample_images

from .configs import ModelConfig, config_path, copy_repository, edit_config
from .report import load_average, machine_facts

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DETECTOR = "yolo26"
END_TO_END = "yolo26_end2end"
DETECTORS = (DETECTOR, END_TO_END)
ENTRY_POINT = "detect_ensemble"
END_TO_END_ENTRY_POINT = "detect_end2end"
SHARED_STEPS = ("validate", "preprocess", "postprocess")
FAST_EXIT = ("--exit-timeout-secs=5",)
SHARED_QUEUE_FLOODS = (120, 240)
"""Flooding clients in ``shared-queue``: fewer than the flooded detector's and a shared step's queues
(64 each) hold, and more."""
HEAD_START_S = 2.0
"""Clients with a request count start this long after the flood: both slots are busy by then."""


# ---------------------------------------------------------------------------------------- the trace


@dataclass(frozen=True)
class Execution:
    """One execution of a model (a dynamic batch), from the trace."""

    model: str
    start: int
    end: int


@dataclass(frozen=True)
class TracedRequest:
    """One request to a composing model: when it entered the queue and when its batch ran (ns)."""

    model: str
    queued: int
    started: int
    ended: int

    @property
    def wait_ms(self) -> float:
        """Time in the model's queue (rate limiter included), in milliseconds."""
        return (self.started - self.queued) / 1e6


def tracing_args(trace_file: Path) -> tuple[str, ...]:
    """``tritonserver`` flags that trace every request into ``trace_file`` (written when it stops)."""
    return (
        "--trace-config=level=TIMESTAMPS",
        "--trace-config=rate=1",
        f"--trace-config=triton,file={trace_file}",
    )


def _trace_records(trace_file: Path) -> list[dict[str, Any]]:
    """Triton's trace file (``mode=triton``) as one dict per request: model, parent, timestamps."""
    fields: dict[int, dict[str, Any]] = defaultdict(dict)
    for entry in json.loads(trace_file.read_text()):
        record = fields[entry["id"]]
        if "model_name" in entry:
            record["model"] = entry["model_name"]
        if "parent_id" in entry:
            record["parent_id"] = entry["parent_id"]
        for stamp in entry.get("timestamps", []):
            record[stamp["name"]] = stamp["ns"]
    return list(fields.values())


def traced_requests(trace_file: Path) -> list[TracedRequest]:
    """Requests to composing models that ran, from Triton's trace file (``mode=triton``)."""
    return [
        TracedRequest(
            str(record["model"]),
            int(record["QUEUE_START"]),
            int(record["COMPUTE_START"]),
            int(record["COMPUTE_END"]),
        )
        for record in _trace_records(trace_file)
        if "COMPUTE_START" in record and "COMPUTE_END" in record
    ]


def unstarted_requests(trace_file: Path) -> list[tuple[str, int]]:
    """(model, queue start) of the requests to composing models that never ran: a full queue refused
    them (or they timed out in it)."""
    return [
        (str(record["model"]), int(record["QUEUE_START"]))
        for record in _trace_records(trace_file)
        if "parent_id" in record and "QUEUE_START" in record and "COMPUTE_START" not in record
    ]


def executions(requests: Iterable[TracedRequest], models: Sequence[str]) -> list[Execution]:
    """Distinct executions of ``models``: the requests of one batch share their compute timestamps."""
    distinct = {Execution(r.model, r.started, r.ended) for r in requests if r.model in models}
    return sorted(distinct, key=lambda execution: execution.start)


def most_at_once(runs: Iterable[Execution]) -> int:
    """The largest number of executions running at the same instant (an end frees before a start)."""
    runs = list(runs)
    events = sorted([(run.start, 1) for run in runs] + [(run.end, -1) for run in runs])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def idle_share(requests: Sequence[TracedRequest]) -> float:
    """Of the time ``requests`` (to one model) spent in its queue, the share during which no execution
    of that model ran: time not spent waiting for the model's own instances."""
    runs = executions(requests, sorted({request.model for request in requests}))
    waited = idle = 0
    for request in requests:
        busy = sum(max(0, min(run.end, request.started) - max(run.start, request.queued)) for run in runs)
        waited += request.started - request.queued
        idle += max(0, request.started - request.queued - busy)
    return idle / waited if waited else 0.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank; 0 when empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


def small_jpeg(source: Path) -> bytes:
    """A 160x120 JPEG of ``source``: cheap to decode, so a flood loads the detector more than the
    shared steps."""
    ok, encoded = cv2.imencode(".jpg", cv2.resize(cv2.imread(str(source)), (160, 120)))
    if not ok:
        raise RuntimeError(f"could not encode {source}")
    return bytes(encoded.tobytes())


# ---------------------------------------------------------------------------------------- the load


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
    interval: float = 0.0
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
    options: ServerOptions, load: Load, duration: float, outcomes: dict[str, Outcomes]
) -> tuple[int, int, float]:
    """Runs ``load``, counting into ``outcomes`` by flow label; returns the history's and the measured
    load's start (monotonic ns) and the measured load's length in seconds."""
    entry_points = {flow.entry_point for flow in (*load.history, *load.flows)}

    def config(model: str) -> TritonConfig:
        return TritonConfig(
            url=options.grpc_url, http_url=options.http_url, model=model, max_retries=0, timeout_s=60.0
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
                    await asyncio.sleep(max(0.0, started + flow.interval - time.monotonic()))

            tasks = [endless(flow) for flow in flows if flow.requests is None for _ in range(flow.clients)]
            finite = [counted(flow, flow.requests) for flow in flows if flow.requests is not None]

            async def end() -> None:
                if finite:
                    await asyncio.gather(*finite)
                else:
                    await asyncio.sleep(duration)
                done.set()

            await asyncio.gather(end(), *tasks)

        history_start = time.monotonic_ns()
        if load.history:
            await phase(load.history)
        start = time.monotonic_ns()
        await phase(load.flows)
        return history_start, start, (time.monotonic_ns() - start) / 1e9


def serve(repository: Path, workdir: Path, load: Load, duration: float, **options: Any) -> Run:
    """Serves ``repository`` with the trace on, runs ``load`` and reads the trace after the stop.

    ``options``: more :class:`ServerOptions` (``detector_slots``, ``extra_args`` appended after the
    trace flags).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    trace_file = workdir / "trace.json"
    extra = (*FAST_EXIT, *tracing_args(trace_file), *options.pop("extra_args", ()))
    server_options = ServerOptions.on_free_ports(repository=repository, extra_args=extra, **options)
    outcomes: dict[str, Outcomes] = defaultdict(Outcomes)
    with (workdir / "tritonserver.log").open("w") as log, EmbeddedServer(server_options, log_file=log):
        history_start, start, seconds = asyncio.run(_drive(server_options, load, duration, outcomes))
    requests = traced_requests(trace_file)
    if requests and not any(history_start <= request.queued for request in requests):
        raise RuntimeError("the trace's timestamps are not on this process's monotonic clock")
    return Run(
        outcomes=dict(outcomes),
        requests=[request for request in requests if request.queued >= start],
        history=[request for request in requests if history_start <= request.queued < start],
        seconds=seconds,
        refused=Counter(model for model, queued in unstarted_requests(trace_file) if queued >= start),
    )


# ---------------------------------------------------------------------------------------- configurations

ConfigEdit = Callable[[ModelConfig], None]


def detector_priority(priority: int) -> ConfigEdit:
    """The detector instances' rate-limiter priority (a larger value: fewer chances)."""

    def change(config: ModelConfig) -> None:
        for group in config.instance_group:
            group.rate_limiter.priority = priority

    return change


def per_device_resource(config: ModelConfig) -> None:
    """The detector slots as a per-device resource instead of a machine-wide one."""
    for group in config.instance_group:
        for resource in group.rate_limiter.resources:
            setattr(resource, "global", False)  # `global` is a Python keyword


def queue_limit(size: int) -> ConfigEdit:
    """Refuses requests beyond ``size`` waiting in the model's queue."""

    def change(config: ModelConfig) -> None:
        config.dynamic_batching.default_queue_policy.max_queue_size = size

    return change


class Bench:
    """The built repository, the variants served, the runs done (a configuration and load that two
    scenarios share run once)."""

    def __init__(self, workdir: Path, duration: float) -> None:
        self.workdir = workdir
        self.duration = duration
        self.built = workdir / "built" / "model_repository"
        self._runs: dict[str, Run] = {}
        self._images = sample_images()

    def build(self) -> None:
        """The templates, then ``yolo26n.yaml`` as ``yolo26`` and as ``yolo26_end2end`` (NMS-free)."""
        copy_templates(ROOT / DEFAULT_REPOSITORY, self.built)
        build_repository(self.built, "yolo26n.yaml")
        build_repository(self.built, "yolo26n.yaml", model=END_TO_END, head="nms_free")

    @property
    def full_image(self) -> bytes:
        """The full-size sample JPEG (Ultralytics' bus.jpg, 810x1080)."""
        return self._images[0].read_bytes()

    @property
    def small_image(self) -> bytes:
        """The same, 160x120."""
        return small_jpeg(self._images[0])

    def run(
        self,
        name: str,
        load_name: str,
        load: Load,
        edits: dict[str, ConfigEdit] | None = None,
        **options: Any,
    ) -> Run:
        """``load`` on the built repository with ``edits`` to models' CPU configs; ``name`` and
        ``load_name`` identify the pair (run once)."""
        key = f"{name}/{load_name}"
        if key not in self._runs:
            folder = self.workdir / f"run{len(self._runs)}"
            repository = self.built
            if edits:
                repository = copy_repository(self.built, folder / "model_repository")
                for model, change in edits.items():
                    edit_config(config_path(repository, model), change)
            print(f"  [{name}; {load_name}]", flush=True)
            self._runs[key] = serve(repository, folder, load, self.duration, **options)
        return self._runs[key]

    def flood_both(self) -> tuple[str, Load]:
        """12 clients on each entry point, the full-size JPEG."""
        image = self.full_image
        return "12 clients on each entry point", Load(
            (
                Flow("detect_ensemble", ENTRY_POINT, 12, image),
                Flow("detect_end2end", END_TO_END_ENTRY_POINT, 12, image),
            )
        )

    def flood_and_light(self, history: bool = False) -> tuple[str, Load]:
        """12 clients flood ``detect_end2end``, 2 light ones use ``detect_ensemble``; with ``history``,
        8 clients on ``detect_ensemble`` alone first."""
        image = self.full_image
        flows = (
            Flow("flood", END_TO_END_ENTRY_POINT, 12, image),
            Flow("light", ENTRY_POINT, 2, image),
        )
        if history:
            before = (Flow("history", ENTRY_POINT, 8, image),)
            return "yolo26 alone (8 clients), then 12 flood + 2 light clients", Load(flows, before)
        return "12 flood clients on detect_end2end + 2 light on detect_ensemble", Load(flows)


# ---------------------------------------------------------------------------------------- scenarios


def _split(run: Run) -> str:
    runs = run.executions(*DETECTORS)
    count = Counter(execution.model for execution in runs)
    images = Counter(request.model for request in run.requests if request.model in DETECTORS)
    batch = {model: images[model] / count[model] if count[model] else 0.0 for model in DETECTORS}
    return (
        f"executions {count[DETECTOR]}:{count[END_TO_END]}, images {images[DETECTOR]}:{images[END_TO_END]}, "
        f"mean batch {batch[DETECTOR]:.2f}:{batch[END_TO_END]:.2f} ({DETECTOR}:{END_TO_END})"
    )


def _refused(run: Run) -> str:
    return ", ".join(f"{model} {count}" for model, count in sorted(run.refused.items())) or "none"


def scenario_slots(bench: Bench) -> list[str]:
    """The most detector executions at once, by rate-limiter setting."""
    load_name, load = bench.flood_both()
    lines = [f"slots: {load_name}, {bench.duration:g} s; detector executions at once"]
    configurations: list[tuple[str, dict[str, ConfigEdit] | None, dict[str, Any]]] = [
        ("rate limiter off (detector_slots=0)", None, {"detector_slots": 0}),
        (
            "--rate-limit=execution_count, no --rate-limit-resource",
            None,
            {"detector_slots": 0, "extra_args": ("--rate-limit=execution_count",)},
        ),
        ("detector_slots=2 (shipped)", None, {"detector_slots": 2}),
        (
            "detector_slots=2, per-device resource",
            {model: per_device_resource for model in DETECTORS},
            {"detector_slots": 2},
        ),
    ]
    for name, edits, options in configurations:
        run = bench.run(name, load_name, load, edits, **options)
        both = run.executions(*DETECTORS)
        alone = {model: most_at_once(run.executions(model)) for model in DETECTORS}
        lines.append(
            f"  {name}: at most {most_at_once(both)} at once "
            f"({DETECTOR} alone {alone[DETECTOR]}, {END_TO_END} alone {alone[END_TO_END]}); {_split(run)}"
        )
    return lines


def scenario_priority(bench: Bench) -> list[str]:
    """Queue waits of the shared steps with the detectors at priority 1 and 1000."""
    image = bench.full_image
    load_name = "32 clients flood detect_end2end (full-size JPEG) + 1 light client on detect_ensemble"
    load = Load(
        (
            Flow("flood", END_TO_END_ENTRY_POINT, 32, image),
            Flow("light", ENTRY_POINT, 1, image),
        )
    )
    lines = [f"priority: {load_name}, {bench.duration:g} s; queue wait of the shared steps, ms"]
    for priority in (1, 1000):
        name = f"both detectors at priority {priority}" + (" (shipped)" if priority == 1000 else "")
        edits = {model: detector_priority(priority) for model in DETECTORS} if priority != 1000 else None
        run = bench.run(name, load_name, load, edits, detector_slots=2)
        lines.append(f"  {name}: light {run.outcomes['light']}, flood {run.outcomes['flood']}")
        for model in SHARED_STEPS:
            waits = [request.wait_ms for request in run.of(model)]
            lines.append(
                f"    {model:<11} {len(waits):4d} requests, wait p50 {percentile(waits, 0.5):6.1f}  "
                f"p90 {percentile(waits, 0.9):6.1f}  max {max(waits, default=0.0):6.1f}; "
                f"its instance idle for {idle_share(run.of(model)):.0%} of the waiting"
            )
    return lines


def scenario_split(bench: Bench) -> list[str]:
    """Executions and images per detector model, equal priorities against 1000:4000."""
    load_name, load = bench.flood_both()
    lines = [f"split: {load_name}, {bench.duration:g} s; per detector model"]
    for first, second in ((1000, 1000), (1000, 4000)):
        shipped = (first, second) == (1000, 1000)
        name = "detector_slots=2 (shipped)" if shipped else f"{END_TO_END} at priority {second}"
        edits = None if shipped else {END_TO_END: detector_priority(second)}
        run = bench.run(name, load_name, load, edits, detector_slots=2)
        outcomes = ", ".join(f"{label} {outcome}" for label, outcome in sorted(run.outcomes.items()))
        lines.append(f"  priorities {first}:{second}: {_split(run)}; {outcomes}")
    return lines


def scenario_starvation(bench: Bench) -> list[str]:
    """The integration test's load: a small-JPEG flood against a short queue, 8 light requests."""
    flood_queue, light_requests = 4, 8
    load_name = (
        f"32 clients flood detect_end2end (160x120 JPEG, its queue {flood_queue}), "
        f"1 client sends {light_requests} requests to detect_ensemble"
    )
    load = Load(
        (
            Flow("flood", END_TO_END_ENTRY_POINT, 32, bench.small_image),
            Flow("light", ENTRY_POINT, 1, bench.full_image, requests=light_requests),
        )
    )
    run = bench.run(
        f"{END_TO_END} queue {flood_queue}", load_name, load, {END_TO_END: queue_limit(flood_queue)}
    )
    flood_starts = [execution.start for execution in run.executions(END_TO_END)]
    light = sorted(run.of(DETECTOR), key=lambda request: request.queued)
    # Flood executions that started while a light request waited for its own.
    overtaking = [
        sum(request.queued < start < request.started for start in flood_starts) for request in light
    ]
    return [
        f"starvation: {load_name}",
        f"  detector executions: {len(flood_starts)} flood, {len(run.executions(DETECTOR))} light, "
        f"at most {most_at_once(run.executions(*DETECTORS))} at once; flood: {run.outcomes['flood']}; "
        f"light: {run.outcomes['light']}; flood executions overtaking each light request: {overtaking}",
        f"  refused where (trace): {_refused(run)}",
    ]


def scenario_history(bench: Bench) -> list[str]:
    """Light answers during a flood, with and without executions of ``yolo26`` beforehand."""
    lines = [f"history: {bench.duration:g} s each phase, shipped configs (priorities 1000:1000)"]
    for history in (False, True):
        load_name, load = bench.flood_and_light(history)
        run = bench.run("detector_slots=2 (shipped)", load_name, load, detector_slots=2)
        before = len(executions(run.history, (DETECTOR,)))
        lines.append(
            f"  {load_name}: {DETECTOR} executions before the flood {before}; during it: light "
            f"{run.outcomes['light']}, flood {run.outcomes['flood']}; {_split(run)}"
        )
    return lines


def scenario_shared_queue(bench: Bench) -> list[str]:
    """Large floods: the shared steps' queues (64 each) fill and refuse the other entry point too."""
    image = bench.full_image
    light = max(1, round(bench.duration))
    lines = [
        "shared-queue: N clients flood detect_end2end (full-size JPEG); one client sends detect_ensemble "
        f"{light} requests, one a second"
    ]
    for flooders in SHARED_QUEUE_FLOODS:
        load_name = f"{flooders} flooding clients"
        load = Load(
            (
                Flow("flood", END_TO_END_ENTRY_POINT, flooders, image),
                Flow("light", ENTRY_POINT, 1, image, requests=light, interval=1.0),
            )
        )
        run = bench.run("detector_slots=2 (shipped)", load_name, load, detector_slots=2)
        lines.append(f"  {load_name}: flood {run.outcomes['flood']}; light {run.outcomes['light']}")
        lines.append(f"    refused where (trace): {_refused(run)}")
        for label in ("flood", "light"):
            if run.outcomes[label].first_refusal:
                lines.append(f"    {label}'s first refusal: {run.outcomes[label].first_refusal}")
    return lines


SCENARIOS: dict[str, Callable[[Bench], list[str]]] = {
    "slots": scenario_slots,
    "priority": scenario_priority,
    "split": scenario_split,
    "starvation": scenario_starvation,
    "history": scenario_history,
    "shared-queue": scenario_shared_queue,
}


# ---------------------------------------------------------------------------------------- main


def render_report(command: str, lines: Sequence[str], context: dict[str, str]) -> str:
    """``QUOTAS.md``: the command, the machine, the printed figures."""
    facts = machine_facts()
    machine = ", ".join(f"{key} {value}" for key, value in facts.items())
    return "\n".join(
        [
            "# Quotas under load",
            "",
            "Generated by `benchmarks/quotas.py` (do not edit by hand; rerun it). What it measures and how: "
            "its docstring. Figures from Triton's trace; one run per configuration.",
            "",
            f"Command: `{command}`",
            "",
            f"Machine: {machine}. Load average {context['load_before']} before, "
            f"{context['load_after']} after; started {context['started']}, {context['elapsed']} s in all.",
            "",
            "```text",
            *lines,
            "```",
            "",
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quotas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of load per run (12)")
    parser.add_argument(
        "--scenario", nargs="+", choices=sorted(SCENARIOS), default=list(SCENARIOS), help="default: all"
    )
    parser.add_argument("--out", type=Path, help="also write the report (e.g. benchmarks/QUOTAS.md)")
    parser.add_argument("--keep", type=Path, help="copy the runs' traces and server logs here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Builds, runs the scenarios, prints their figures (and writes the report)."""
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.quotas", *(sys.argv[1:] if argv is None else argv)])
    started, load_before, clock = time.strftime("%Y-%m-%d %H:%M:%S"), load_average(), time.monotonic()
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="yolo26-quotas-") as workdir:
        bench = Bench(Path(workdir), args.duration)
        print("building yolo26 (classic) and yolo26_end2end (nms_free) from yolo26n.yaml", flush=True)
        bench.build()
        for name in args.scenario:
            printed = SCENARIOS[name](bench)
            print("\n".join(printed), flush=True)
            lines += printed
        if args.keep:
            shutil.copytree(workdir, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("built"))
    if args.out:
        context = {
            "load_before": load_before,
            "load_after": load_average(),
            "started": started,
            "elapsed": f"{time.monotonic() - clock:.0f}",
        }
        args.out.write_text(render_report(command, lines, context))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
