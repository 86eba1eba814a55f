"""The values the client returns: detections, model status and inference statistics.

``TritonClient.detect()`` returns a :class:`DetectionResult`: what was found (:class:`Detections`,
column arrays in the style of roboflow/supervision, iterable as :class:`Detection` rows) apart from how
the call went (latency, the server's model record)::

    result = await client.detect(jpeg_bytes)
    for det in result.detections:
        print(f"{det.class_name}: {det.confidence:.2f}")
    boxes = result.detections.xyxy  # (N, 4) float32, original-image pixels
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

BoundingBox = tuple[float, float, float, float]
NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object.

    Attributes:
        bbox: ``(x1, y1, x2, y2)`` in pixels of the original image.
        confidence: Score in ``[0, 1]``.
        class_id: Index of the class in the model's class list.
        class_name: Name of the class.
    """

    bbox: BoundingBox
    confidence: float
    class_id: int
    class_name: str


@dataclass(frozen=True, eq=False)
class Detections:
    """The objects found in one image, as columns of equal length ``N``.

    Attributes:
        xyxy: ``(N, 4)`` float32 boxes ``x1, y1, x2, y2`` in pixels of the original image.
        confidence: ``(N,)`` float32 scores.
        class_id: ``(N,)`` int32 class indices.
        class_names: ``N`` class names, one per box.
        image_size: ``(height, width)`` of the original image.
        model_untrained: True when the model was built without trained weights: its boxes mean nothing.
        model_version: The Triton model version that answered, if known.
        model_source: What the model was built from (e.g. ``yolo26n.pt``), if known.

    Raises:
        ValueError: On construction, when a column has the wrong shape, dtype or length.
    """

    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    model_untrained: bool = False
    model_version: str | None = None
    model_source: str | None = None

    def __post_init__(self) -> None:
        _check_array("xyxy", self.xyxy, np.float32, ndim=2)
        if self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {self.xyxy.shape}")
        count = len(self.xyxy)
        _check_array("confidence", self.confidence, np.float32, ndim=1, length=count)
        _check_array("class_id", self.class_id, np.int32, ndim=1, length=count)
        class_names = tuple(self.class_names)
        if len(class_names) != count or not all(isinstance(name, str) for name in class_names):
            raise ValueError(f"class_names must be {count} strings, got {self.class_names!r}")
        object.__setattr__(self, "class_names", class_names)
        image_size = tuple(self.image_size)
        if len(image_size) != 2 or not all(_is_positive_int(side) for side in image_size):
            raise ValueError(
                f"image_size must be (height, width), positive integers; got {self.image_size!r}"
            )
        object.__setattr__(self, "image_size", (int(image_size[0]), int(image_size[1])))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __iter__(self) -> Iterator[Detection]:
        columns = (self.xyxy.tolist(), self.confidence.tolist(), self.class_id.tolist(), self.class_names)
        for box, score, class_id, class_name in zip(*columns, strict=True):
            yield Detection(bbox=tuple(box), confidence=score, class_id=class_id, class_name=class_name)

    def filter(self, min_confidence: float) -> Detections:
        """The detections scoring at least ``min_confidence``, with the same image and model fields."""
        keep = self.confidence >= min_confidence
        return Detections(
            xyxy=self.xyxy[keep],
            confidence=self.confidence[keep],
            class_id=self.class_id[keep],
            class_names=tuple(name for name, kept in zip(self.class_names, keep, strict=True) if kept),
            image_size=self.image_size,
            model_untrained=self.model_untrained,
            model_version=self.model_version,
            model_source=self.model_source,
        )


@dataclass(frozen=True)
class DetectionResult:
    """The answer to one ``detect()`` call.

    Attributes:
        detections: What was found.
        model_info: The server's ``MODEL_INFO`` record as sent (``model``, ``version``, ``source``,
            ``untrained``, ``head``, ``image_size``, ...).
        latency_s: Seconds the call took, retries included.
        route: The Triton model the request went to: the entry point (``detect_ensemble``) or a
            version's route (``detect_ensemble_v2``).
    """

    detections: Detections
    model_info: Mapping[str, Any]
    latency_s: float
    route: str

    @property
    def model_version(self) -> str | None:
        """The detector version that answered (from the server's ``MODEL_INFO``)."""
        return self.detections.model_version


@dataclass(frozen=True, slots=True)
class ModelVersionState:
    """One row of the model repository index.

    Attributes:
        name: Model name.
        version: Version, or ``None`` for a model the server has not loaded.
        state: ``READY``, ``UNAVAILABLE``, ``LOADING``, ... or ``None`` when unloaded.
        reason: Why the version is in that state (empty when ready).
    """

    name: str
    version: str | None
    state: str | None
    reason: str = ""

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> ModelVersionState:
        """Parse one entry of the repository index reply (gRPC omits empty fields)."""
        return cls(
            name=str(entry["name"]),
            version=str(entry["version"]) if entry.get("version") else None,
            state=str(entry["state"]) if entry.get("state") else None,
            reason=str(entry.get("reason", "")),
        )


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """Whether a model can serve requests, and the state of each of its versions."""

    name: str
    ready: bool
    versions: tuple[ModelVersionState, ...]


