"""The block NMS of ``yolo26_triton.ops.detections`` against the greedy loop it replaced, in one run.

    python -m benchmarks.nms            # prints the table; benchmarks/NMS.md keeps a run

Cases (classic head, 80 classes, 8400 anchors, Ultralytics' defaults otherwise):

* ``worst``: every anchor above the confidence threshold (``conf 0``, as for mAP evaluation),
  boxes spread over the image: 8400 candidates into NMS, 300 kept;
* ``busy``: conf 0.25 with 500 candidates per image around a dozen centers
  (``synthetic_classic_output``, the GPU check's stand-in detector output).

Each at batch 1 (``select_classic``) and batch 16 (``select_classic_batch``, one call for the
batch). The baseline is the previous implementation, kept here: greedy NMS that picks the best
remaining box, computes its IoU with the rest and filters, one Python iteration (and, on CuPy, one
host synchronization) per kept box, stopped at ``max_detections``. Both give the same boxes
(checked below, and against torchvision in tests/unit/ops/test_detections.py). Times: best of 3.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from yolo26_triton.ops.detections import (
    CLASS_OFFSET,
    DetectionSettings,
    select_classic,
    select_classic_batch,
    xywh_to_xyxy,
)
from yolo26_triton.ops.postprocess import synthetic_classic_output

ANCHORS = 8400
CLASSES = 80
BATCH = 16


def best_of(runs: int, work: Callable[[], object]) -> float:
    """Fastest of ``runs`` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def greedy_loop_select(raw: NDArray[np.float32], settings: DetectionSettings) -> tuple[Any, Any, Any]:
    """The previous ``select_classic``: one loop iteration per kept box."""
    class_scores = raw[4:]
    class_ids = np.argmax(class_scores, axis=0)
    scores = np.take_along_axis(class_scores, class_ids[None], axis=0)[0]
    candidates = np.nonzero(scores > settings.conf_threshold)[0]
    boxes = xywh_to_xyxy(raw[:4, candidates].T, np)
    scores, class_ids = scores[candidates], class_ids[candidates]
    offset = boxes + class_ids[:, None].astype(boxes.dtype) * CLASS_OFFSET
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < settings.max_detections:
        best = order[0]
        keep.append(int(best))
        if order.size == 1:
            break
        rest = offset[order[1:]]
        top_left = np.maximum(offset[best, :2], rest[:, :2])
        bottom_right = np.minimum(offset[best, 2:], rest[:, 2:])
        intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        area = np.prod(offset[best, 2:] - offset[best, :2])
        areas = np.prod(rest[:, 2:] - rest[:, :2], axis=1)
        order = order[1:][intersection / (area + areas - intersection + 1e-9) <= settings.iou_threshold]
    kept = np.asarray(keep, dtype=np.int64)
    return boxes[kept], scores[kept], class_ids[kept]


def spread_output(rng: np.random.Generator) -> NDArray[np.float32]:
    raw = np.zeros((4 + CLASSES, ANCHORS), np.float32)
    raw[0:2] = rng.uniform(0, 640, (2, ANCHORS))
    raw[2:4] = rng.uniform(5, 60, (2, ANCHORS))
    raw[4:] = rng.uniform(0, 1, (CLASSES, ANCHORS))
    return raw


def main() -> None:
    rng = np.random.default_rng(0)
    cases = {
        "worst (conf 0, 8400 candidates)": (
            np.stack([spread_output(rng) for _ in range(BATCH)]),
            DetectionSettings(conf_threshold=0.0),
        ),
        "busy (conf 0.25, 500 candidates)": (
            np.stack([synthetic_classic_output(ANCHORS, hot=500, seed=seed) for seed in range(BATCH)]),
            DetectionSettings(),
        ),
    }
    columns = ("greedy loop", "block NMS", "ratio", f"batch {BATCH}", "per image")
    print(f"{'case (ms; best of 3)':34}" + "".join(f"{column:>13}" for column in columns))
    for name, (batch, settings) in cases.items():
        raw = batch[0]
        same = all(
            np.array_equal(greedy_loop_select(image, settings)[1], select_classic(image, settings, np)[1])
            for image in batch[:4]
        )
        assert same, f"{name}: the block NMS and the greedy loop disagree"
        loop = best_of(3, partial(greedy_loop_select, raw, settings))
        block = best_of(3, partial(select_classic, raw, settings, np))
        batched = best_of(3, partial(select_classic_batch, batch, [settings] * BATCH, np))
        values = (
            f"{loop:.1f}",
            f"{block:.1f}",
            f"{loop / block:.1f}x",
            f"{batched:.1f}",
            f"{batched / BATCH:.1f}",
        )
        print(f"{name:34}" + "".join(f"{value:>13}" for value in values))


if __name__ == "__main__":
    main()
