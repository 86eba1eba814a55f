"""postprocess: raw detector output -> boxes in original-image pixels, scores, classes, names.

NumPy on KIND_CPU, CuPy on KIND_GPU (inputs arrive on the GPU through DLPack); the math is
``yolo26_triton.ops.detections`` either way. Thresholds come from the request parameters
``conf_threshold``, ``iou_threshold`` and ``max_detections`` (defaults as Ultralytics' predict).
The detector's ``output_detector_id`` output names the model version that answered; its metadata (class
names, source) comes from the repository's ``metadata.json`` files, so every detector model and
version shares this one postprocess model.
"""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from yolo26_triton.ops.detections import DetectionSettings, detections_in_original_pixels
from yolo26_triton.ops.metadata import DetectorCatalog, UnknownDetectorError


class TritonPythonModel:
    """Triton Python-backend model."""

    def initialize(self, args):
        """Reads the detectors' metadata and picks NumPy or CuPy by instance kind."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config["parameters"].items()}
        self._detectors = DetectorCatalog(Path(args["model_repository"]).parent)
        self._names = {}
        self._input_size = int(parameters["image_size"])
        self._defaults = DetectionSettings()
        if args["model_instance_kind"] == "GPU":
            import cupy

            cupy.cuda.Device(int(args["model_instance_device_id"])).use()
            self._xp = cupy
        else:
            self._xp = np

    def execute(self, requests):
        """Answers each request on its own: thresholds are per request."""
        return [self._respond(request) for request in requests]

    def _respond(self, request):
        try:
            settings = self._defaults.with_request_parameters(request.parameters())
        except ValueError as error:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)
            )
        # On the GPU profile the TensorRT engine's outputs, this one too, arrive in GPU memory.
        identifier = int(
            self._to_host(self._array(pb_utils.get_input_tensor_by_name(request, "output_detector_id")))[0, 0]
        )
        try:
            metadata = self._detectors.lookup(identifier)
        except UnknownDetectorError as error:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(error), pb_utils.TritonError.INTERNAL)
            )
        raw = self._array(pb_utils.get_input_tensor_by_name(request, "output0"))[0]
        height, width = (
            int(side) for side in pb_utils.get_input_tensor_by_name(request, "ORIGINAL_SIZE").as_numpy()[0]
        )
        boxes, scores, class_ids = (
            self._to_host(array)
            for array in detections_in_original_pixels(
                raw, (height, width), settings, self._input_size, self._xp
            )
        )
        info = np.array([[metadata.response_info((height, width)).encode()]], dtype=np.object_)
        return pb_utils.InferenceResponse(
            [
                pb_utils.Tensor("BOXES", boxes[None]),
                pb_utils.Tensor("SCORES", scores[None]),
                pb_utils.Tensor("CLASS_IDS", class_ids[None]),
                pb_utils.Tensor(
                    "CLASS_NAMES", self._class_names(identifier, metadata.names)[class_ids][None]
                ),
                pb_utils.Tensor("MODEL_INFO", info),
            ]
        )

    def _class_names(self, identifier, names):
        if identifier not in self._names:
            self._names[identifier] = np.array([name.encode() for name in names], dtype=np.object_)
        return self._names[identifier]

    def _array(self, tensor):
        if self._xp is np or tensor.is_cpu():
            return self._xp.asarray(tensor.as_numpy())
        return self._xp.from_dlpack(tensor.to_dlpack())

    def _to_host(self, array):
        return array if self._xp is np else self._xp.asnumpy(array)
