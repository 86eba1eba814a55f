"""The in-process side: Ultralytics ``predict()`` on a ``.pt``, the detector a team runs today.

The JPEG bytes are decoded with ``cv2.imdecode`` (what Ultralytics' own ``imread`` does with a
file's bytes) and passed to ``model.predict(image, verbose=False, ...)`` with the options of
:func:`predict_options`: the same thresholds as the Triton side, at :data:`INPUT_SIZE` pixels, and the
letterbox either ``rect`` (``predict()``'s default for a ``.pt``: the smallest stride-32 rectangle,
what runs today) or ``square`` (640x640 like the server, so that only numerics differ). The
reasoning, read in Ultralytics 8.4.190's source, is in :mod:`yolo26_triton.tools.compare`.

Ultralytics is imported only when a model is loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from yolo26_triton.client import Detections, InvalidInputError
from yolo26_triton.contract import INPUT_SIZE
from yolo26_triton.ops.detections import Head
from yolo26_triton.ops.errors import InvalidImageError
from yolo26_triton.ops.image_check import ImageLimits, check_image
from yolo26_triton.rollout.errors import LocalModelError

LetterboxMode = Literal["rect", "square"]
LETTERBOX_MODES: tuple[LetterboxMode, ...] = get_args(LetterboxMode)
HEADS: tuple[Head, ...] = get_args(Head)


def predict_options(
    *, conf: float, iou: float, max_det: int, letterbox: LetterboxMode, head: Head, device: str
) -> dict[str, Any]:
    """The keyword arguments of ``predict()`` that make it run as the server does.

    Args:
        conf: Confidence threshold.
        iou: NMS IoU threshold.
        max_det: At most this many boxes.
        letterbox: ``rect`` (``predict()``'s default) or ``square`` (640x640, as the server).
        head: The served head: ``classic`` (NMS) or ``nms_free`` (YOLO26's one-to-one head).
        device: PyTorch device, e.g. ``cpu`` or ``cuda:0``.
    """
    return {
        "conf": conf,
        "iou": iou,
        "max_det": max_det,
        "imgsz": INPUT_SIZE,
        "rect": letterbox == "rect",
        "nms": False if head == "nms_free" else None,
        "device": device,
    }


def load_ultralytics(weights: str) -> Any:
    """``ultralytics.YOLO(weights)`` for a ``.pt`` path or name (Ultralytics downloads known names).

    Raises:
        LocalModelError: The weights are not a ``.pt``, or cannot be loaded (missing file, offline
            download, not a checkpoint), or Ultralytics is not installed; the message starts with
            ``weights``. A randomly initialized model would answer with meaningless boxes, so there is
            no fallback.
    """
    if Path(weights).suffix != ".pt":
        raise LocalModelError(f"{weights}: expected trained weights, a .pt file or a name like yolo26n.pt")
    try:
        from ultralytics import YOLO
    except ImportError as error:
        raise LocalModelError(
            f"{weights}: the in-process detector needs Ultralytics and PyTorch "
            f"(pip install 'yolo26-triton[build]'): {error}"
        ) from error
    try:
        # Quiet: a failed download logs warnings of its own; the one line below says what matters.
        with ultralytics_logs_to_stderr(logging.ERROR):
            return YOLO(weights)
    except Exception as error:  # a download, a file or torch.load can fail in many ways; all end here
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LocalModelError(
            f"{weights}: cannot load ({first_line}); an untrained model would answer with meaningless boxes"
        ) from error


@dataclass(frozen=True)
class UltralyticsDetector:
    """``model.predict`` with fixed settings, one JPEG at a time, in the calling thread.

    Attributes:
        model: An ``ultralytics.YOLO``.
        options: Keyword arguments of every ``predict`` call (:func:`predict_options`).
    """

    model: Any
    options: Mapping[str, Any]

    def detect(self, image: bytes, **overrides: Any) -> Detections:
        """Decode ``image`` as Ultralytics' ``imread`` does (``cv2.imdecode``), predict, convert.

        Args:
            image: The bytes of an image file.
            overrides: ``predict`` options that replace :attr:`options` for this call (``max_det``).

        Raises:
            InvalidInputError: OpenCV cannot decode ``image``.
        """
        import cv2

        decoded = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise InvalidInputError("OpenCV cannot decode the image")
        with ultralytics_logs_to_stderr():
            result = self.model.predict(decoded, verbose=False, **{**self.options, **overrides})[0]
        boxes = result.boxes.cpu()
        class_id = boxes.cls.numpy().astype(np.int32)
        return Detections(
            xyxy=boxes.xyxy.numpy().astype(np.float32).reshape(-1, 4),
            confidence=boxes.conf.numpy().astype(np.float32),
            class_id=class_id,
            class_names=tuple(str(result.names[int(index)]) for index in class_id),
            image_size=(int(result.orig_shape[0]), int(result.orig_shape[1])),
        )


class LocalDetector:
    """Ultralytics in this process for an asyncio service: loaded on first use, on its own thread.

    One thread runs the loading and every ``predict`` in turn (an Ultralytics model is not safe to
    call from two threads at once), so the event loop never blocks on PyTorch. Before decoding, an
    image passes the server's own header checks (:func:`~yolo26_triton.ops.image_check.check_image`,
    default limits), so both sides refuse the same files.

    Args:
        weights: A ``.pt`` file or an Ultralytics name.
        options: The ``predict`` options (:func:`predict_options`).
    """

    def __init__(self, weights: str, options: Mapping[str, Any]) -> None:
        self.weights = weights
        self.options = dict(options)
        self._limits = ImageLimits()
        self._detector: UltralyticsDetector | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yolo26-local")

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._detector is not None

    @property
    def model_info(self) -> dict[str, Any]:
        """What answered, in the shape of the server's ``MODEL_INFO``: the weights and how they run."""
        return {
            "model": "ultralytics",
            "source": self.weights,
            "head": "nms_free" if self.options.get("nms") is False else "classic",
            "letterbox": "rect" if self.options.get("rect") else "square",
            "device": self.options.get("device"),
        }

    async def load(self) -> None:
        """Load the model now and run one prediction on a blank image, if not yet loaded.

        Ultralytics sets up its predictor on the first ``predict`` (about 1.5 s on a 2-core CPU,
        against 0.1 s for the next ones): done here, no caller waits for it.

        Raises:
            LocalModelError: The weights cannot be loaded.
        """
        await asyncio.get_running_loop().run_in_executor(self._thread, self._warm_up)

    async def detect(self, image: bytes, max_det: int) -> Detections:
        """Detect objects in one encoded image, loading the model first if needed.

        Raises:
            InvalidInputError: The image fails the header checks or cannot be decoded.
            LocalModelError: The weights cannot be loaded.
        """
        try:
            check_image(image, self._limits)
        except InvalidImageError as error:
            raise InvalidInputError(str(error)) from error
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._detect, image, max_det)

    def close(self) -> None:
        """Stop the thread once its current call ends; queued calls are cancelled."""
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _warm_up(self) -> None:
        if self._detector is None:
            detector = self._loaded_detector()
            with ultralytics_logs_to_stderr():
                detector.model.predict(
                    np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8), verbose=False, **self.options
                )

    def _loaded_detector(self) -> UltralyticsDetector:
        if self._detector is None:
            self._detector = UltralyticsDetector(load_ultralytics(self.weights), self.options)
        return self._detector

    def _detect(self, image: bytes, max_det: int) -> Detections:
        detections = self._loaded_detector().detect(image, max_det=max_det)
        return dataclasses.replace(detections, model_source=self.weights)


@contextlib.contextmanager
def ultralytics_logs_to_stderr(level: int = logging.NOTSET) -> Iterator[None]:
    """While open, Ultralytics' log handlers write to stderr (it logs to stdout, which must stay JSON).

    Args:
        level: Also drop Ultralytics' records below this level meanwhile.
    """
    logger = logging.getLogger("ultralytics")
    handlers = [
        handler
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is not sys.stderr
    ]
    streams = [handler.setStream(sys.stderr) for handler in handlers]
    previous_level = logger.level
    logger.setLevel(max(level, previous_level))
    try:
        yield
    finally:
        logger.setLevel(previous_level)
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)
