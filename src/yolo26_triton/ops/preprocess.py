"""Batch preprocessing with per-image failure isolation, around the DALI pipeline.

DALI fails a whole batch when one sample cannot be decoded. :class:`BatchPreprocessor` then runs
each image of that batch alone, so a bad image fails by itself and the good ones in the same
dynamic batch still get their tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from yolo26_triton.ops.dali_pipeline import INPUT_NAME, build_pipeline
from yolo26_triton.ops.errors import InvalidImageError
from yolo26_triton.ops.image_check import JPEG_MAGIC


@dataclass(frozen=True)
class PreprocessedImage:
    """One image ready for the detector.

    Attributes:
        pixels: ``(3, size, size)`` uint8, RGB grey levels, letterboxed.
        original_size: ``(2,)`` int32 ``[height, width]`` of the decoded image.
    """

    pixels: NDArray[np.uint8]
    original_size: NDArray[np.int32]


class BatchPreprocessor:
    """Decodes and letterboxes batches of encoded images on the CPU with the shared pipeline."""

    def __init__(self, *, size: int, max_batch_size: int, num_threads: int) -> None:
        self._pipe = build_pipeline(
            decoder="cpu", size=size, batch_size=max_batch_size, num_threads=num_threads
        )
        self._pipe.build()
        self.max_batch_size = max_batch_size

    def run(self, images: list[NDArray[np.uint8]]) -> list[PreprocessedImage | InvalidImageError]:
        """Preprocesses ``images`` (1-D uint8 arrays of file bytes), in order.

        Returns:
            For each image, its tensors or the :class:`InvalidImageError` that explains why not.
        """
        results: list[PreprocessedImage | InvalidImageError] = []
        for start in range(0, len(images), self.max_batch_size):
            results.extend(self._run_chunk(images[start : start + self.max_batch_size]))
        return results

    def _run_chunk(self, images: list[NDArray[np.uint8]]) -> list[PreprocessedImage | InvalidImageError]:
        empty = [index for index, image in enumerate(images) if image.size == 0]
        if not empty:
            try:
                return self._decode(images)
            except RuntimeError:
                pass  # at least one image is undecodable: find which, one at a time
        return [self._run_alone(image) for image in images]

    def _run_alone(self, image: NDArray[np.uint8]) -> PreprocessedImage | InvalidImageError:
        if image.size == 0:
            return InvalidImageError("empty input: IMAGE holds no bytes")
        try:
            return self._decode([image])[0]
        except RuntimeError:
            return InvalidImageError(
                f"cannot decode image ({image.size} bytes): {_undecodable_reason(image)}"
            )

    def _decode(self, images: list[NDArray[np.uint8]]) -> list[PreprocessedImage | InvalidImageError]:
        self._pipe.feed_input(INPUT_NAME, images)
        pixels, sizes = self._pipe.run()
        return [
            PreprocessedImage(pixels=np.asarray(pixels[index]), original_size=np.asarray(sizes[index]))
            for index in range(len(images))
        ]


def _undecodable_reason(image: NDArray[np.uint8]) -> str:
    """Says why ``image`` failed to decode, since DALI's own message names no cause."""
    head = image[:8].tobytes()
    if head.startswith(JPEG_MAGIC):
        return "the JPEG data is truncated or corrupt"
    return f"not a JPEG or another image format the decoder supports (starts with {head!r})"
