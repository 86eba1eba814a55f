"""Quotas: a flood on one detector model cannot starve another (Triton's rate limiter, real server).

Two entry points share one server: ``detect_ensemble`` (detector ``yolo26``) and ``detect_end2end``
(detector ``yolo26_end2end``, built with the NMS-free head; its configs are generated from
``yolo26``'s, so it has the same rate limiter and queue policy). A
flood keeps many requests in flight on ``detect_end2end`` while a light client sends requests one at
a time to ``detect_ensemble``. What happened is read from Triton's own trace (every request,
``TIMESTAMPS``): each detector execution is one (model, compute start, compute end), shared by the
requests of its batch. Only counts and orderings are asserted, never durations.
"""

from __future__ import annotations

import asyncio
import bisect
import shutil
from pathlib import Path

import pytest

from yolo26_triton.client import (
    DetectionResult,
    ServerUnavailableError,
    TritonClient,
    TritonConfig,
    TritonError,
)
from yolo26_triton.contract import ENTRY_POINT
from yolo26_triton.export.repository import edit_config
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import DEFAULT_DETECTOR_SLOTS, ServerOptions
from yolo26_triton.serving.trace import executions, most_at_once, read_trace, trace_file_args

from ..conftest import END_TO_END_ENTRY_POINT, END_TO_END_MODEL, SECOND_VERSION
from ..jpeg_variants import small_photo
from ..repository_variants import queue_limit
from ..sample_images import SAMPLE_IMAGES

pytestmark = pytest.mark.integration
SLOTS = DEFAULT_DETECTOR_SLOTS["cpu"]
"""Detector executions at once, both detector models together (``triton-detect serve``'s default)."""
FLOOD_QUEUE = 4
"""The flooded detector's ``max_queue_size`` in this test (64 in the configs), so that a flood of
FLOOD_CLIENTS is refused at the detector while staying below the shared steps' queues (64)."""
FLOOD_CLIENTS = 32
FLOOD_HEAD_START = 4
"""Flood results before the light client starts: the flood then fills both slots."""
LIGHT_REQUESTS = 8
DETECTORS = ("yolo26", END_TO_END_MODEL)


def test_a_flood_on_one_detector_cannot_starve_the_other(
    multi_model_repository: Path, tmp_path: Path
) -> None:
    served = tmp_path / "two_entry_points"

    def without_second_version(folder: str, names: list[str]) -> set[str]:
        left_out = SECOND_VERSION if Path(folder).name == "yolo26" else f"detect_ensemble_v{SECOND_VERSION}"
        return {left_out} & set(names)

    shutil.copytree(multi_model_repository, served, ignore=without_second_version)
    edit_config(served / END_TO_END_MODEL / "configs" / "cpu.pbtxt", queue_limit(FLOOD_QUEUE))
    trace_file = tmp_path / "trace.json"  # written when the server stops
    options = ServerOptions.on_free_ports(repository=served, extra_args=trace_file_args(trace_file))
    assert options.rate_limit_args == [
        "--rate-limit=execution_count",
        f"--rate-limit-resource=detector_slots:{SLOTS}",
    ]
    light_image, flood_image = SAMPLE_IMAGES[0].read_bytes(), small_photo()

    flood: list[DetectionResult | TritonError] = []
    light: list[DetectionResult | TritonError] = []

    async def run() -> None:
        def config(model: str) -> TritonConfig:
            # No retries: every refusal is seen as it happened.
            return TritonConfig(
                url=options.grpc_url, http_url=options.http_url, model=model, max_retries=0, timeout_s=60.0
            )

        async with (
            TritonClient(config(END_TO_END_ENTRY_POINT)) as flooding,
            TritonClient(config(ENTRY_POINT)) as steady,
        ):
            await flooding.detect(flood_image)  # connections and first runs before the load
            await steady.detect(light_image)
            light_done, flood_going = asyncio.Event(), asyncio.Event()

            async def flood_client() -> None:
                while not light_done.is_set():
                    try:
                        flood.append(await flooding.detect(flood_image))
                    except TritonError as error:
                        flood.append(error)
                    if sum(isinstance(outcome, DetectionResult) for outcome in flood) >= FLOOD_HEAD_START:
                        flood_going.set()

            async def light_client() -> None:
                await flood_going.wait()
                for _ in range(LIGHT_REQUESTS):
                    try:
                        light.append(await steady.detect(light_image))
                    except TritonError as error:
                        light.append(error)
                light_done.set()

            await asyncio.gather(*(flood_client() for _ in range(FLOOD_CLIENTS)), light_client())

    with (tmp_path / "server.log").open("w") as log, EmbeddedServer(options, log_file=log):
        asyncio.run(run())
    requests = read_trace(trace_file).requests  # complete once the server has stopped

    runs = executions(requests, DETECTORS)
    flood_runs = [run for run in runs if run.model == END_TO_END_MODEL]
    light_requests = sorted((r for r in requests if r.model == "yolo26"), key=lambda r: r.queued)[
        1:
    ]  # no warm-up
    light_runs = executions(light_requests, ("yolo26",))
    flood_starts = [run.start for run in flood_runs]
    # Flood executions that started while a light request waited for its own: 0 when the light model
    # is next in line (fewest executions so far); at most one per slot whatever the order.
    overtaken = [
        bisect.bisect_left(flood_starts, r.started) - bisect.bisect_right(flood_starts, r.queued)
        for r in light_requests
    ]
    refusals = [outcome for outcome in flood if isinstance(outcome, ServerUnavailableError)]
    summary = (
        f"detector executions: {len(flood_runs)} flood, {len(light_runs)} light, "
        f"at most {most_at_once(runs)} at once; "
        f"flood: {len(flood) - len(refusals)} answered, {len(refusals)} refused; "
        f"flood executions overtaking each light request: {overtaken}"
    )
    print(summary)

    # (a) The global limit holds: both detector models together never ran more than SLOTS
    # executions at once, and the flood did fill them.
    assert most_at_once(runs) == SLOTS, summary
    # (b) The light model is not starved: every request answered, for its own image, each one
    # executed while the flood ran (flood executions before and after it), none overtaken by more
    # than one flood execution per slot.
    assert all(isinstance(outcome, DetectionResult) for outcome in light), light
    assert all(outcome.detections.image_size == (1080, 810) for outcome in light)  # type: ignore[union-attr]
    assert len(light_requests) == LIGHT_REQUESTS
    assert all(flood_starts[0] < run.start and run.end < flood_runs[-1].end for run in light_runs), summary
    assert max(overtaken) <= SLOTS, summary
    # (c) The flood beyond the flooded detector's queue is refused at once with a clear error
    # (UNAVAILABLE, retryable), not queued: every flood request was answered or refused, nothing
    # else failed or timed out; the light model was never refused.
    assert refusals, summary
    assert all(isinstance(outcome, DetectionResult | ServerUnavailableError) for outcome in flood), flood
    assert all("Exceeds maximum queue size" in str(refusal) for refusal in refusals), refusals[0]
    assert all(END_TO_END_ENTRY_POINT in str(refusal) for refusal in refusals), refusals[0]
