"""``triton-detect compare`` against the real embedded server, on the weights it serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from yolo26_triton.cli.app import main as triton_detect
from yolo26_triton.serving.launcher import EmbeddedServer

from ..model_fixture import CONF, SCORE_TOLERANCE
from ..sample_images import SAMPLE_IMAGES

pytestmark = pytest.mark.integration


def compare(server: EmbeddedServer, weights: Path, *options: str, protocol: str = "grpc") -> list[str]:
    """The ``compare`` command line against ``server``, on the sample images."""
    url = server.options.grpc_url if protocol == "grpc" else server.options.http_url
    return [
        "compare",
        *map(str, SAMPLE_IMAGES),
        "--weights",
        str(weights),
        "--protocol",
        protocol,
        "--url",
        url,
        *options,
    ]


def test_square_letterbox_agrees_with_ultralytics(
    server: EmbeddedServer, fixture_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both sides letterbox to 640x640: only PyTorch vs ONNX Runtime and OpenCV's vs DALI's resize
    # differ. Observed: 154 boxes on each side, all matched, mean IoU 1.000, max score difference
    # 0.0065.
    argv = compare(server, fixture_weights, "--letterbox", "square", "--conf", str(CONF), "--json")
    assert triton_detect(argv) == 0
    captured = capsys.readouterr()
    assert "warning:" not in captured.err, captured.err  # the same weights, trained (not a YAML)
    report: dict[str, Any] = json.loads(captured.out)
    images, summary, settings = report["images"], report["summary"], report["settings"]

    assert [Path(image["image"]).name for image in images] == [path.name for path in SAMPLE_IMAGES]
    for image in images:
        assert 0 < image["matched"] <= min(image["ultralytics_boxes"], image["triton_boxes"])
        assert image["ultralytics_ms"] > 0 and image["triton_ms"] > 0
    for key in ("ultralytics_boxes", "triton_boxes", "matched"):
        assert summary[key] == sum(image[key] for image in images)
    assert summary["images"] == len(SAMPLE_IMAGES)
    assert summary["agreement"] >= 0.95
    assert summary["mean_iou"] > 0.9
    assert summary["max_score_diff"] < SCORE_TOLERANCE
    latency = summary["latency_ms"]
    for side in ("ultralytics", "triton"):
        assert 0 < latency[side]["median"] <= latency[side]["p90"]
    assert summary["speed_ratio"] == pytest.approx(
        latency["ultralytics"]["median"] / latency["triton"]["median"], rel=0.01
    )

    assert (settings["letterbox"], settings["conf"], settings["iou"], settings["max_det"]) == (
        "square",
        CONF,
        0.7,
        300,
    )
    assert settings["triton"]["served"]["source"] == str(fixture_weights)
    assert settings["triton"]["served"]["head"] == "classic"
    assert settings["ultralytics"]["device"] == "cpu"


def test_min_agreement_gate_fails_over_http(
    server: EmbeddedServer, fixture_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = compare(
        server,
        fixture_weights,
        "--letterbox",
        "square",
        "--conf",
        str(CONF),
        "--warmup",
        "0",
        "--min-agreement",
        "1.01",
        protocol="http",
    )
    assert triton_detect(argv) == 1
    captured = capsys.readouterr()
    assert "overall agreement 1.000" in captured.out  # the table is printed before the verdict
    assert "is below --min-agreement 1.01" in captured.err


def test_default_rect_letterbox_runs_and_reports(
    server: EmbeddedServer, fixture_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What the team runs today: predict() letterboxes a .pt to the smallest stride-32 rectangle
    # (bus.jpg 640x480, zidane.jpg 384x640, grace_hopper.jpg 640x576), the server to 640x640.
    # Observed with this fixture at conf 0.45: agreement 0.581 (86 matched of 142 Ultralytics and
    # 154 Triton boxes), matched mean IoU 0.954. Ultralytics alone, rect against square on the same
    # .pt, gives the same 0.581, and PyTorch against ONNX Runtime on the same rectangle 1.000: the
    # gap is the letterbox, not the server. The seeded random network reacts to the different
    # padding: it "detects" 40 boxes in the grey square padding (clipped to lines on the image
    # border, absent with less padding) and moves boxes at the image edges; a trained detector
    # is far less sensitive, but no trained weights can be downloaded here to measure it.
    argv = compare(server, fixture_weights, "--conf", str(CONF))
    assert triton_detect(argv) == 0
    out = capsys.readouterr().out
    assert "overall agreement" in out and "letterbox rect" in out
    assert all(path.name in out for path in SAMPLE_IMAGES)
