"""The postprocess model's work on a whole dynamic batch, with NumPy (KIND_CPU) or CuPy (KIND_GPU).

``postprocess/1/model.py`` hands over each request's tensors, wherever Triton put them (host memory,
or the GPU through DLPack: the Python backend promises neither), and its parameters;
:meth:`Postprocessor.run` returns each request's output arrays in host memory, or the error for that
request alone. All requests of one head are processed as one batch (:mod:`.detections`), so the
host and the GPU synchronize a fixed number of times per execute, not per request or per box:

1. the detector ids and original sizes of all requests, in one transfer each;
2. the NMS rounds of each head's batch (:func:`~.detections.batched_nms`);
3. each head's detections, boxes, scores and classes stacked, in one transfer.

Errors, per request: ``ValueError`` (bad parameters, more than one image in a request) and
:class:`~.errors.UnknownDetectorError` (an id that no ``metadata.json`` names).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from yolo26_triton.contract import BOXES, CLASS_IDS, CLASS_NAMES, MODEL_INFO, SCORES
from yolo26_triton.ops.detections import (
    NMS_FREE_ROWS,
    DetectionSettings,
    detections_in_original_pixels_batch,
    head_of,
)
from yolo26_triton.ops.metadata import WARMUP_DETECTOR_ID, DetectorCatalog, DetectorMetadata, warmup_metadata

Outputs = dict[str, NDArray[Any]]


@dataclass(frozen=True)
class _Member:
    """A request admitted into its head's batch."""

    index: int
    settings: DetectionSettings
    detector_id: int
    metadata: DetectorMetadata
    original_size: tuple[int, int]


@dataclass(frozen=True)
class RequestTensors:
    """One request's inputs, as the model received them.

    Attributes:
        raw: ``output0``, ``(1, rows, columns)``, a NumPy or CuPy array.
        original_size: ``ORIGINAL_SIZE``, ``(1, 2)`` int32 ``[height, width]``, NumPy or CuPy.
        detector_id: ``output_detector_id``, ``(1, 1)`` int32, NumPy or CuPy.
        parameters: ``request.parameters()``, a JSON object.
    """

    raw: Any
    original_size: Any
    detector_id: Any
    parameters: str


def to_host(arrays: Sequence[Any], xp: Any) -> list[NDArray[Any]]:
    """``arrays`` (small, NumPy or CuPy) in host memory: the device ones in one transfer."""
    on_device = [index for index, array in enumerate(arrays) if not isinstance(array, np.ndarray)]
    host = [array if isinstance(array, np.ndarray) else None for array in arrays]
    if on_device:
        flat = xp.concatenate([arrays[index].reshape(-1) for index in on_device]).get()
        offset = 0
        for index in on_device:
            size = arrays[index].size
            host[index] = flat[offset : offset + size].reshape(arrays[index].shape)
            offset += size
    return [np.asarray(array) for array in host]


