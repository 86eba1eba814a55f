"""The migration facade with both real sides: the embedded server and in-process Ultralytics, serving
the same seeded fixture weights (the server's ``detect_ensemble`` v1 is built from ``fixture_weights``).

Metrics are read back from a real ``/metrics`` page, as Prometheus would.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from yolo26_triton.cli.app import main as triton_detect
from yolo26_triton.client import Detections, InvalidInputError, TritonConfig
from yolo26_triton.contract import MAX_DETECTIONS_LIMIT
from yolo26_triton.rollout import CIRCUIT_OPEN, RolloutDetector, RolloutResult, RolloutRouter, key_bucket
from yolo26_triton.rollout.agreement import ImageAgreement
from yolo26_triton.rollout.local import UltralyticsDetector, load_ultralytics, predict_options
from yolo26_triton.rollout.metrics import PREFIX, RolloutMetrics
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions

from ..model_fixture import CONF
from ..prometheus_process import LocalPrometheus
from ..prometheus_text import Samples, metrics_server, scrape, value
from ..sample_images import SAMPLE_IMAGES

pytestmark = pytest.mark.integration
GRACE_HOPPER = SAMPLE_IMAGES[2].read_bytes()  # the smallest sample: the cheapest in-process prediction


def settings(weights: Path, server: EmbeddedServer | ServerOptions, **variables: str) -> dict[str, str]:
    """A facade on ``server`` (gRPC) and ``weights`` in-process, at the threshold the tests use."""
    options = server.options if isinstance(server, EmbeddedServer) else server
    return {
        "TRITON_ENABLED": "true",
        "TRITON_URL": options.grpc_url,
        "TRITON_CONFIDENCE_THRESHOLD": str(CONF),
        "YOLO_WEIGHTS": str(weights),
        **variables,
    }


def read_metrics(registry: CollectorRegistry) -> Samples:
    with metrics_server(registry) as url:
        return scrape(f"{url}/metrics")


def count(results: list[RolloutResult], backend: str) -> int:
    return sum(result.backend == backend for result in results)


def test_rollout_percentage_sends_each_key_to_its_side(server: EmbeddedServer, fixture_weights: Path) -> None:
    keys = [f"camera-{number}" for number in range(8)]
    expected = {percent: [key_bucket(key) < percent for key in keys] for percent in (40, 80)}
    assert 0 < sum(expected[40]) < sum(expected[80]) < len(keys)  # both sides, and keys that move
    registry = CollectorRegistry()

    async def run() -> dict[int, list[RolloutResult]]:
        outcomes = {}
        for percent in (40, 80):
            variables = settings(fixture_weights, server, TRITON_ROLLOUT_PERCENT=str(percent))
            metrics = RolloutMetrics(registry) if percent == 40 else None
            async with RolloutDetector.from_env(variables, metrics=metrics) as detector:
                outcomes[percent] = await detector.detect_batch([GRACE_HOPPER] * len(keys), keys)
        return outcomes

    outcomes = asyncio.run(run())
    for percent, results in outcomes.items():
        assert [result.backend == "triton" for result in results] == expected[percent]
        for result in results:
            assert len(result.detections) > 0
            if result.backend == "triton":
                assert (result.route, result.model_version) == ("detect_ensemble", "1")
            else:
                assert result.model_info["source"] == str(fixture_weights)
    samples = read_metrics(registry)
    for backend in ("triton", "local"):
        answered = count(outcomes[40], backend)
        assert value(samples, "yolo26_detector_requests_total", backend=backend, role="serve") == answered
        assert (
            value(samples, "yolo26_detector_latency_seconds_count", backend=backend, role="serve") == answered
        )
    assert value(samples, "yolo26_detector_rollout_percent") == 40


def test_unkeyed_requests_follow_the_seeded_draw(server: EmbeddedServer, fixture_weights: Path) -> None:
    # The share itself is measured over 20000 seeded draws in tests/unit/rollout/test_rollout_routing.py;
    # here the facade must send each request where the same seeded router says.
    replay = RolloutRouter(70, random.Random(11))
    expected = ["triton" if replay.to_triton() else "local" for _ in range(10)]
    assert "local" in expected and "triton" in expected

    async def run() -> list[str]:
        variables = settings(fixture_weights, server, TRITON_ROLLOUT_PERCENT="70")
        async with RolloutDetector.from_env(variables, rng=random.Random(11)) as detector:
            return [(await detector.detect(GRACE_HOPPER)).backend for _ in expected]

    assert asyncio.run(run()) == expected


def same_detections(first: Detections, second: Detections) -> bool:
    return (
        np.array_equal(first.xyxy, second.xyxy)
        and np.array_equal(first.confidence, second.confidence)
        and np.array_equal(first.class_id, second.class_id)
        and first.class_names == second.class_names
    )


def test_shadow_returns_the_in_process_answer_and_agrees_with_the_server(
    server: EmbeddedServer, fixture_weights: Path
) -> None:
    # Square letterbox: both sides feed the network the same 640x640 tensor, so only numerics differ
    # (PyTorch against ONNX Runtime, OpenCV's against DALI's resize); see test_compare.py for why the
    # default rect letterbox does not agree on this seeded random network.
    variables = settings(
        fixture_weights, server, TRITON_ROLLOUT_PERCENT="0", TRITON_SHADOW="true", YOLO_LETTERBOX="square"
    )
    images = [path.read_bytes() for path in SAMPLE_IMAGES]
    registry = CollectorRegistry()

    async def run() -> list[RolloutResult]:
        async with RolloutDetector.from_env(variables, metrics=RolloutMetrics(registry)) as detector:
            results = [await detector.detect(image, key=f"camera-{n}") for n, image in enumerate(images)]
            await detector.drain()
            return results

    results = asyncio.run(run())
    reference = UltralyticsDetector(
        load_ultralytics(str(fixture_weights)),
        predict_options(
            conf=CONF,
            iou=TritonConfig().iou_threshold,  # the facade's default on both sides
            max_det=MAX_DETECTIONS_LIMIT,
            letterbox="square",
            head="classic",
            device="cpu",
        ),
    )
    boxes = 0
    for image, result in zip(images, results, strict=True):
        assert result.backend == "local" and result.fallback is None
        assert same_detections(result.detections, reference.detect(image))  # exactly the in-process answer
        assert result.shadow is not None and result.shadow.done()
        shadow = result.shadow.result()
        assert shadow.status == "compared" and shadow.agreement is not None
        assert shadow.agreement.agreement == 1.0 and shadow.agreement.reference_count > 0
        assert shadow.triton_latency_s is not None and shadow.triton_latency_s > 0
        boxes += shadow.agreement.reference_count
    samples = read_metrics(registry)
    assert value(samples, "yolo26_detector_shadow_agreement_count") == len(images)
    assert value(samples, "yolo26_detector_shadow_agreement_sum") == len(images)
    assert value(samples, "yolo26_detector_shadow_agreement_bucket", le="0.999") == 0  # every image perfect
    assert value(samples, "yolo26_detector_shadow_matched_boxes_total") == boxes
    assert value(samples, "yolo26_detector_shadow_boxes_total", backend="triton") == boxes
    assert value(samples, "yolo26_detector_latency_seconds_count", backend="triton", role="shadow") == len(
        images
    )
    assert value(samples, "yolo26_detector_latency_seconds_count", backend="local", role="serve") == len(
        images
    )
    assert value(samples, "yolo26_detector_requests_total", backend="triton", role="serve") == 0
    assert value(samples, "yolo26_detector_shadow_dropped_total") == 0


def test_fallback_answers_every_request_through_a_server_kill(
    repository: Path, fixture_weights: Path, tmp_path: Path
) -> None:
    options = ServerOptions.on_free_ports(repository=repository)
    variables = settings(
        fixture_weights,
        options,
        TRITON_FALLBACK="true",
        TRITON_BREAKER_FAILURES="2",
        TRITON_BREAKER_RESET_S="60",
        TRITON_MAX_RETRIES="1",
        TRITON_TIMEOUT="10",
    )
    registry = CollectorRegistry()
    requests, workers, kill_after = 12, 3, 3

    with (tmp_path / "server.log").open("w") as log, EmbeddedServer(options, log_file=log) as server:

        async def run() -> list[RolloutResult]:
            results: list[RolloutResult] = []
            async with RolloutDetector.from_env(variables, metrics=RolloutMetrics(registry)) as detector:
                with pytest.raises(InvalidInputError):  # judged by the live server, not tried in-process
                    await detector.detect(b"\xff\xd8\xff not really a JPEG")
                assert not detector.local_loaded
                killed = asyncio.Event()

                async def worker(share: int) -> None:
                    for _ in range(share):
                        results.append(await detector.detect(GRACE_HOPPER))
                        if count(results, "triton") >= kill_after and not killed.is_set():
                            killed.set()
                            server.kill()  # SIGKILL, as a crash: other requests are in flight

                await asyncio.gather(*(worker(requests // workers) for _ in range(workers)))
            return results

        results = asyncio.run(run())  # server.kill() ends the killed server's stubs too

    assert len(results) == requests  # every request answered, none raised
    triton, local = count(results, "triton"), count(results, "local")
    assert triton >= kill_after and local >= requests - triton and local > 0
    reasons = [result.fallback for result in results if result.backend == "local"]
    assert all(reason is not None for reason in reasons)
    assert CIRCUIT_OPEN in reasons and "ServerUnavailableError" in reasons
    samples = read_metrics(registry)
    assert (
        value(
            samples, "yolo26_detector_errors_total", backend="triton", role="serve", error="InvalidInputError"
        )
        == 1
    )
    assert value(samples, "yolo26_detector_fallbacks_total", reason="InvalidInputError") == 0
    for reason in set(reasons):
        assert value(samples, "yolo26_detector_fallbacks_total", reason=reason) == reasons.count(reason)
    assert value(samples, "yolo26_detector_requests_total", backend="local", role="serve") == local
    assert value(samples, "yolo26_detector_latency_seconds_count", backend="triton", role="serve") == triton
    assert value(samples, "yolo26_detector_circuit_open") == 1


def test_detect_command_reports_backend_and_shadow_agreement(
    server: EmbeddedServer,
    fixture_weights: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    variables = settings(
        fixture_weights, server, TRITON_ROLLOUT_PERCENT="0", TRITON_SHADOW="true", YOLO_LETTERBOX="square"
    )
    for name, raw in variables.items():
        monkeypatch.setenv(name, raw)
    argv = ["detect", *map(str, SAMPLE_IMAGES[1:]), "--json"]
    assert triton_detect(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [record["backend"] for record in records] == ["local", "local"]
    for record in records:
        assert record["shadow"]["status"] == "compared" and record["shadow"]["agreement"] == 1.0
        assert (
            record["shadow"]["local_boxes"] == record["shadow"]["triton_boxes"] == len(record["detections"])
        )

    monkeypatch.setenv("TRITON_ROLLOUT_PERCENT", "100")
    assert triton_detect(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(record["backend"], "shadow" in record) for record in records] == [("triton", False)] * 2


DASHBOARD = Path(__file__).resolve().parents[2] / "monitoring" / "grafana" / "dashboards" / "triton.json"


def feed(metrics: RolloutMetrics, rng: random.Random) -> None:
    """A moment of a 30 % rollout with shadow traffic on the rest, a fallback and a drop."""
    for _ in range(20):
        if rng.random() < 0.3:
            metrics.request("triton", "serve")
            metrics.answer("triton", "serve", rng.uniform(0.02, 0.05))
        else:
            metrics.request("local", "serve")
            metrics.answer("local", "serve", rng.uniform(0.08, 0.2))
            metrics.request("triton", "shadow")
            metrics.answer("triton", "shadow", rng.uniform(0.02, 0.05))
            metrics.shadow_compared(ImageAgreement(10, 10, 10 if rng.random() < 0.8 else 9, 1.0, 0.0))
    metrics.error("triton", "serve", "ServerUnavailableError")
    metrics.fallback("ServerUnavailableError")
    metrics.error("triton", "shadow", "InferenceTimeoutError")
    metrics.shadow_drop()


def test_dashboard_rollout_row_answers_on_a_real_prometheus(tmp_path: Path) -> None:
    # Every query of the Grafana rollout row, evaluated by Prometheus itself on the facade's metrics
    # (fed with a seeded mix; the facade's own counting is tested above): each returns data.
    registry = CollectorRegistry()
    metrics = RolloutMetrics(registry)
    metrics.rollout(30)
    metrics.circuit(True)
    queries = [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel.get("targets", [])
        if PREFIX in target["expr"]
    ]
    rng = random.Random(0)
    empty: list[str] = []

    def every_query_answers() -> bool:
        feed(metrics, rng)  # keeps the rates above zero while Prometheus scrapes every second
        empty[:] = [query for query in queries if not prometheus.query(query)]
        return not empty

    with (
        metrics_server(registry) as url,
        LocalPrometheus(tmp_path, [url.removeprefix("http://")], rule_files=[]) as prometheus,
    ):
        try:
            prometheus.wait(every_query_answers, timeout_s=60, what="every rollout query answers")
        except AssertionError as error:
            raise AssertionError(f"{error}; no data from: {empty}") from None
        ((_, configured),) = prometheus.query("max(yolo26_detector_rollout_percent)")
        ((_, circuit),) = prometheus.query("max(yolo26_detector_circuit_open)")
        agreement = prometheus.query(next(query for query in queries if "shadow_matched_boxes" in query))
    assert len(queries) >= 10
    assert (configured, circuit) == (30, 1)
    assert 0.9 < agreement[0][1] < 1.0  # one box in ten missed on a fifth of the images: about 0.98
