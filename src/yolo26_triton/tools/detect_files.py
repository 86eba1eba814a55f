"""Detect objects in JPEG files, concurrently, through the migration facade (``triton-detect detect``
and ``demo``): each file's name is its routing key, so a file lands on the same side at a given
``TRITON_ROLLOUT_PERCENT``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from yolo26_triton.client import TritonError
from yolo26_triton.rollout import RolloutConfig, RolloutDetector, RolloutResult

Outcome = RolloutResult | TritonError | OSError
"""What one file gave: its result, or the error that it alone met (the others still run)."""


async def detect_files(
    paths: Sequence[Path],
    rollout: RolloutConfig,
    *,
    max_detections: int | None = None,
    annotate: Path | None = None,
    on_done: Callable[[], None] | None = None,
) -> list[Outcome]:
    """Each file's outcome, in order; at most ``rollout.triton.max_concurrency`` files open at once.

    Args:
        paths: JPEG files.
        rollout: The facade's settings (which side answers; thresholds on the Triton side).
        max_detections: At most this many boxes per image (the server's default when None).
        annotate: Folder for annotated copies (``<name>`` of each file), or None.
        on_done: Called after each file (a progress bar).

    Raises:
        LocalModelError: The in-process side cannot load its weights (before any file is read).
    """
    if annotate is not None:
        annotate.mkdir(parents=True, exist_ok=True)
    slots = asyncio.Semaphore(rollout.triton.max_concurrency)  # bounds open files as well as requests
    async with RolloutDetector(rollout) as detector:
        await detector.warm_up()  # a bad YOLO_WEIGHTS fails once, before any file

        async def detect_file(path: Path) -> Outcome:
            async with slots:
                try:
                    image = await asyncio.to_thread(path.read_bytes)
                    result = await detector.detect(image, key=path.name, max_detections=max_detections)
                    if annotate is not None:
                        await asyncio.to_thread(write_annotated, image, result, annotate / path.name)
                except (TritonError, OSError) as error:
                    return error
                finally:
                    if on_done is not None:
                        on_done()
                return result

        outcomes = await asyncio.gather(*(detect_file(path) for path in paths))
        await detector.drain()  # shadow mode: every comparison ends before the caller reports
    return list(outcomes)


def write_annotated(image: bytes, result: RolloutResult, destination: Path) -> None:
    """A copy of ``image`` with ``result``'s boxes drawn, as a JPEG at ``destination``."""
    from yolo26_triton.client.annotate import annotate_image

    annotate_image(image, result.detections).save(destination, format="JPEG", quality=95)
