"""What ``compare`` found: box agreement per image and overall, and each side's latency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo26_triton.rollout.agreement import AgreementSummary, ImageAgreement, summarize_agreement
from yolo26_triton.tools.statistics import percentile

ULTRALYTICS_LATENCY = (
    "cv2.imdecode of the JPEG bytes + YOLO.predict (letterbox, PyTorch forward, NMS, boxes scaled back), "
    "in this process"
)
TRITON_LATENCY = (
    "TritonClient.detect round trip: request encoding, network, validate + decode + letterbox + model + "
    "NMS on the server, response decoding"
)


@dataclass(frozen=True)
class LatencySummary:
    """Latency of one side, in milliseconds (median, p90: the project's one :func:`.percentile`)."""

    mean_ms: float
    median_ms: float
    p90_ms: float

    @classmethod
    def of(cls, latencies_ms: Sequence[float]) -> LatencySummary:
        """Mean, median and 90th percentile of ``latencies_ms``.

        Raises:
            ValueError: ``latencies_ms`` is empty.
        """
        if not latencies_ms:
            raise ValueError("no latencies to summarize")
        mean = float(np.mean(np.asarray(latencies_ms, dtype=np.float64)))
        return cls(mean, percentile(latencies_ms, 50), percentile(latencies_ms, 90))

    def to_json(self) -> dict[str, float]:
        """``{"mean", "median", "p90"}`` in milliseconds, to 0.01."""
        return {
            "mean": round(self.mean_ms, 2),
            "median": round(self.median_ms, 2),
            "p90": round(self.p90_ms, 2),
        }


@dataclass(frozen=True)
class ImageComparison:
    """One image: the agreement of its boxes (Ultralytics the reference) and each side's latency."""

    image: str
    agreement: ImageAgreement
    ultralytics_ms: float
    triton_ms: float

    def to_json(self) -> dict[str, Any]:
        """Counts, ratios and milliseconds of this image."""
        return {
            "image": self.image,
            **_agreement_json(self.agreement, images=None),
            "ultralytics_ms": round(self.ultralytics_ms, 2),
            "triton_ms": round(self.triton_ms, 2),
        }


@dataclass(frozen=True)
class CompareReport:
    """Everything ``compare`` reports.

    Attributes:
        images: One comparison per image, in input order (at least one).
        settings: What was compared how (weights, thresholds, letterbox, server...), as JSON values.
    """

    images: tuple[ImageComparison, ...]
    settings: Mapping[str, Any]

    @property
    def summary(self) -> AgreementSummary:
        """Agreement over all images."""
        return summarize_agreement([image.agreement for image in self.images])

    @property
    def ultralytics_latency(self) -> LatencySummary:
        """Latency of the Ultralytics side."""
        return LatencySummary.of([image.ultralytics_ms for image in self.images])

    @property
    def triton_latency(self) -> LatencySummary:
        """Latency of the Triton side."""
        return LatencySummary.of([image.triton_ms for image in self.images])

    @property
    def speed_ratio(self) -> float:
        """Median Ultralytics latency over median Triton latency: above 1, Triton answers faster."""
        return self.ultralytics_latency.median_ms / self.triton_latency.median_ms

    def to_json(self) -> dict[str, Any]:
        """``{"images": [...], "summary": {...}, "settings": {...}}``; counts, ratios and milliseconds."""
        summary = self.summary
        return {
            "images": [image.to_json() for image in self.images],
            "summary": {
                **_agreement_json(summary, images=summary.images),
                "latency_ms": {
                    "ultralytics": self.ultralytics_latency.to_json(),
                    "triton": self.triton_latency.to_json(),
                },
                "speed_ratio": round(self.speed_ratio, 3),
            },
            "settings": dict(self.settings),
        }


def _agreement_json(agreement: ImageAgreement | AgreementSummary, *, images: int | None) -> dict[str, Any]:
    counts = {} if images is None else {"images": images}
    return counts | {
        "ultralytics_boxes": agreement.reference_count,
        "triton_boxes": agreement.candidate_count,
        "matched": agreement.matched,
        "agreement": _round(agreement.agreement, 4),
        "mean_iou": _round(agreement.mean_iou, 4),
        "max_score_diff": _round(agreement.max_score_diff, 5),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def served_model_warnings(model_info: Mapping[str, Any], weights: str) -> list[str]:
    """One-line warnings when the served model is not what the Ultralytics side runs, or is untrained.

    The weights are compared by file name: the server records the path it was built from, which is
    rarely the path this process loads.
    """
    warnings = []
    source = model_info.get("source")
    if source is None or Path(str(source)).name != Path(weights).name:
        warnings.append(
            f"the server's model was built from {source!r}, not {Path(weights).name!r}: "
            "the two sides may run different weights"
        )
    if model_info.get("untrained"):
        warnings.append(f"the served model is UNTRAINED (source {source!r}): its boxes mean nothing")
    return warnings
