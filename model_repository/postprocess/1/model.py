"""postprocess: raw detector output -> boxes in original-image pixels, scores, classes, names.

NumPy on KIND_CPU, CuPy on KIND_GPU (inputs arrive on the GPU through DLPack where Triton put them
there; any of them may also arrive in host memory); the math is ``yolo26_triton.ops.postprocess``
either way, one batch per execute. Thresholds come from the request parameters ``conf_threshold``,
``iou_threshold`` and ``max_detections`` (defaults as Ultralytics' predict). The detector's
``output_detector_id`` output names the model version that answered; its metadata (class names,
source) comes from the repository's ``metadata.json`` files, so every detector model and version
shares this one postprocess model.
"""

from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from yolo26_triton.contract import DETECTIONS_OUTPUT, DETECTOR_ID_OUTPUT, ORIGINAL_SIZE
from yolo26_triton.ops.metadata import DetectorCatalog
from yolo26_triton.ops.model_config import read_model_config
from yolo26_triton.ops.postprocess import Postprocessor, RequestTensors


class TritonPythonModel:
    """Triton Python-backend model."""

    def initialize(self, args):
        """Reads the detectors' metadata and picks NumPy or CuPy by instance kind."""
        _, parameters = read_model_config(args)
        self._xp = np
        if args["model_instance_kind"] == "GPU":
            import cupy

            cupy.cuda.Device(int(args["model_instance_device_id"])).use()
            self._xp = cupy
        catalog = DetectorCatalog(Path(args["model_repository"]).parent)
        self._postprocessor = Postprocessor(catalog, int(parameters["image_size"]), self._xp)

    def execute(self, requests):
        """All requests at once; a request with bad parameters or an unknown detector fails alone."""
        results = self._postprocessor.run(
            [
                RequestTensors(
                    raw=self._array(request, DETECTIONS_OUTPUT),
                    original_size=self._array(request, ORIGINAL_SIZE),
                    detector_id=self._array(request, DETECTOR_ID_OUTPUT),
                    parameters=request.parameters(),
                )
                for request in requests
            ]
        )
        return [self._response(result) for result in results]

    def _array(self, request, name):
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        if tensor.is_cpu():
            return tensor.as_numpy()
        return self._xp.from_dlpack(tensor)  # the tensor speaks the DLPack protocol (__dlpack__)

    @staticmethod
    def _response(result):
        if isinstance(result, Exception):
            code = (
                pb_utils.TritonError.INVALID_ARG
                if isinstance(result, ValueError)
                else pb_utils.TritonError.INTERNAL
            )
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(result), code))
        return pb_utils.InferenceResponse([pb_utils.Tensor(name, array) for name, array in result.items()])
