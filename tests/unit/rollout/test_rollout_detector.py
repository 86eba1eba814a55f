"""The facade without a Triton server: in-process Ultralytics on the seeded fixture model, and the
faults a unit test can cause for real (``closed_address`` refuses connections, ``listener`` accepts
them and never answers). The same with a real server is in tests/integration/test_rollout.py."""

from __future__ import annotations

import asyncio
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from yolo26_triton.client import InvalidInputError, ServerUnavailableError
from yolo26_triton.rollout import CIRCUIT_OPEN, LocalModelError, RolloutDetector, RolloutResult
from yolo26_triton.rollout.metrics import RolloutMetrics

from ...prometheus_text import Samples, metrics_server, scrape, value
from ...sample_images import SAMPLE_IMAGES

BUS = SAMPLE_IMAGES[0].read_bytes()
GRACE_HOPPER = SAMPLE_IMAGES[2].read_bytes()  # the smallest: the cheapest in-process prediction


def settings(weights: Path, address: str, **variables: str) -> dict[str, str]:
    """The variables of a facade whose Triton side is ``address`` (both protocols), without retries."""
    return {
        "YOLO_WEIGHTS": str(weights),
        "TRITON_URL": address,
        "TRITON_HTTP_URL": address,
        "TRITON_MAX_RETRIES": "0",
        "TRITON_TIMEOUT": "5",
        **variables,
    }


def read_metrics(registry: CollectorRegistry) -> Samples:
    with metrics_server(registry) as url:
        return scrape(f"{url}/metrics")


def has_pending_connection(listening: socket.socket) -> bool:
    """Whether a connection attempt waits in the listener's backlog."""
    return bool(select.select([listening], [], [], 0)[0])


def test_disabled_answers_in_process_and_never_connects(
    fixture_weights: Path, listener: socket.socket, silent_address: str
) -> None:
    # Shadow and fallback asked for too: TRITON_ENABLED=false overrides both.
    variables = settings(
        fixture_weights, silent_address, TRITON_ENABLED="false", TRITON_SHADOW="true", TRITON_FALLBACK="true"
    )
    registry = CollectorRegistry()

    async def run() -> tuple[bool, list[RolloutResult]]:
        async with RolloutDetector.from_env(variables, metrics=RolloutMetrics(registry)) as detector:
            loaded_before = detector.local_loaded
            results = [
                await detector.detect(GRACE_HOPPER, key="camera-1"),
                await detector.detect(GRACE_HOPPER),
            ]
            return loaded_before, results

    loaded_before, results = asyncio.run(run())
    assert not loaded_before  # loaded by the first request that needed it
    assert [result.backend for result in results] == ["local", "local"]
    assert all(len(result.detections) > 0 and result.shadow is None for result in results)
    assert results[0].model_info["source"] == str(fixture_weights) and results[0].route is None
    assert not has_pending_connection(listener)  # not one connection attempt reached "Triton"
    samples = read_metrics(registry)
    assert value(samples, "yolo26_detector_requests_total", backend="local", role="serve") == 2
    assert value(samples, "yolo26_detector_requests_total", backend="triton", role="serve") == 0
    assert value(samples, "yolo26_detector_rollout_percent") == 0


def test_the_listener_would_have_seen_a_connection(listener: socket.socket, silent_address: str) -> None:
    # The proof above is only worth something if an attempt shows up: one does.
    with socket.create_connection(("127.0.0.1", listener.getsockname()[1]), timeout=5):
        deadline = time.monotonic() + 5
        while not has_pending_connection(listener) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert has_pending_connection(listener)


def test_full_rollout_without_fallback_never_imports_ultralytics(closed_address: str) -> None:
    script = (
        "import asyncio, sys\n"
        "from yolo26_triton.rollout import RolloutDetector\n"
        "async def run():\n"
        "    async with RolloutDetector.from_env() as detector:\n"
        "        await detector.warm_up()\n"
        "        try:\n"
        "            await detector.detect(b'\\xff\\xd8\\xff', key='camera-1')\n"
        "        except Exception as error:\n"
        "            print(type(error).__name__)\n"
        "asyncio.run(run())\n"
        "print(sorted(name for name in ('ultralytics', 'torch', 'cv2') if name in sys.modules))\n"
    )
    environment = {**os.environ, **settings(Path("absent.pt"), closed_address, TRITON_ENABLED="true")}
    finished = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == ["ServerUnavailableError", "[]"]


def test_fallback_answers_in_process_and_the_breaker_stops_asking(
    fixture_weights: Path, closed_address: str
) -> None:
    variables = settings(
        fixture_weights,
        closed_address,
        TRITON_ENABLED="true",
        TRITON_FALLBACK="true",
        TRITON_BREAKER_FAILURES="2",
        TRITON_BREAKER_RESET_S="0.5",
    )
    registry = CollectorRegistry()

    async def run() -> list[str | None]:
        async with RolloutDetector.from_env(variables, metrics=RolloutMetrics(registry)) as detector:
            reasons = []
            for _ in range(3):  # two refusals open the breaker; the third never reaches Triton
                result = await detector.detect(GRACE_HOPPER)
                assert result.backend == "local" and len(result.detections) > 0
                reasons.append(result.fallback)
            await asyncio.sleep(0.6)  # past the reset: one request tries Triton again, fails, reopens
            reasons.append((await detector.detect(GRACE_HOPPER)).fallback)
            reasons.append((await detector.detect(GRACE_HOPPER)).fallback)
            return reasons

    reasons = asyncio.run(run())
    unavailable = "ServerUnavailableError"
    assert reasons == [unavailable, unavailable, CIRCUIT_OPEN, unavailable, CIRCUIT_OPEN]
    samples = read_metrics(registry)
    assert value(samples, "yolo26_detector_requests_total", backend="triton", role="serve") == 3
    assert (
        value(samples, "yolo26_detector_errors_total", backend="triton", role="serve", error=unavailable) == 3
    )
    assert value(samples, "yolo26_detector_fallbacks_total", reason=unavailable) == 3
    assert value(samples, "yolo26_detector_fallbacks_total", reason=CIRCUIT_OPEN) == 2
    assert value(samples, "yolo26_detector_requests_total", backend="local", role="serve") == 5
    assert value(samples, "yolo26_detector_circuit_open") == 1


