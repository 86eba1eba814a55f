"""How commands print: aligned tables, a progress bar, and detection results as a table or JSON lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from yolo26_triton.client import TritonError
from yolo26_triton.rollout import RolloutResult, ShadowRecord
from yolo26_triton.tools.detect_files import Outcome

PROGRESS_MIN_FILES = 6
"""The progress bar shows for more files than this minus one (and on a terminal only)."""


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def fixed(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals, ``-`` for None."""
    return "-" if value is None else f"{value:.{digits}f}"


class ProgressBar:
    """``[#####-----] 12/40`` on one line of ``stream``; silent unless there are enough files and a TTY."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total = total
        self.stream = stream
        self.width = width
        self.done = 0
        self.enabled = total >= PROGRESS_MIN_FILES and stream.isatty()

    def advance(self) -> None:
        """Count one more file done and redraw."""
        self.done += 1
        if self.enabled:
            filled = self.width * self.done // self.total
            self.stream.write(f"\r[{'#' * filled}{'-' * (self.width - filled)}] {self.done}/{self.total}")
            self.stream.flush()

    def finish(self) -> None:
        """End the progress line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def print_detections(images: Sequence[Path], outcomes: Sequence[Outcome], *, as_json: bool) -> None:
    """One outcome per image: a table, or JSON lines; failures and the untrained warning go to stderr.

    In table mode a failed image is an ``error:`` line on stderr; in JSON mode it is a record with an
    ``error`` key, so that every input file has exactly one line on stdout.
    """
    untrained = next(
        (o for o in outcomes if isinstance(o, RolloutResult) and o.detections.model_untrained), None
    )
    if untrained is not None:
        print(
            f"warning: the boxes come from an UNTRAINED model (source: {untrained.detections.model_source}); "
            "they are not meaningful",
            file=sys.stderr,
        )
    if as_json:
        for path, outcome in zip(images, outcomes, strict=True):
            print(json.dumps(outcome_record(path, outcome)))
    else:
        _print_detections_table(images, outcomes)


def outcome_record(path: Path, outcome: Outcome) -> dict[str, Any]:
    """One file's JSON line: its detections, which side answered, and how (or its error)."""
    if not isinstance(outcome, RolloutResult):
        status = outcome.status if isinstance(outcome, TritonError) else None
        error = {"type": type(outcome).__name__, "status": status, "message": str(outcome)}
        return {"file": str(path), "error": error}
    record: dict[str, Any] = {
        "file": str(path),
        "backend": outcome.backend,
        "image_size": list(outcome.detections.image_size),
        "latency_ms": round(outcome.latency_s * 1000, 2),
        "route": outcome.route,
        "model": dict(outcome.model_info),
    }
    if outcome.fallback is not None:
        record["fallback"] = outcome.fallback
    if outcome.shadow is not None and outcome.shadow.done():
        record["shadow"] = _shadow_record(outcome.shadow.result())
    return record | {
        "detections": [
            {
                "class_id": det.class_id,
                "class_name": det.class_name,
                "confidence": round(det.confidence, 4),
                "bbox": [round(value, 1) for value in det.bbox],
            }
            for det in outcome.detections
        ],
    }


def _shadow_record(shadow: ShadowRecord) -> dict[str, Any]:
    """Shadow mode's comparison with Triton, in a JSON line (agreement as ``triton-detect compare``)."""
    record: dict[str, Any] = {
        "status": shadow.status,
        "local_ms": round(shadow.local_latency_s * 1000, 2),
        "triton_ms": None if shadow.triton_latency_s is None else round(shadow.triton_latency_s * 1000, 2),
    }
    if shadow.agreement is not None:
        record |= {
            "agreement": round(shadow.agreement.agreement, 4),
            "local_boxes": shadow.agreement.reference_count,
            "triton_boxes": shadow.agreement.candidate_count,
            "matched": shadow.agreement.matched,
        }
    if shadow.error is not None:
        record["error"] = shadow.error
    return record


def _print_detections_table(images: Sequence[Path], outcomes: Sequence[Outcome]) -> None:
    rows: list[tuple[object, ...]] = []
    for path, outcome in zip(images, outcomes, strict=True):
        if not isinstance(outcome, RolloutResult):
            print(f"error: {path}: {type(outcome).__name__}: {outcome}", file=sys.stderr)
            continue
        version = outcome.model_version or "-"
        if not outcome.detections:
            rows.append((path, outcome.backend, version, "-", "", "", "", "", ""))
        for det in outcome.detections:
            rows.append(
                (
                    path,
                    outcome.backend,
                    version,
                    det.class_name,
                    f"{det.confidence:.2f}",
                    *(f"{value:.0f}" for value in det.bbox),
                )
            )
    if rows:
        print(format_table(("FILE", "BACKEND", "VERSION", "CLASS", "CONF", "X1", "Y1", "X2", "Y2"), rows))