@dataclass(frozen=True, slots=True)
class BatchStatistics:
    """How the model ran executions of one batch size.

    Attributes:
        batch_size: Requests per execution.
        execution_count: Executions with this batch size.
        compute_input_ms: Average time per execution copying inputs in.
        compute_infer_ms: Average time per execution running the model.
        compute_output_ms: Average time per execution copying outputs out.
    """

    batch_size: int
    execution_count: int
    compute_input_ms: float
    compute_infer_ms: float
    compute_output_ms: float

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> BatchStatistics:
        """Parse one ``batch_stats`` entry of the statistics extension."""
        return cls(
            batch_size=_count(entry, "batch_size"),
            execution_count=_count(entry.get("compute_infer", {}), "count"),
            compute_input_ms=_average_ms(entry, "compute_input"),
            compute_infer_ms=_average_ms(entry, "compute_infer"),
            compute_output_ms=_average_ms(entry, "compute_output"),
        )


@dataclass(frozen=True, slots=True)
class ModelStatistics:
    """Inference statistics of one model version, since the server loaded it.

    Times are averages in milliseconds: each total (``ns``) divided by its own count, 0 before the
    first request.

    Attributes:
        name: Model name.
        version: Model version.
        last_inference_ms: When the last request finished, in milliseconds since the epoch (0: never).
        inference_count: Inferences performed (a batch of 4 counts 4).
        execution_count: Model executions (a batch of 4 counts 1).
        success_count: Requests that succeeded.
        fail_count: Requests that failed.
        request_ms: Average time of a successful request inside the server, from arrival to
            response (for an ensemble: the whole pipeline).
        queue_ms: Average wait in the scheduler's queue.
        compute_input_ms: Average time preparing inputs.
        compute_infer_ms: Average time running the model.
        compute_output_ms: Average time extracting outputs.
        batch_stats: Per batch size, as executed.
    """

    name: str
    version: str
    last_inference_ms: int
    inference_count: int
    execution_count: int
    success_count: int
    fail_count: int
    request_ms: float
    queue_ms: float
    compute_input_ms: float
    compute_infer_ms: float
    compute_output_ms: float
    batch_stats: tuple[BatchStatistics, ...] = field(default=())

    @property
    def average_batch_size(self) -> float:
        """Inferences per execution: how well the dynamic batcher grouped requests (0 before any)."""
        return self.inference_count / self.execution_count if self.execution_count else 0.0

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> ModelStatistics:
        """Parse one ``model_stats`` entry; accepts HTTP's numbers and gRPC JSON's strings and omissions."""
        inference_stats = entry.get("inference_stats", {})
        return cls(
            name=str(entry["name"]),
            version=str(entry.get("version", "")),
            last_inference_ms=_count(entry, "last_inference"),
            inference_count=_count(entry, "inference_count"),
            execution_count=_count(entry, "execution_count"),
            success_count=_count(inference_stats.get("success", {}), "count"),
            fail_count=_count(inference_stats.get("fail", {}), "count"),
            request_ms=_average_ms(inference_stats, "success"),
            queue_ms=_average_ms(inference_stats, "queue"),
            compute_input_ms=_average_ms(inference_stats, "compute_input"),
            compute_infer_ms=_average_ms(inference_stats, "compute_infer"),
            compute_output_ms=_average_ms(inference_stats, "compute_output"),
            batch_stats=tuple(
                sorted(
                    (BatchStatistics.from_json(batch) for batch in entry.get("batch_stats", [])),
                    key=lambda batch: batch.batch_size,
                )
            ),
        )


def parse_statistics(reply: Mapping[str, Any]) -> tuple[ModelStatistics, ...]:
    """Parse the statistics extension's reply ``{"model_stats": [...]}``."""
    entries: Iterable[Mapping[str, Any]] = reply.get("model_stats", [])
    return tuple(ModelStatistics.from_json(entry) for entry in entries)


def _check_array(
    name: str, array: object, dtype: type[np.generic], *, ndim: int, length: int | None = None
) -> None:
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype != dtype:
        raise ValueError(f"{name} must have dtype {np.dtype(dtype)}, got {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} must have shape ({length},), got {array.shape}")


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and bool(value > 0)


def _count(entry: Mapping[str, Any], key: str) -> int:
    # gRPC's JSON renders uint64 as strings and leaves out zeros.
    return int(entry.get(key, 0))


def _average_ms(stats: Mapping[str, Any], key: str) -> float:
    duration = stats.get(key, {})
    count = _count(duration, "count")
    return _count(duration, "ns") / count / NS_PER_MS if count else 0.0