class Postprocessor:
    """Turns detector outputs into the ensemble's outputs, a dynamic batch at a time.

    Args:
        catalog: The repository's detector metadata, by detector id.
        input_size: Side of the square model input (the letterbox the boxes are mapped back from).
        xp: ``numpy`` or ``cupy``: where the math runs.
    """

    def __init__(self, catalog: DetectorCatalog, input_size: int, xp: Any) -> None:
        self._catalog = catalog
        self._input_size = input_size
        self._xp = xp
        self._defaults = DetectionSettings()
        self._names: dict[int, NDArray[np.object_]] = {}

    def run(self, requests: Sequence[RequestTensors]) -> list[Outputs | Exception]:
        """Each request's outputs (host arrays, batch dimension 1), or the exception that fails it."""
        results: list[Outputs | Exception | None] = [None] * len(requests)
        host = to_host(
            [item for request in requests for item in (request.detector_id, request.original_size)], self._xp
        )
        groups: dict[tuple[int, ...], list[_Member]] = {}
        for index, request in enumerate(requests):
            identifier, original_size = host[2 * index], host[2 * index + 1]
            try:
                if request.raw.shape[0] != 1 or original_size.shape != (1, 2) or identifier.size != 1:
                    raise ValueError(
                        f"postprocess takes one image per request, got output0 {tuple(request.raw.shape)}, "
                        f"ORIGINAL_SIZE {tuple(original_size.shape)}"
                    )
                settings = self._defaults.with_request_parameters(request.parameters)
                head_of(request.raw[0])
                detector = int(identifier.reshape(-1)[0])
                metadata = (
                    warmup_metadata(self._input_size)
                    if detector == WARMUP_DETECTOR_ID
                    else self._catalog.lookup(detector)
                )
            except (ValueError, LookupError) as error:
                results[index] = error
                continue
            size = (int(original_size[0, 0]), int(original_size[0, 1]))
            member = _Member(index, settings, detector, metadata, size)
            groups.setdefault(tuple(request.raw.shape[1:]), []).append(member)
        for members in groups.values():
            self._run_group(requests, members, results)
        return [result if result is not None else RuntimeError("not processed") for result in results]

    def _run_group(
        self,
        requests: Sequence[RequestTensors],
        members: list[_Member],
        results: list[Outputs | Exception | None],
    ) -> None:
        xp = self._xp
        raw = xp.concatenate([xp.asarray(requests[member.index].raw) for member in members])
        batch = detections_in_original_pixels_batch(
            raw,
            [member.original_size for member in members],
            [member.settings for member in members],
            self._input_size,
            xp,
        )
        stacked = xp.concatenate(
            [batch.boxes, batch.scores[:, None], batch.class_ids[:, None].astype(xp.float32)], axis=1
        )
        (columns,) = to_host([stacked], xp)
        bounds = np.cumsum([0, *batch.counts])
        for member, low, high in zip(members, bounds[:-1], bounds[1:], strict=True):
            rows, metadata = columns[low:high], member.metadata
            class_ids = rows[:, 5].astype(np.int32)
            try:
                names = self._class_names(member.detector_id, metadata, class_ids)[class_ids]
            except IndexError:
                results[member.index] = LookupError(
                    f"{metadata.model} v{metadata.version} returned class {int(class_ids.max())} but names "
                    f"{len(metadata.names)} classes"
                )
                continue
            results[member.index] = {
                BOXES: np.ascontiguousarray(rows[None, :, :4]),
                SCORES: np.ascontiguousarray(rows[None, :, 4]),
                CLASS_IDS: class_ids[None],
                CLASS_NAMES: names[None],
                MODEL_INFO: np.array(
                    [[metadata.response_info(member.original_size).encode()]], dtype=np.object_
                ),
            }

    def _class_names(
        self, detector: int, metadata: DetectorMetadata, class_ids: NDArray[np.int32]
    ) -> NDArray[np.object_]:
        if detector == WARMUP_DETECTOR_ID:  # classes named by number, as many as the output has
            count = int(class_ids.max()) + 1 if class_ids.size else 1
            return np.array([str(index).encode() for index in range(count)], dtype=np.object_)
        if detector not in self._names:
            self._names[detector] = np.array([name.encode() for name in metadata.names], dtype=np.object_)
        return self._names[detector]


WARMUP_ANCHORS = 512
"""Anchors of the classic-head sample the configs' ``model_warmup`` sends (two NMS blocks)."""


def synthetic_classic_output(
    anchors: int = WARMUP_ANCHORS, classes: int = 80, *, hot: int | None = None, seed: int = 0
) -> NDArray[np.float32]:
    """A seeded classic-head output ``(4 + classes, anchors)``: boxes around a dozen centers, so that
    they overlap, every score below 0.1 except ``hot`` anchors (all by default) that score one of four
    classes between 0.3 and 0.95. The configs' ``model_warmup`` sends it (``postprocess/warmup/``), so
    the warmup runs every kernel of the NMS; ``scripts/gpu_check.py`` uses it as detector output."""
    generator = np.random.default_rng(seed)
    raw = np.empty((4 + classes, anchors), np.float32)
    centers = generator.uniform(40, 600, (12, 2))
    which = generator.integers(0, len(centers), anchors)
    raw[0:2] = (centers[which] + generator.normal(0, 6, (anchors, 2))).T
    raw[2:4] = generator.uniform(30, 120, (2, anchors))
    raw[4:] = generator.uniform(0, 0.1, (classes, anchors))
    chosen = np.arange(anchors) if hot is None else generator.choice(anchors, hot, replace=False)
    raw[4 + generator.integers(0, 4, len(chosen)), chosen] = generator.uniform(0.3, 0.95, len(chosen))
    return raw


def synthetic_nms_free_output(
    rows: int = NMS_FREE_ROWS, classes: int = 80, *, seed: int = 0
) -> NDArray[np.float32]:
    """A seeded NMS-free output ``(rows, 6)`` (``x1, y1, x2, y2, score, class``, best first), half of
    it above the default threshold: the warmup's second sample (``postprocess/warmup/``)."""
    generator = np.random.default_rng(seed)
    raw = np.empty((rows, 6), np.float32)
    corners = generator.uniform(0, 560, (rows, 2))
    raw[:, 0:2] = corners
    raw[:, 2:4] = corners + generator.uniform(10, 80, (rows, 2))
    raw[:, 4] = np.sort(generator.uniform(0, 0.5, rows))[::-1]
    raw[:, 5] = generator.integers(0, classes, rows)
    return raw
