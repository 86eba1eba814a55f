"""preprocess, CPU profile: JPEG bytes -> letterboxed tensor, with the shared DALI pipeline.

A thin adapter: the pipeline and the per-image error isolation live in
``yolo26_triton.ops.preprocess``. The ``validate`` step has checked the headers already; a request
whose image still cannot be decoded (corrupt data after a valid header) gets its own INVALID_ARG
error, and the other requests of the same dynamic batch are answered normally.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

from yolo26_triton.contract import IMAGE, IMAGES, ORIGINAL_SIZE
from yolo26_triton.ops.errors import InvalidImageError
from yolo26_triton.ops.model_config import read_model_config
from yolo26_triton.ops.preprocess import BatchPreprocessor


class TritonPythonModel:
    """Triton Python-backend model."""

    def initialize(self, args):
        """Builds the DALI pipeline once, from the model configuration."""
        config, parameters = read_model_config(args)
        self._preprocessor = BatchPreprocessor(
            size=int(parameters["image_size"]),
            max_batch_size=int(config["max_batch_size"]),
            num_threads=int(parameters["dali_num_threads"]),
        )

    def execute(self, requests):
        """Preprocesses all images of the dynamic batch in one pipeline run."""
        per_request = [pb_utils.get_input_tensor_by_name(request, IMAGE).as_numpy() for request in requests]
        outcomes = iter(self._preprocessor.run([image for images in per_request for image in images]))
        return [self._respond([next(outcomes) for _ in images]) for images in per_request]

    def _respond(self, outcomes):
        error = next((outcome for outcome in outcomes if isinstance(outcome, InvalidImageError)), None)
        if error is not None:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)
            )
        return pb_utils.InferenceResponse(
            [
                pb_utils.Tensor(IMAGES, np.stack([outcome.pixels for outcome in outcomes])),
                pb_utils.Tensor(ORIGINAL_SIZE, np.stack([outcome.original_size for outcome in outcomes])),
            ]
        )
