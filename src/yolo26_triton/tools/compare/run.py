"""Running both sides of ``compare`` on the same JPEGs, each timed the same way."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from yolo26_triton.client import Detections, InvalidInputError, TritonClient, TritonConfig, TritonError
from yolo26_triton.contract import INPUT_SIZE
from yolo26_triton.rollout.agreement import DEFAULT_MATCH_IOU, image_agreement
from yolo26_triton.rollout.errors import LocalModelError
from yolo26_triton.rollout.local import LetterboxMode, UltralyticsDetector, load_ultralytics, predict_options
from yolo26_triton.tools.compare.report import (
    TRITON_LATENCY,
    ULTRALYTICS_LATENCY,
    CompareReport,
    ImageComparison,
    served_model_warnings,
)
from yolo26_triton.tools.errors import ToolError, ToolInputError

Warn = Callable[[str], None]


@dataclass(frozen=True)
class CompareSettings:
    """How both sides run; the thresholds default to Ultralytics' ``predict()`` (also the server's).

    Attributes:
        weights: A ``.pt`` file or an Ultralytics name: the weights the server should serve too.
        conf: Confidence threshold, both sides.
        iou: NMS IoU threshold, both sides.
        max_det: At most this many boxes per image, both sides.
        match_iou: Least IoU for two boxes of the same class to match.
        letterbox: ``rect`` (predict()'s minimal rectangle) or ``square`` (640x640 as the server).
        warmup: Untimed runs per side before timing.
        device: PyTorch device of the Ultralytics side.
    """

    weights: str
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    match_iou: float = DEFAULT_MATCH_IOU
    letterbox: LetterboxMode = "rect"
    warmup: int = 1
    device: str = "cpu"


async def compare(
    paths: Sequence[Path], settings: CompareSettings, config: TritonConfig, *, warn: Warn = print
) -> CompareReport:
    """Each image through Triton (``config``) then through in-process Ultralytics, timed alike.

    First the whole Triton side, then the whole Ultralytics side, so that neither side's work overlaps
    the other's timing (on a CPU-profile server both share the host's cores). The Ultralytics side runs
    the head that the server's ``MODEL_INFO`` reports.

    Args:
        paths: The JPEGs.
        settings: Weights and thresholds of both sides.
        config: The Triton side.
        warn: Receives one line per warning (the served model is not these weights, or is untrained).

    Raises:
        ToolInputError: A file cannot be read, or the weights cannot be loaded.
        ToolError: One side failed on one image (the message names it).
    """
    try:
        images = [path.read_bytes() for path in paths]
        model = load_ultralytics(settings.weights)
    except OSError as error:
        raise ToolInputError(str(error)) from error
    except LocalModelError as error:
        raise ToolInputError(f"--weights {error}") from error

    model_info: dict[str, Any] = {}
    async with TritonClient(config) as client:

        async def on_triton(index: int) -> Detections:
            try:
                result = await client.detect(
                    images[index],
                    conf_threshold=settings.conf,
                    iou_threshold=settings.iou,
                    max_detections=settings.max_det,
                )
            except TritonError as error:
                raise ToolError(f"{paths[index]}: Triton: {type(error).__name__}: {error}") from error
            model_info.update(result.model_info)
            return result.detections

        triton, triton_ms = await timed(on_triton, len(images), settings.warmup)
    for warning in served_model_warnings(model_info, settings.weights):
        warn(warning)

    detector = UltralyticsDetector(
        model,
        predict_options(
            conf=settings.conf,
            iou=settings.iou,
            max_det=settings.max_det,
            letterbox=settings.letterbox,
            head="nms_free" if model_info.get("head") == "nms_free" else "classic",
            device=settings.device,
        ),
    )

    async def on_ultralytics(index: int) -> Detections:
        try:
            return detector.detect(images[index])
        except InvalidInputError as error:
            raise ToolError(f"{paths[index]}: Ultralytics: {error}") from error

    ultralytics, ultralytics_ms = await timed(on_ultralytics, len(images), settings.warmup)
    return CompareReport(
        images=tuple(
            ImageComparison(str(path), image_agreement(reference, candidate, settings.match_iou), ref_ms, ms)
            for path, reference, candidate, ref_ms, ms in zip(
                paths, ultralytics, triton, ultralytics_ms, triton_ms, strict=True
            )
        ),
        settings=_settings(settings, config, model_info),
    )


async def timed(
    detect: Callable[[int], Awaitable[Detections]], count: int, warmup: int
) -> tuple[list[Detections], list[float]]:
    """``warmup`` untimed calls (cycling through the images), then image ``0..count-1`` once each,
    timed: the detections and the milliseconds of each call."""
    for run in range(warmup):
        await detect(run % count)
    results, latencies_ms = [], []
    for index in range(count):
        started = time.perf_counter()
        results.append(await detect(index))
        latencies_ms.append((time.perf_counter() - started) * 1000)
    return results, latencies_ms


def _settings(
    settings: CompareSettings, config: TritonConfig, model_info: Mapping[str, Any]
) -> dict[str, Any]:
    import torch

    shown = asdict(settings)
    device = shown.pop("device")
    return shown | {
        "imgsz": INPUT_SIZE,
        "ultralytics": {
            "device": device,
            "torch_threads": torch.get_num_threads(),
            "latency": ULTRALYTICS_LATENCY,
        },
        "triton": {
            "protocol": config.protocol,
            "endpoint": config.endpoint,
            "model": config.model,
            "served": {key: value for key, value in model_info.items() if key != "image_size"},
            "latency": TRITON_LATENCY,
        },
    }
