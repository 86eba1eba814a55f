"""How far two detectors agree on the images they both saw: per image and pooled.

Used offline by ``triton-detect compare`` and live by the rollout's shadow traffic
(:mod:`yolo26_triton.rollout.detector`): the reference is the in-process Ultralytics detector, the
candidate Triton. Boxes are matched by :func:`~yolo26_triton.ops.matching.match_detections` (one to
one, same class, greedily by IoU); the agreement of an image is F1-like, ``2 * matched / (reference +
candidate)``; pooled over images, the same of the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yolo26_triton.client import Detections
from yolo26_triton.ops.matching import DEFAULT_MATCH_IOU, agreement_score, match_detections

__all__ = [
    "DEFAULT_MATCH_IOU",
    "AgreementSummary",
    "ImageAgreement",
    "image_agreement",
    "summarize_agreement",
]


@dataclass(frozen=True)
class ImageAgreement:
    """How the boxes of one image agree.

    Attributes:
        reference_count: Boxes on the reference (Ultralytics) side.
        candidate_count: Boxes on the candidate (Triton) side.
        matched: Matched pairs.
        mean_iou: Mean IoU of the matched pairs; ``None`` without any.
        max_score_diff: Largest ``|score difference|`` of a matched pair; ``None`` without any.
    """

    reference_count: int
    candidate_count: int
    matched: int
    mean_iou: float | None
    max_score_diff: float | None

    @property
    def agreement(self) -> float:
        """See :func:`agreement_score`."""
        return agreement_score(self.matched, self.reference_count, self.candidate_count)


def image_agreement(
    reference: Detections, candidate: Detections, iou_threshold: float = DEFAULT_MATCH_IOU
) -> ImageAgreement:
    """Match ``candidate`` against ``reference`` (:func:`match_detections`) and summarize the pairs."""
    matches = match_detections(
        reference.xyxy, reference.class_id, candidate.xyxy, candidate.class_id, iou_threshold
    )
    score_diff = np.abs(
        reference.confidence[matches.reference_index].astype(np.float64)
        - candidate.confidence[matches.candidate_index].astype(np.float64)
    )
    return ImageAgreement(
        reference_count=len(reference),
        candidate_count=len(candidate),
        matched=len(matches),
        mean_iou=float(matches.iou.mean()) if len(matches) else None,
        max_score_diff=float(score_diff.max()) if len(matches) else None,
    )


@dataclass(frozen=True)
class AgreementSummary:
    """Agreement over all images, every box counted once.

    Attributes:
        images: Images compared.
        reference_count: Reference boxes, all images.
        candidate_count: Candidate boxes, all images.
        matched: Matched pairs, all images.
        agreement: :func:`agreement_score` of the totals.
        mean_iou: Mean IoU over every matched pair; ``None`` without any.
        max_score_diff: Largest ``|score difference|`` of any matched pair; ``None`` without any.
    """

    images: int
    reference_count: int
    candidate_count: int
    matched: int
    agreement: float
    mean_iou: float | None
    max_score_diff: float | None


def summarize_agreement(records: Sequence[ImageAgreement]) -> AgreementSummary:
    """Pool per-image records: totals, the agreement of the totals, the IoU mean weighted by pairs."""
    reference_count = sum(record.reference_count for record in records)
    candidate_count = sum(record.candidate_count for record in records)
    matched = sum(record.matched for record in records)
    iou_sum = sum((record.mean_iou or 0.0) * record.matched for record in records)
    score_diffs = [record.max_score_diff for record in records if record.max_score_diff is not None]
    return AgreementSummary(
        images=len(records),
        reference_count=reference_count,
        candidate_count=candidate_count,
        matched=matched,
        agreement=agreement_score(matched, reference_count, candidate_count),
        mean_iou=iou_sum / matched if matched else None,
        max_score_diff=max(score_diffs) if score_diffs else None,
    )
