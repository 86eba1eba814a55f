"""The detector on onnxruntime (CPU profile, baseline and tests share these session settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

DETECTIONS_OUTPUT = "output0"


class OnnxDetector:
    """Runs the exported YOLO26 ONNX model on batches of letterboxed images."""

    def __init__(self, model_path: Path, *, intra_op_num_threads: int) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle intra-op threads sleep instead of spinning: the cores are shared with decoding,
        # NMS and other instances, which spinning threads would starve.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._input_name = self._session.get_inputs()[0].name
        self._output_names = [output.name for output in self._session.get_outputs()]

    def outputs(self, images: NDArray[Any]) -> dict[str, NDArray[Any]]:
        """Every output of the model, by name, for a ``(batch, 3, size, size)`` batch of the model's
        input type (uint8 grey levels as the build exports it)."""
        arrays = self._session.run(self._output_names, {self._input_name: images})
        return {name: np.asarray(array) for name, array in zip(self._output_names, arrays, strict=True)}

    def run(self, images: NDArray[Any]) -> NDArray[np.float32]:
        """The raw detections (``output0``) for a ``(batch, 3, size, size)`` batch."""
        return np.asarray(self.outputs(images)[DETECTIONS_OUTPUT], dtype=np.float32)
