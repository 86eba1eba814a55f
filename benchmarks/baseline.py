"""The in-process baseline: the server's math in one Python process, serving concurrent callers.

The same modules as the CPU profile's models (``BatchPreprocessor``: the DALI pipeline;
``OnnxDetector``: onnxruntime; ``detections_in_original_pixels``: NMS and unletterbox), the same
thread budget (DALI threads, onnxruntime intra-op threads) and the same two-stage shape as the
ensemble, with its batching: callers put requests on a queue; stage 1 takes everything waiting
(up to ``max_batch_size``) and decodes + letterboxes it in one pipeline run; stage 2 runs the
detector on that batch and the NMS per image while stage 1 prepares the next one. No IPC, no
serialization: the best a single Python service with these libraries can do.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from yolo26_triton.ops.detections import DetectionSettings, detections_in_original_pixels
from yolo26_triton.ops.onnx_detector import OnnxDetector
from yolo26_triton.ops.preprocess import BatchPreprocessor, PreprocessedImage

Boxes = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32]]


@dataclass
class _Request:
    image: NDArray[np.uint8]
    future: Future[Boxes]


class InProcessDetector:
    """JPEG bytes in, ``(boxes, scores, class_ids)`` out, from any number of threads."""

    def __init__(
        self,
        onnx_path: Path,
        *,
        dali_threads: int,
        onnx_threads: int,
        max_batch_size: int = 16,
        image_size: int = 640,
        settings: DetectionSettings | None = None,
    ) -> None:
        """Builds the pipeline and the session and starts the two stage threads."""
        self._preprocessor = BatchPreprocessor(
            size=image_size, max_batch_size=max_batch_size, num_threads=dali_threads
        )
        self._detector = OnnxDetector(onnx_path, intra_op_num_threads=onnx_threads)
        self._max_batch_size = max_batch_size
        self._image_size = image_size
        self._settings = settings or DetectionSettings()
        self._incoming: queue.Queue[_Request | None] = queue.Queue()
        self._prepared: queue.Queue[list[tuple[_Request, PreprocessedImage]] | None] = queue.Queue(maxsize=1)
        self._threads = [
            threading.Thread(target=self._preprocess_loop, daemon=True, name="baseline-preprocess"),
            threading.Thread(target=self._detect_loop, daemon=True, name="baseline-detect"),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, image: bytes) -> Future[Boxes]:
        """Queues one encoded image."""
        future: Future[Boxes] = Future()
        self._incoming.put(_Request(np.frombuffer(image, dtype=np.uint8), future))
        return future

    def detect(self, image: bytes) -> Boxes:
        """Detects objects in one encoded image (blocks until done)."""
        return self.submit(image).result()

    def close(self) -> None:
        """Stops the stage threads."""
        self._incoming.put(None)
        for thread in self._threads:
            thread.join(timeout=30)

    def _preprocess_loop(self) -> None:
        while True:
            first = self._incoming.get()
            if first is None:
                self._prepared.put(None)
                return
            batch = [first]
            while len(batch) < self._max_batch_size:
                try:
                    request = self._incoming.get_nowait()
                except queue.Empty:
                    break
                if request is None:
                    self._incoming.put(None)
                    break
                batch.append(request)
            ready: list[tuple[_Request, PreprocessedImage]] = []
            for request, outcome in zip(
                batch, self._preprocessor.run([request.image for request in batch]), strict=True
            ):
                if isinstance(outcome, PreprocessedImage):
                    ready.append((request, outcome))
                else:
                    request.future.set_exception(outcome)
            if ready:
                self._prepared.put(ready)

    def _detect_loop(self) -> None:
        while True:
            batch = self._prepared.get()
            if batch is None:
                return
            try:
                raw = self._detector.run(np.stack([image.pixels for _, image in batch]))
                for index, (request, image) in enumerate(batch):
                    height, width = (int(side) for side in image.original_size)
                    request.future.set_result(
                        detections_in_original_pixels(
                            raw[index], (height, width), self._settings, self._image_size, np
                        )
                    )
            except Exception as error:
                for request, _ in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
