"""The async client against the real embedded server, over gRPC and HTTP."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from yolo26_triton.client import InvalidInputError, ModelStatus, TritonClient, TritonConfig
from yolo26_triton.serving.launcher import EmbeddedServer

from ..sample_images import SAMPLE_IMAGES

pytestmark = pytest.mark.integration


def config_for(server: EmbeddedServer, protocol: str, **overrides: object) -> TritonConfig:
    """The config a user would get from TRITON_* variables pointing at ``server``."""
    environ = {
        "TRITON_URL": server.options.grpc_url,
        "TRITON_HTTP_URL": server.options.http_url,
        "TRITON_PROTOCOL": protocol,
    }
    return dataclasses.replace(TritonConfig.from_env(environ), **overrides)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_seed_snippet_runs_as_written(
    server: EmbeddedServer, protocol: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRITON_URL", server.options.grpc_url)
    monkeypatch.setenv("TRITON_HTTP_URL", server.options.http_url)
    monkeypatch.setenv("TRITON_PROTOCOL", protocol)
    image_bytes = SAMPLE_IMAGES[0].read_bytes()

    async def snippet() -> None:
        config = TritonConfig.from_env()
        client = TritonClient(config)
        if await client.is_healthy():
            result = await client.detect(image_bytes)
            for det in result.detections:
                print(f"{det.class_name}: {det.confidence:.2f}")
        await client.close()

    asyncio.run(snippet())
    lines = capsys.readouterr().out.splitlines()
    assert lines, "the fixture model finds boxes above the default 0.5 threshold on bus.jpg"
    assert all(float(line.rsplit(": ", 1)[1]) >= 0.5 for line in lines)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_detect_batch_keeps_input_order(server: EmbeddedServer, protocol: str) -> None:
    images = [image.read_bytes() for image in SAMPLE_IMAGES] * 3

    async def run() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        async with TritonClient(config_for(server, protocol)) as client:
            batch = await client.detect_batch(images)
            alone = [await client.detect(image) for image in images[:3]]
        return [r.detections.image_size for r in batch], [r.detections.image_size for r in alone] * 3

    batch_sizes, expected = asyncio.run(run())
    assert batch_sizes == expected == [(1080, 810), (720, 1280), (600, 512)] * 3


def test_concurrent_requests_of_different_sizes_are_batched(server: EmbeddedServer) -> None:
    """Different JPEG lengths still share batches (allow_ragged_batch), in every composing model."""
    images = [image.read_bytes() for image in SAMPLE_IMAGES] * 8

    async def run() -> dict[str, int]:
        async with TritonClient(config_for(server, "grpc", max_concurrency=24)) as client:
            await client.detect_batch(images)
            statistics = await client.statistics()
        return {
            stats.name: max(batch.batch_size for batch in stats.batch_stats)
            for stats in statistics
            if stats.name in ("preprocess", "yolo26", "postprocess")
        }

    largest_batches = asyncio.run(run())
    assert set(largest_batches) == {"preprocess", "yolo26", "postprocess"}
    assert all(size > 1 for size in largest_batches.values()), largest_batches


def test_invalid_jpeg_is_invalid_input_and_not_retried(server: EmbeddedServer) -> None:
    async def run() -> InvalidInputError:
        async with TritonClient(config_for(server, "grpc", max_retries=3)) as client:
            with pytest.raises(InvalidInputError) as raised:
                await client.detect(b"\xff\xd8\xff\xe0 truncated")
            before = await client.statistics("validate")
            with pytest.raises(InvalidInputError):
                await client.detect(b"\xff\xd8\xff\xe0 truncated")
            after = await client.statistics("validate")
        # One attempt, no retry. (Triton counts a Python-backend error response as an
        # inference, not as a failure.)
        assert after[0].inference_count - before[0].inference_count == 1
        return raised.value

    assert "truncated or corrupt" in str(asyncio.run(run()))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_model_status_needs_no_admin_key(server: EmbeddedServer, protocol: str) -> None:
    async def run() -> ModelStatus:
        async with TritonClient(config_for(server, protocol)) as client:
            return await client.model_status()

    status = asyncio.run(run())
    assert status.name == "detect_ensemble" and status.ready
    assert [(entry.version, entry.state) for entry in status.versions] == [("1", "READY")]
