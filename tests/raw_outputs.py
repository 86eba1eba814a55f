"""Seeded raw detector outputs of both heads, with distinct scores and real overlaps, for the NMS tests."""

from __future__ import annotations

import numpy as np

SIZE = 640


def distinct_uniform(rng: np.random.Generator, count: int, low: float, high: float) -> np.ndarray:
    """``count`` distinct values in the open interval ``(low, high)``, shuffled, exact in float32."""
    values = low + (rng.permutation(count) + 1) / (count + 1) * (high - low)
    values = values.astype(np.float32)
    assert np.unique(values).size == count
    return values


def clustered_xyxy(rng: np.random.Generator, count: int, clusters: int = 25) -> np.ndarray:
    """Corner (xyxy) boxes jittered around a few centers, so that NMS has real overlaps to suppress."""
    centers = rng.uniform(0, SIZE, size=(clusters, 2))
    sizes = rng.uniform(15, 200, size=(clusters, 2))
    which = rng.integers(0, clusters, count)
    xy = centers[which] + rng.normal(0, 8, size=(count, 2))
    wh = sizes[which] * rng.uniform(0.75, 1.3, size=(count, 2))
    return np.concatenate([xy - wh / 2, xy + wh / 2], axis=1).astype(np.float32)


def classic_head(seed: int, classes: int = 80, anchors: int = 8400, hot: int = 1500) -> np.ndarray:
    """A ``(4 + classes, anchors)`` classic-head output with distinct scores in (0, 1).

    Most anchors score below 0.1 everywhere; ``hot`` anchors get one of four classes above 0.1,
    on boxes clustered so that boxes of one class overlap.
    """
    rng = np.random.default_rng(seed)
    scores = distinct_uniform(rng, classes * anchors, 0.0, 0.1).reshape(classes, anchors)
    hot_anchors = rng.choice(anchors, hot, replace=False)
    hot_classes = rng.integers(0, 4, hot)
    scores[hot_classes, hot_anchors] = distinct_uniform(rng, hot, 0.1, 1.0)
    corners = clustered_xyxy(rng, anchors)
    centers = (corners[:, :2] + corners[:, 2:]) / 2
    sizes = corners[:, 2:] - corners[:, :2]
    raw = np.concatenate([centers.T, sizes.T, scores]).astype(np.float32)
    assert np.unique(raw[4:]).size == classes * anchors
    return raw


def nms_free_head(seed: int, rows: int = 300) -> np.ndarray:
    """A ``(300, 6)`` NMS-free output: ``x1, y1, x2, y2, score, class``, best score first."""
    rng = np.random.default_rng(seed)
    boxes = clustered_xyxy(rng, rows)
    scores = np.sort(distinct_uniform(rng, rows, 0.0, 1.0))[::-1]
    classes = rng.integers(0, 80, rows).astype(np.float32)
    return np.concatenate([boxes, scores[:, None], classes[:, None]], axis=1).astype(np.float32)
