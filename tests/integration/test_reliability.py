"""Bad input, overload and faults never cost a good request (the real embedded server)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from yolo26_triton.client import (
    DetectionResult,
    InvalidInputError,
    ServerUnavailableError,
    TritonClient,
    TritonError,
)
from yolo26_triton.serving.isolation import processes_naming
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions

from ..jpeg_variants import bad_inputs, unusual_jpegs
from ..model_fixture import CONF
from ..repository_variants import hold_in_queue, repository_variant
from ..sample_images import SAMPLE_IMAGES
from .serve_process import kill_stub, start_serve
from .server_calls import client_config, healthcheck_status, infer, inference_count

pytestmark = pytest.mark.integration
IN_FLIGHT = 4
QUEUE_HOLD_S = 1.5
RESTART_RETRIES = 20
"""Full-jitter backoff (0.1 s doubling, 5 s cap): 20 retries outlast a restart of a few seconds."""


@pytest.mark.parametrize("name", sorted(bad_inputs()))
def test_bad_input_is_refused_with_its_own_message(server: EmbeddedServer, name: str) -> None:
    data, phrase = bad_inputs()[name]
    with pytest.raises(InferenceServerException) as refused:
        infer(server, "grpc", data)
    assert "INVALID_ARGUMENT" in str(refused.value.status())
    assert phrase in refused.value.message()
    assert healthcheck_status(server) == 200  # and the server still answers


def test_unusual_jpegs_are_answered(server: EmbeddedServer) -> None:
    for name, data in unusual_jpegs().items():
        upright = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2]
        outputs = infer(server, "grpc", data, conf_threshold=0.0, max_detections=5)
        assert len(outputs["SCORES"]) == 5, name
        assert f'"image_size": [{upright[0]}, {upright[1]}]' in outputs["MODEL_INFO"][0].decode(), name


def test_bad_images_fail_alone_among_concurrent_good_ones(server: EmbeddedServer) -> None:
    good = [image.read_bytes() for image in SAMPLE_IMAGES]
    bad = [data for data, _ in bad_inputs().values() if data]  # the client refuses empty bytes itself
    mixed = [image for pair in zip(good * 3, bad[: len(good) * 3], strict=False) for image in pair] + bad[9:]

    async def run() -> tuple[list[DetectionResult | TritonError], list[DetectionResult]]:
        async with TritonClient(
            client_config(server, max_concurrency=16, confidence_threshold=CONF)
        ) as client:
            outcomes = await client.detect_batch(mixed, return_exceptions=True)
            alone = [await client.detect(image) for image in good]
        return outcomes, alone

    outcomes, alone = asyncio.run(run())
    expected = {image: result for image, result in zip(good, alone, strict=True)}
    for image, outcome in zip(mixed, outcomes, strict=True):
        if image in expected:
            assert isinstance(outcome, DetectionResult)
            np.testing.assert_array_equal(outcome.detections.xyxy, expected[image].detections.xyxy)
        else:
            assert isinstance(outcome, InvalidInputError), outcome


def test_overload_is_refused_quickly_and_retried(repository: Path, tmp_path: Path) -> None:
    """A burst beyond a small queue: UNAVAILABLE at once instead of piling up; retries get through."""
    crowded = repository_variant(
        repository, tmp_path / "crowded", "preprocess", hold_in_queue(QUEUE_HOLD_S, max_queue_size=2)
    )
    options = ServerOptions.on_free_ports(repository=crowded)
    image = SAMPLE_IMAGES[0].read_bytes()
    with (tmp_path / "server.log").open("w") as log, EmbeddedServer(options, log_file=log) as server:

        async def burst(max_retries: int) -> tuple[list[DetectionResult | TritonError], list[float]]:
            config = client_config(server, max_retries=max_retries, max_concurrency=12, timeout_s=60.0)
            async with TritonClient(config) as client:
                await client.detect(image)  # connection and every model's first request before timing

                async def timed() -> tuple[DetectionResult | TritonError, float]:
                    started = time.monotonic()
                    try:
                        return await client.detect(image), time.monotonic() - started
                    except TritonError as error:
                        return error, time.monotonic() - started

                pairs = await asyncio.gather(*(timed() for _ in range(12)))
            return [outcome for outcome, _ in pairs], [elapsed for _, elapsed in pairs]

        outcomes, elapsed = asyncio.run(burst(max_retries=0))
        refused = [
            seconds
            for outcome, seconds in zip(outcomes, elapsed, strict=True)
            if isinstance(outcome, ServerUnavailableError)
        ]
        accepted = [
            seconds
            for outcome, seconds in zip(outcomes, elapsed, strict=True)
            if isinstance(outcome, DetectionResult)
        ]
        assert refused, outcomes
        # A request that entered the queue waits QUEUE_HOLD_S for a batch that never fills: every
        # refusal must come back before that, and before any accepted request.
        assert max(refused) < min([QUEUE_HOLD_S, *accepted]), (refused, accepted)
        assert all(isinstance(o, DetectionResult | ServerUnavailableError) for o in outcomes), outcomes
        assert "queue" in str(next(o for o in outcomes if isinstance(o, ServerUnavailableError))).lower()

        retried, _ = asyncio.run(burst(max_retries=20))
        assert all(isinstance(outcome, DetectionResult) for outcome in retried), retried


def test_server_killed_and_restarted_during_a_load_run(repository: Path, tmp_path: Path) -> None:
    """Every request gets a result or a clear error before its deadline; results match their inputs."""
    options = ServerOptions.on_free_ports(repository=repository)
    size_of = dict(
        zip(
            (image.read_bytes() for image in SAMPLE_IMAGES),
            [(1080, 810), (720, 1280), (600, 512)],
            strict=True,
        )
    )
    images = list(size_of) * 10
    with (tmp_path / "server.log").open("w") as log, EmbeddedServer(options, log_file=log) as server:

        def crash_and_restart() -> None:
            time.sleep(1.0)
            server.kill()
            time.sleep(1.0)
            server.start()

        async def run() -> list[DetectionResult | TritonError]:
            async with TritonClient(
                client_config(server, timeout_s=20.0, max_retries=RESTART_RETRIES, max_concurrency=IN_FLIGHT)
            ) as client:
                fault = asyncio.get_running_loop().run_in_executor(None, crash_and_restart)
                outcomes = await client.detect_batch(images, return_exceptions=True)
                await fault
            return outcomes

        started = time.monotonic()
        outcomes = asyncio.run(run())
        assert time.monotonic() - started < 20.0 + 15.0  # no request outlived its deadline by much
    assert len(outcomes) == len(images)
    for image, outcome in zip(images, outcomes, strict=True):
        assert isinstance(outcome, DetectionResult | TritonError), outcome
        if isinstance(outcome, DetectionResult):
            assert outcome.detections.image_size == size_of[image]  # answered for its own image
    failures = [outcome for outcome in outcomes if not isinstance(outcome, DetectionResult)]
    # Retries outlast the restart: only requests caught in flight by the crash may fail.
    assert len(failures) <= IN_FLIGHT, failures


def test_crashed_stub_fails_the_healthcheck(repository: Path, tmp_path: Path) -> None:
    options = ServerOptions.on_free_ports(repository=repository)
    with (tmp_path / "server.log").open("w") as log, EmbeddedServer(options, log_file=log) as server:
        assert healthcheck_status(server) == 200
        stubs = server.python_stubs()
        assert len(stubs) == 5  # validate, preprocess, 2 x yolo26, postprocess
        kill_stub(server.pid, "postprocess")  # type: ignore[arg-type]
        time.sleep(0.5)
        assert len(server.python_stubs()) == 4
        assert healthcheck_status(server) == 500  # /ready would still say 200 in Triton 2.51


def test_serve_exits_when_a_stub_dies(repository: Path, tmp_path: Path) -> None:
    """Within 5 s, exit code 3, and no shared-memory region of the dead server left behind."""
    serve = start_serve(repository, tmp_path / "serve.log")
    try:
        serve.ready_line()
        tritonserver = serve.tritonserver()
        command = Path(f"/proc/{tritonserver}/cmdline").read_bytes().decode()
        prefix = re.search(r"shm-region-prefix-name=([^\x00]+)", command)[1]  # type: ignore[index]
        assert len(list(Path(f"/proc/{tritonserver}/root/dev/shm").glob(f"{prefix}*"))) == 5
        started = time.monotonic()
        kill_stub(tritonserver, "yolo26")
        assert serve.process.wait(timeout=60) == 3
        assert time.monotonic() - started < 5
        assert "stub process died" in serve.output.read_text()
        assert not list(Path("/dev/shm").glob(f"{prefix}*"))  # never in the host's /dev/shm
        # The private /dev/shm is freed with the last process that holds it: no stub outlives serve.
        assert not processes_naming(prefix)
    finally:
        serve.kill()


@pytest.mark.parametrize(
    ("parameters", "phrase"),
    [
        ({"conf_threshold": 1.5}, "conf_threshold=1.5: expected a number in [0, 1]"),
        ({"iou_threshold": "high"}, "iou_threshold='high': expected a number in [0, 1]"),
        ({"max_detections": 0}, "max_detections=0: expected an integer in [1, 300]"),
    ],
)
def test_bad_parameters_are_refused_before_any_decode(
    server: EmbeddedServer, parameters: dict[str, object], phrase: str
) -> None:
    """Validate checks them first (hardening issue, finding 7): preprocess never runs."""
    before = inference_count(server, "preprocess")
    with pytest.raises(InferenceServerException) as refused:
        infer(server, "grpc", SAMPLE_IMAGES[0].read_bytes(), **parameters)
    assert "INVALID_ARGUMENT" in str(refused.value.status())
    assert phrase in refused.value.message()
    assert inference_count(server, "preprocess") == before
