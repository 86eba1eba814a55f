"""NMS with the early stop at ``max_detections`` against full NMS then a cut, in one run.

    python -m benchmarks.nms

The worst case of the classic head: all 8400 anchors above the confidence threshold (``conf 0``,
as for mAP evaluation), 80 classes, ``max_detections`` 300. Both give the same boxes
(tests/unit/ops/test_detections.py); the early stop bounds the greedy loop by ``max_detections``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from yolo26_triton.ops.detections import CLASS_OFFSET, DetectionSettings, nms, select_classic, xywh_to_xyxy

ANCHORS = 8400
CLASSES = 80


def best_of(runs: int, work: Callable[[], object]) -> float:
    """Fastest of ``runs`` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    raw = np.zeros((4 + CLASSES, ANCHORS), np.float32)
    raw[0:2] = rng.uniform(0, 640, (2, ANCHORS))
    raw[2:4] = rng.uniform(5, 60, (2, ANCHORS))
    raw[4:] = rng.uniform(0, 1, (CLASSES, ANCHORS))
    settings = DetectionSettings(conf_threshold=0.0, iou_threshold=0.7, max_detections=300)
    scores, class_ids = raw[4:].max(axis=0), raw[4:].argmax(axis=0)
    offset_boxes = xywh_to_xyxy(raw[:4].T, np) + class_ids[:, None] * CLASS_OFFSET

    early = best_of(3, lambda: select_classic(raw, settings, np))
    full = best_of(
        3, lambda: nms(offset_boxes, scores, settings.iou_threshold, np)[: settings.max_detections]
    )
    print(f"select_classic, early stop at max_detections: {early:8.1f} ms")
    print(f"full NMS, then the first max_detections:      {full:8.1f} ms")
    print(f"ratio: {full / early:.1f}x")


if __name__ == "__main__":
    main()
