"""Placement probe of scripts/gpu_check.py: says where each input arrived, in host or GPU memory.

Configured like the postprocess model (same inputs, ``FORCE_CPU_ONLY_INPUT_TENSORS: no``, same
instance kind), fed the same ensemble tensors: its answer is where postprocess receives them.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

INPUTS = ("output0", "ORIGINAL_SIZE", "output_detector_id")


class TritonPythonModel:
    """Triton Python-backend model."""

    def execute(self, requests):
        """``PLACEMENT``: a JSON object, input name -> "cpu" or "gpu"."""
        responses = []
        for request in requests:
            placement = {
                name: "cpu" if pb_utils.get_input_tensor_by_name(request, name).is_cpu() else "gpu"
                for name in INPUTS
            }
            encoded = np.array([[json.dumps(placement).encode()]], dtype=np.object_)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("PLACEMENT", encoded)]))
        return responses
