"""Detector stand-in of scripts/gpu_check.py: the real ensemble's detector outputs, in GPU memory.

No TensorRT on the check machine: for each image it returns a seeded classic-head output
(``synthetic_classic_output``, seeded by the image's bytes, so the same image gives the same output
in every run), ``output_detector_id`` and the image's ``original_size``. On KIND_GPU all three are
CuPy arrays handed to Triton through DLPack, as a TensorRT engine's outputs are GPU tensors: the
postprocess model then receives GPU tensors. Parameter ``hot``: anchors above 0.3 per image. The
outputs of the images seen last are kept, so that a burst of requests leaves this model at once.
"""

import json
import zlib

import numpy as np
import triton_python_backend_utils as pb_utils

from yolo26_triton.ops.postprocess import synthetic_classic_output


class TritonPythonModel:
    """Triton Python-backend model."""

    def initialize(self, args):
        """Reads the detector id and the number of candidates per image; picks NumPy or CuPy."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config["parameters"].items()}
        self._detector_id = int(parameters["detector_id"])
        self._hot = int(parameters["hot"])
        self._outputs = {}
        self._xp = np
        if args["model_instance_kind"] == "GPU":
            import cupy

            cupy.cuda.Device(int(args["model_instance_device_id"])).use()
            self._xp = cupy

    def execute(self, requests):
        """One output per request, computed from its image, placed where this instance runs."""
        responses = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, "images").as_numpy()
            sizes = pb_utils.get_input_tensor_by_name(request, "ORIGINAL_SIZE").as_numpy()
            raw = np.stack([self._output(zlib.crc32(image.tobytes())) for image in images])
            outputs = {
                "output0": raw,
                "output_detector_id": np.full((len(images), 1), self._detector_id, np.int32),
                "original_size": np.ascontiguousarray(sizes, dtype=np.int32),
            }
            responses.append(
                pb_utils.InferenceResponse([self._tensor(name, array) for name, array in outputs.items()])
            )
        return responses

    def _output(self, seed):
        if seed not in self._outputs:
            if len(self._outputs) >= 32:
                self._outputs.clear()
            self._outputs[seed] = synthetic_classic_output(8400, hot=self._hot, seed=seed)
        return self._outputs[seed]

    def _tensor(self, name, array):
        if self._xp is np:
            return pb_utils.Tensor(name, array)
        return pb_utils.Tensor.from_dlpack(name, self._xp.asarray(array))
