"""Real faults: a server that starts late, one killed and restarted, a model slower than the deadline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from yolo26_triton.client import InferenceTimeoutError, TritonClient, TritonConfig
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions

from ..repository_variants import hold_in_queue, repository_variant
from ..sample_images import SAMPLE_IMAGES

pytestmark = pytest.mark.integration
RETRIES = 20
"""Enough backoff (full jitter, 0.1 s doubling up to 5 s) to outlast a 3 s server start."""


def start_later(server: EmbeddedServer, delay_s: float) -> None:
    time.sleep(delay_s)
    server.start()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_detect_waits_for_a_server_that_starts_late(repository: Path, tmp_path: Path, protocol: str) -> None:
    options = ServerOptions.on_free_ports(repository=repository)
    config = TritonConfig(
        url=options.grpc_url, http_url=options.http_url, protocol=protocol, max_retries=RETRIES
    )
    image = SAMPLE_IMAGES[0].read_bytes()
    with (tmp_path / "server.log").open("w") as log:
        server = EmbeddedServer(options, log_file=log)

        async def run() -> int:
            async with TritonClient(config) as client:
                starter = asyncio.get_running_loop().run_in_executor(None, start_later, server, 1.0)
                result = await client.detect(image)
                await starter
            return len(result.detections)

        try:
            assert asyncio.run(run()) > 0
        finally:
            server.close()


def test_detect_survives_a_server_killed_and_restarted(repository: Path, tmp_path: Path) -> None:
    options = ServerOptions.on_free_ports(repository=repository)
    config = TritonConfig(url=options.grpc_url, http_url=options.http_url, max_retries=RETRIES)
    image = SAMPLE_IMAGES[1].read_bytes()
    with (tmp_path / "server.log").open("w") as log, EmbeddedServer(options, log_file=log) as server:

        async def run() -> tuple[list[float], list[float]]:
            async with TritonClient(config) as client:
                before = await client.detect(image)
                server.kill()
                restarter = asyncio.get_running_loop().run_in_executor(None, start_later, server, 0.5)
                after = await client.detect(image)
                await restarter
            return before.detections.confidence.tolist(), after.detections.confidence.tolist()

        before, after = asyncio.run(run())
        assert before and before == after


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_detect_times_out_against_a_slowed_model(repository: Path, tmp_path: Path, protocol: str) -> None:
    # Triton's own means slow it: preprocess holds every lone request in its queue for 4 s.
    slowed = repository_variant(repository, tmp_path / "slowed", "preprocess", hold_in_queue(4.0))
    options = ServerOptions.on_free_ports(repository=slowed)
    config = TritonConfig(url=options.grpc_url, http_url=options.http_url, protocol=protocol, timeout_s=1.0)
    image = SAMPLE_IMAGES[0].read_bytes()
    with (tmp_path / "server.log").open("w") as log, EmbeddedServer(options, log_file=log):

        async def run() -> float:
            async with TritonClient(config) as client:
                started = time.monotonic()
                with pytest.raises(InferenceTimeoutError):
                    await client.detect(image)
                return time.monotonic() - started

        elapsed = asyncio.run(run())
    assert 0.9 <= elapsed < 2.5
