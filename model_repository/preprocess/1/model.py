"""preprocess, CPU profile: JPEG bytes -> letterboxed tensor, with the shared DALI pipeline.

A thin adapter: the pipeline and the per-image error isolation live in
``yolo26_triton.ops.preprocess``. A request whose image cannot be decoded gets its own
INVALID_ARG error; the other requests of the same dynamic batch are answered normally.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from yolo26_triton.ops.preprocess import BatchPreprocessor, InvalidImageError


class TritonPythonModel:
    """Triton Python-backend model."""

    def initialize(self, args):
        """Builds the DALI pipeline once, from the model configuration."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config["parameters"].items()}
        self._preprocessor = BatchPreprocessor(
            size=int(parameters["image_size"]),
            max_batch_size=int(config["max_batch_size"]),
            num_threads=int(parameters["dali_num_threads"]),
        )

    def execute(self, requests):
        """Preprocesses all images of the dynamic batch in one pipeline run."""
        images, errors = [], []
        for request in requests:
            encoded = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy()
            if encoded.shape[0] != 1:
                errors.append(
                    InvalidImageError(
                        "IMAGE must hold one image per request (shape [1, bytes]), "
                        f"got shape {list(encoded.shape)}; send several images as concurrent requests"
                    )
                )
                images.append(None)
            else:
                errors.append(None)
                images.append(encoded[0])
        results = iter(self._preprocessor.run([image for image in images if image is not None]))
        responses = []
        for error in errors:
            outcome = error if error is not None else next(results)
            if isinstance(outcome, InvalidImageError):
                responses.append(
                    pb_utils.InferenceResponse(
                        error=pb_utils.TritonError(str(outcome), pb_utils.TritonError.INVALID_ARG)
                    )
                )
            else:
                responses.append(
                    pb_utils.InferenceResponse(
                        [
                            pb_utils.Tensor("IMAGES", outcome.pixels[None]),
                            pb_utils.Tensor("ORIGINAL_SIZE", outcome.original_size[None].astype(np.int32)),
                        ]
                    )
                )
        return responses
