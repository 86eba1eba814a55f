"""Versions side by side, the A/B split and a second entry point, on the real embedded server.

The session repository (tests/conftest.py) holds ``yolo26`` versions 1 and 2 (differently seeded
fixture models; ``detect_ensemble`` pinned to 1) and ``yolo26_end2end`` (version 1's weights with
the NMS-free head) behind ``detect_end2end``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from yolo26_triton.client import DetectionResult, TritonClient, TritonConfig
from yolo26_triton.serving.launcher import EmbeddedServer

from ..conftest import ADMIN_KEY, END_TO_END_ENTRY_POINT, END_TO_END_MODEL, SECOND_VERSION
from ..model_fixture import CONF
from ..sample_images import SAMPLE_IMAGES
from .serve_process import TRITON_DETECT

pytestmark = pytest.mark.integration
IMAGES = [image.read_bytes() for image in SAMPLE_IMAGES]


def client_config(server: EmbeddedServer, **overrides: object) -> TritonConfig:
    return TritonConfig(
        url=server.options.grpc_url,
        http_url=server.options.http_url,
        confidence_threshold=CONF,
        **overrides,  # type: ignore[arg-type]
    )


def detect_all(
    config: TritonConfig, images: list[bytes], rng: random.Random | None = None
) -> list[DetectionResult]:
    async def run() -> list[DetectionResult]:
        async with TritonClient(config, rng=rng) as client:
            return await client.detect_batch(images)

    return asyncio.run(run())


def request_successes(server: EmbeddedServer) -> Counter[tuple[str, str]]:
    """``nv_inference_request_success`` by (model, version), from the Prometheus endpoint."""
    with urllib.request.urlopen(server.options.metrics_url, timeout=10) as response:
        text = response.read().decode()
    pattern = r'^nv_inference_request_success\{model="([^"]+)",version="([^"]+)"\} (\S+)$'
    return Counter(
        {
            (model, version): int(float(value))
            for model, version, value in re.findall(pattern, text, re.MULTILINE)
        }
    )


def test_both_versions_are_served_and_say_who_answered(server: EmbeddedServer) -> None:
    async def run() -> dict[str, list[DetectionResult]]:
        async with TritonClient(client_config(server)) as client:
            status = await client.model_status("yolo26")
            assert [(v.version, v.state) for v in status.versions] == [("1", "READY"), ("2", "READY")]
            return {
                "entry point": [await client.detect(image) for image in IMAGES],
                "1": [await client.detect(image, model_version="1") for image in IMAGES],
                "2": [await client.detect(image, model_version="2") for image in IMAGES],
            }

    answers = asyncio.run(run())
    for label, results in answers.items():
        expected_version = "2" if label == "2" else "1"  # the entry point is pinned to version 1
        assert {result.model_version for result in results} == {expected_version}, label
        assert {result.model_info["model"] for result in results} == {"yolo26"}
    assert {result.route for result in answers["entry point"]} == {"detect_ensemble"}
    assert {result.route for result in answers["2"]} == {"detect_ensemble_v2"}
    for pinned, routed, other in zip(answers["entry point"], answers["1"], answers["2"], strict=True):
        np.testing.assert_array_equal(pinned.detections.xyxy, routed.detections.xyxy)
        assert not np.array_equal(routed.detections.xyxy, other.detections.xyxy)  # another network


def test_ab_split_is_counted_per_version_by_the_server(server: EmbeddedServer) -> None:
    before = request_successes(server)
    config = client_config(server, ab_split=(("1", 70), ("2", 30)), max_concurrency=4)
    results = detect_all(config, IMAGES * 8, rng=random.Random(1))

    picked = Counter(result.model_version for result in results)
    assert set(picked) == {"1", SECOND_VERSION}  # 24 draws at 70/30: both versions, for this seed
    assert all(result.route == f"detect_ensemble_v{result.model_version}" for result in results)
    after = request_successes(server)
    for version in ("1", SECOND_VERSION):
        assert after[("yolo26", version)] - before[("yolo26", version)] == picked[version]
        route = f"detect_ensemble_v{version}"
        assert after[(route, "1")] - before[(route, "1")] == picked[version]

    environment = {**os.environ, "TRITON_URL": server.options.grpc_url, "TRITON_AB_SPLIT": "1:70,2:30"}
    stats = subprocess.run(
        [*TRITON_DETECT, "stats"], capture_output=True, text=True, timeout=120, check=True, env=environment
    )
    rows = {tuple(line.split()[:2]) for line in stats.stdout.splitlines()[1:]}
    assert {
        ("detect_ensemble_v1", "1"),
        ("detect_ensemble_v2", "1"),
        ("yolo26", "1"),
        ("yolo26", "2"),
    } <= rows


def test_second_entry_point_shares_preprocess_and_postprocess(server: EmbeddedServer) -> None:
    config = client_config(server, model=END_TO_END_ENTRY_POINT)
    end_to_end = detect_all(config, IMAGES)
    classic = detect_all(client_config(server, model_version="1"), IMAGES)
    for result, reference in zip(end_to_end, classic, strict=True):
        assert result.model_info["model"] == END_TO_END_MODEL
        assert result.model_info["head"] == "nms_free"
        assert result.route == END_TO_END_ENTRY_POINT
        assert len(result.detections) > 0
        # The same weights behind another head: the best box of each image is found by both.
        best = result.detections.xyxy[np.argmax(result.detections.confidence)]
        assert np.abs(reference.detections.xyxy - best).max(axis=1).min() < 2.0

    models = subprocess.run(
        [*TRITON_DETECT, "models", "--url", server.options.grpc_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "TRITON_ADMIN_KEY": ADMIN_KEY},
    )
    names = Counter(line.split()[0] for line in models.stdout.splitlines()[1:])
    assert names["preprocess"] == names["postprocess"] == 1  # one of each, shared by every entry point
    assert names[END_TO_END_MODEL] == 1 and names[END_TO_END_ENTRY_POINT] == 1


def test_pinned_entry_point_config_on_the_server(
    server: EmbeddedServer, multi_model_repository: Path
) -> None:
    """What the server loaded: detect_ensemble pinned to 1, routes pinned, detect_end2end on latest."""

    def detector_step(model: str) -> tuple[str, int]:
        url = f"http://{server.options.http_url}/v2/models/{model}/config"
        with urllib.request.urlopen(url, timeout=10) as response:
            steps = json.loads(response.read())["ensemble_scheduling"]["step"]
        (step,) = [step for step in steps if "output_detector_id" in step["output_map"]]
        return step["model_name"], int(step["model_version"])

    assert detector_step("detect_ensemble") == ("yolo26", 1)
    assert detector_step("detect_ensemble_v2") == ("yolo26", 2)
    assert detector_step(END_TO_END_ENTRY_POINT) == (END_TO_END_MODEL, -1)
    versions = multi_model_repository / "yolo26"
    assert (versions / "2" / "model.py").read_bytes() == (versions / "1" / "model.py").read_bytes()
