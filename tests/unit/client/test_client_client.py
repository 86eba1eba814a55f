"""TritonClient behaviour that needs no server: input checks, and real network failures.

``closed_address`` refuses connections and ``silent_address`` never answers; both are real sockets, so
these tests run tritonclient's real gRPC and HTTP stacks. Behaviour against a live server belongs to
the integration tests.
"""

import asyncio
import select
import socket
import time

import pytest

from yolo26_triton.client import (
    InferenceTimeoutError,
    InvalidInputError,
    ServerUnavailableError,
    TritonClient,
    TritonConfig,
)

PROTOCOLS = pytest.mark.parametrize("protocol", ["grpc", "http"])
JPEG = b"\xff\xd8\xff\xe0not really a jpeg"


def config_for(address: str, protocol: str, **overrides: str) -> TritonConfig:
    return TritonConfig.from_env(
        {
            "TRITON_URL": address,
            "TRITON_HTTP_URL": address,
            "TRITON_PROTOCOL": protocol,
            "TRITON_TIMEOUT": "5",
            "TRITON_MAX_RETRIES": "1",
            **overrides,
        }
    )


@PROTOCOLS
def test_seed_snippet_runs_without_a_server(
    protocol: str, closed_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed() -> None:
        config = config_for(closed_address, protocol)
        client = TritonClient(config)
        if await client.is_healthy():
            result = await client.detect(JPEG)
            for det in result.detections:
                print(f"{det.class_name}: {det.confidence:.2f}")
        await client.close()

    asyncio.run(seed())
    assert capsys.readouterr().out == ""


@PROTOCOLS
def test_is_healthy_is_false_when_nothing_listens(protocol: str, closed_address: str) -> None:
    async def check() -> bool:
        async with TritonClient(config_for(closed_address, protocol)) as client:
            return await client.is_healthy()

    assert asyncio.run(check()) is False


@PROTOCOLS
def test_refused_connection_is_server_unavailable(protocol: str, closed_address: str) -> None:
    async def detect() -> None:
        async with TritonClient(config_for(closed_address, protocol)) as client:
            await client.detect(JPEG)

    with pytest.raises(ServerUnavailableError) as caught:
        asyncio.run(detect())
    assert caught.value.is_transient
    assert caught.value.__cause__ is not None


@PROTOCOLS
def test_silent_server_times_out_within_the_configured_timeout(protocol: str, silent_address: str) -> None:
    config = config_for(silent_address, protocol, TRITON_TIMEOUT="0.5", TRITON_MAX_RETRIES="3")

    async def detect() -> None:
        async with TritonClient(config) as client:
            await client.detect(JPEG)

    started = time.monotonic()
    with pytest.raises(InferenceTimeoutError):
        asyncio.run(detect())
    assert time.monotonic() - started < 0.5 + 0.5  # the timeout bounds the call, retries included


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": b""}, "empty"),
        ({"image": JPEG, "conf_threshold": 1.5}, "conf_threshold=1.5"),
        ({"image": JPEG, "iou_threshold": -1}, "iou_threshold=-1"),
        ({"image": JPEG, "max_detections": 0}, "max_detections=0"),
    ],
)
def test_bad_input_fails_before_anything_is_sent(
    kwargs: dict[str, object], message: str, closed_address: str
) -> None:
    client = TritonClient(config_for(closed_address, "grpc"))
    with pytest.raises(InvalidInputError, match=message):
        asyncio.run(client.detect(**kwargs))  # type: ignore[arg-type]


@PROTOCOLS
def test_detect_batch_returns_errors_in_input_order(protocol: str, closed_address: str) -> None:
    async def batch() -> list[object]:
        async with TritonClient(config_for(closed_address, protocol, TRITON_MAX_RETRIES="0")) as client:
            return await client.detect_batch([JPEG, b"", JPEG], return_exceptions=True)  # type: ignore[return-value]

    outcomes = asyncio.run(batch())
    assert [type(outcome) for outcome in outcomes] == [
        ServerUnavailableError,
        InvalidInputError,
        ServerUnavailableError,
    ]


def test_detect_batch_raises_the_first_error_in_input_order(closed_address: str) -> None:
    async def batch() -> None:
        async with TritonClient(config_for(closed_address, "grpc", TRITON_MAX_RETRIES="0")) as client:
            await client.detect_batch([b"", JPEG])

    with pytest.raises(InvalidInputError):
        asyncio.run(batch())


def test_detect_batch_of_nothing() -> None:
    assert asyncio.run(TritonClient(TritonConfig()).detect_batch([])) == []


@PROTOCOLS
def test_management_calls_map_errors_too(protocol: str, closed_address: str) -> None:
    async def calls() -> list[object]:
        async with TritonClient(config_for(closed_address, protocol)) as client:
            return await asyncio.gather(
                client.statistics(),
                client.statistics("detect_ensemble"),
                client.repository_index(),
                client.model_status(),
                return_exceptions=True,
            )

    assert all(isinstance(outcome, ServerUnavailableError) for outcome in asyncio.run(calls()))


@PROTOCOLS
def test_a_client_serves_one_event_loop(protocol: str, closed_address: str) -> None:
    client = TritonClient(config_for(closed_address, protocol))
    assert asyncio.run(client.is_healthy()) is False
    with pytest.raises(RuntimeError, match="another event loop"):
        asyncio.run(client.is_healthy())


def pending_connections(listener: socket.socket) -> int:
    """Connections waiting in ``listener``'s backlog (accepted here, so each is counted once)."""
    count = 0
    while select.select([listener], [], [], 0)[0]:
        connection, _ = listener.accept()
        connection.close()
        count += 1
    return count


@PROTOCOLS
def test_nothing_connects_before_the_first_call_and_close_is_safe(
    protocol: str, listener: socket.socket, silent_address: str
) -> None:
    """A client made, asked for its routes and closed opens no connection; its first call does."""
    config = config_for(silent_address, protocol, TRITON_TIMEOUT="0.3", TRITON_MAX_RETRIES="0")

    async def without_calls() -> None:
        client = TritonClient(config)
        assert client.routes == ("detect_ensemble",)
        await asyncio.sleep(0.1)  # time for a connection that something started in the background
        await client.close()
        await client.close()

    async def first_call() -> bool:
        async with TritonClient(config) as client:
            return await client.is_healthy()  # the server never answers: False after the timeout

    asyncio.run(without_calls())
    assert pending_connections(listener) == 0
    assert asyncio.run(first_call()) is False
    assert pending_connections(listener) >= 1