def test_without_fallback_triton_errors_reach_the_caller(closed_address: str) -> None:
    variables = settings(
        Path("unused.pt"), closed_address, TRITON_ENABLED="true", TRITON_ROLLOUT_PERCENT="100"
    )

    async def run() -> None:
        async with RolloutDetector.from_env(variables) as detector:
            await detector.detect(BUS)

    with pytest.raises(ServerUnavailableError):
        asyncio.run(run())


def test_bad_input_is_the_callers_error_and_never_falls_back(
    fixture_weights: Path, closed_address: str
) -> None:
    registry = CollectorRegistry()
    on_triton = settings(fixture_weights, closed_address, TRITON_ENABLED="true", TRITON_FALLBACK="true")
    in_process = settings(fixture_weights, closed_address, TRITON_ENABLED="false")

    async def run() -> list[str]:
        messages = []
        async with RolloutDetector.from_env(on_triton, metrics=RolloutMetrics(registry)) as detector:
            for image, options in ((b"", {}), (BUS, {"max_detections": 0})):
                with pytest.raises(InvalidInputError) as raised:
                    await detector.detect(image, **options)
                messages.append(str(raised.value))
            assert not detector.local_loaded
        async with RolloutDetector.from_env(in_process) as detector:
            for image in (b"not an image", b"\x89PNG\r\n\x1a\n" + bytes(32), BUS[: len(BUS) // 2]):
                with pytest.raises(InvalidInputError) as raised:
                    await detector.detect(image)
                messages.append(str(raised.value))
        return messages

    messages = asyncio.run(run())
    assert "the image is empty" in messages[0]
    assert "max_detections=0" in messages[1]
    assert messages[2].startswith("not a JPEG") and messages[3] == "not a JPEG: looks like a PNG image"
    assert messages[4].startswith("truncated JPEG")  # the server's own checks, before any decoder
    samples = read_metrics(registry)
    assert value(samples, "yolo26_detector_fallbacks_total", reason="InvalidInputError") == 0
    assert value(samples, "yolo26_detector_requests_total", backend="local", role="serve") == 0


def test_shadow_answers_at_once_and_drops_what_does_not_fit(
    fixture_weights: Path, silent_address: str
) -> None:
    # "Triton" accepts connections and never answers: the first shadow request hangs (for up to
    # TRITON_TIMEOUT), and with one slot the second is dropped. The callers get their answers anyway.
    variables = settings(
        fixture_weights,
        silent_address,
        TRITON_ENABLED="true",
        TRITON_ROLLOUT_PERCENT="0",
        TRITON_SHADOW="true",
        TRITON_SHADOW_MAX_IN_FLIGHT="1",
        TRITON_TIMEOUT="60",
    )
    registry = CollectorRegistry()

    async def run() -> None:
        detector = RolloutDetector.from_env(variables, metrics=RolloutMetrics(registry))
        first = await detector.detect(GRACE_HOPPER, key="camera-1")
        second = await detector.detect(GRACE_HOPPER, key="camera-2")
        assert (first.backend, second.backend) == ("local", "local")
        assert first.shadow is not None and not first.shadow.done()  # answered while Triton says nothing
        assert second.shadow is not None and second.shadow.done()
        assert second.shadow.result().status == "dropped"
        await detector.close()  # cancels the hanging shadow request
        assert first.shadow.cancelled()

    asyncio.run(run())
    samples = read_metrics(registry)
    assert value(samples, "yolo26_detector_shadow_dropped_total") == 1
    assert value(samples, "yolo26_detector_requests_total", backend="triton", role="shadow") == 1
    assert value(samples, "yolo26_detector_shadow_agreement_count") == 0


def test_a_failed_shadow_request_is_recorded_not_raised(fixture_weights: Path, closed_address: str) -> None:
    variables = settings(
        fixture_weights,
        closed_address,
        TRITON_ENABLED="true",
        TRITON_ROLLOUT_PERCENT="0",
        TRITON_SHADOW="true",
    )
    registry = CollectorRegistry()

    async def run() -> RolloutResult:
        async with RolloutDetector.from_env(variables, metrics=RolloutMetrics(registry)) as detector:
            result = await detector.detect(GRACE_HOPPER)
            await detector.drain()
            return result

    result = asyncio.run(run())
    assert result.backend == "local" and result.shadow is not None
    record = result.shadow.result()
    assert record.status == "failed" and record.agreement is None
    assert record.error is not None and record.error.startswith("ServerUnavailableError")
    samples = read_metrics(registry)
    assert (
        value(
            samples,
            "yolo26_detector_errors_total",
            backend="triton",
            role="shadow",
            error="ServerUnavailableError",
        )
        == 1
    )


def test_weights_that_cannot_load_name_the_variable(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")

    async def run() -> None:
        async with RolloutDetector.from_env({"YOLO_WEIGHTS": str(broken)}) as detector:
            await detector.warm_up()

    with pytest.raises(LocalModelError, match=f"^YOLO_WEIGHTS={broken}: cannot load"):
        asyncio.run(run())
