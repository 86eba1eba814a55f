"""yolo26, CPU profile: the exported ONNX model on onnxruntime, one session run per dynamic batch.

``triton-detect build`` copies this file into every version folder of every detector model (the
Python backend loads ``<model>/<version>/model.py``); this copy in ``yolo26/1`` is the original.
"""

from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from yolo26_triton.contract import DETECTOR_INPUT
from yolo26_triton.ops.model_config import read_model_config
from yolo26_triton.ops.onnx_detector import OnnxDetector, PeerExecutions


class TritonPythonModel:
    """Triton Python-backend model."""

    def initialize(self, args):
        """Loads ``<version>/model.onnx`` into onnxruntime: one session, or two with
        ``alone_intra_op_num_threads`` (see ``yolo26_triton.ops.onnx_detector``)."""
        config, parameters = read_model_config(args)
        model_path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        peers = PeerExecutions.for_repository(
            Path(args["model_repository"]).parent, f"{args['model_instance_name']}.v{args['model_version']}"
        )
        self._detector = OnnxDetector(
            model_path,
            intra_op_num_threads=int(parameters["intra_op_num_threads"]),
            alone_intra_op_num_threads=int(parameters.get("alone_intra_op_num_threads", "0")),
            peers=peers,
        )
        if self._detector.adaptive:
            self._detector.warm_up([int(dim) for dim in config["input"][0]["dims"]])

    def execute(self, requests):
        """Concatenates the requests' images, runs them at once, splits the outputs back.

        The outputs are ``output0`` (raw detections) and ``output_detector_id`` (who answered), as the
        TensorRT engine built from the same ONNX returns them in the GPU profile.
        """
        batches = [
            pb_utils.get_input_tensor_by_name(request, DETECTOR_INPUT).as_numpy() for request in requests
        ]
        outputs = self._detector.outputs(batches[0] if len(batches) == 1 else np.concatenate(batches))
        boundaries = np.cumsum([len(batch) for batch in batches])[:-1]
        per_request = {name: np.split(array, boundaries) for name, array in outputs.items()}
        return [
            pb_utils.InferenceResponse(
                [pb_utils.Tensor(name, arrays[index]) for name, arrays in per_request.items()]
            )
            for index in range(len(requests))
        ]
