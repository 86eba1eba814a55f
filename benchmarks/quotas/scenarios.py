"""The scenarios: what each one serves and loads, and the lines it prints (the package's docstring
says what each answers).

Each scenario takes the :class:`~benchmarks.quotas.bench.Bench` and returns its lines of the report;
a configuration under a load that two scenarios share runs once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from yolo26_triton.serving.trace import TracedRequest, executions, most_at_once
from yolo26_triton.tools.statistics import percentile

from ..configs import ConfigEdit, detector_priority, per_device_resource, queue_limit
from .bench import (
    DETECTOR,
    DETECTORS,
    END_TO_END,
    END_TO_END_ENTRY_POINT,
    ENTRY_POINT,
    SHARED_STEPS,
    Bench,
)
from .load import Flow, Load, Run

SHARED_QUEUE_FLOODS = (120, 240)
"""Flooding clients in ``shared-queue``: fewer than the flooded detector's and a shared step's queues
(64 each) hold, and more."""


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


def _split(run: Run) -> str:
    runs = run.executions(*DETECTORS)
    count = Counter(execution.model for execution in runs)
    images = Counter(request.model for request in run.requests if request.model in DETECTORS)
    batch = {model: images[model] / count[model] if count[model] else 0.0 for model in DETECTORS}
    return (
        f"executions {count[DETECTOR]}:{count[END_TO_END]}, images {images[DETECTOR]}:{images[END_TO_END]}, "
        f"mean batch {batch[DETECTOR]:.2f}:{batch[END_TO_END]:.2f} ({DETECTOR}:{END_TO_END})"
    )


def _waits(requests: Sequence[TracedRequest]) -> str:
    waits = [request.wait_ms for request in requests]
    p50, p90 = (percentile(waits, q) for q in (50, 90)) if waits else (0.0, 0.0)
    return (
        f"{len(waits):4d} requests, wait p50 {p50:6.1f}  p90 {p90:6.1f}  max {max(waits, default=0.0):6.1f}; "
        f"its instance idle for {idle_share(requests):.0%} of the waiting"
    )


def _refused(run: Run) -> str:
    return ", ".join(f"{model} {count}" for model, count in sorted(run.refused.items())) or "none"


def scenario_slots(bench: Bench) -> list[str]:
    """The most detector executions at once, by rate-limiter setting."""
    load_name, load = bench.flood_both()
    lines = [f"slots: {load_name}, {bench.duration_s:g} s; detector executions at once"]
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
    lines = [f"priority: {load_name}, {bench.duration_s:g} s; queue wait of the shared steps, ms"]
    for priority in (1, 1000):
        name = f"both detectors at priority {priority}" + (" (shipped)" if priority == 1000 else "")
        edits = {model: detector_priority(priority) for model in DETECTORS} if priority != 1000 else None
        run = bench.run(name, load_name, load, edits, detector_slots=2)
        lines.append(f"  {name}: light {run.outcomes['light']}, flood {run.outcomes['flood']}")
        for model in SHARED_STEPS:
            lines.append(f"    {model:<11} {_waits(run.of(model))}")
    return lines


def scenario_split(bench: Bench) -> list[str]:
    """Executions and images per detector model, equal priorities against 1000:4000."""
    load_name, load = bench.flood_both()
    lines = [f"split: {load_name}, {bench.duration_s:g} s; per detector model"]
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
    lines = [f"history: {bench.duration_s:g} s each phase, shipped configs (priorities 1000:1000)"]
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
    light = max(1, round(bench.duration_s))
    lines = [
        "shared-queue: N clients flood detect_end2end (full-size JPEG); one client sends detect_ensemble "
        f"{light} requests, one a second"
    ]
    for flooders in SHARED_QUEUE_FLOODS:
        load_name = f"{flooders} flooding clients"
        load = Load(
            (
                Flow("flood", END_TO_END_ENTRY_POINT, flooders, image),
                Flow("light", ENTRY_POINT, 1, image, requests=light, interval_s=1.0),
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
