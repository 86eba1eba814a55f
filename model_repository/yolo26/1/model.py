"""yolo26, CPU profile: the exported ONNX model on onnxruntime, one session run per dynamic batch."""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from yolo26_triton.ops.onnx_detector import OnnxDetector


class TritonPythonModel:
    """Triton Python-backend model."""

    def initialize(self, args):
        """Loads ``<version>/model.onnx`` into an onnxruntime session."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config["parameters"].items()}
        model_path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self._detector = OnnxDetector(
            model_path, intra_op_num_threads=int(parameters["intra_op_num_threads"])
        )

    def execute(self, requests):
        """Concatenates the requests' images, runs them at once, splits the output back."""
        batches = [pb_utils.get_input_tensor_by_name(request, "images").as_numpy() for request in requests]
        outputs = self._detector.run(np.concatenate(batches))
        boundaries = np.cumsum([len(batch) for batch in batches])[:-1]
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor("output0", output)])
            for output in np.split(outputs, boundaries)
        ]
