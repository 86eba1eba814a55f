"""validate: passes acceptable JPEG bytes on unchanged, refuses the others with INVALID_ARG.

A thin adapter over ``yolo26_triton.ops.image_check``; each request is judged alone, its parameters
(``conf_threshold``, ``iou_threshold``, ``max_detections``) first, then its image header, so that a
bad request costs no decode and no inference.
"""

import numpy as np
import triton_python_backend_utils as pb_utils

from yolo26_triton.contract import CHECKED_IMAGE, IMAGE
from yolo26_triton.ops.detections import DetectionSettings
from yolo26_triton.ops.errors import InvalidImageError
from yolo26_triton.ops.image_check import ImageLimits, check_image
from yolo26_triton.ops.model_config import read_model_config


class TritonPythonModel:
    """Triton Python-backend model."""

    def initialize(self, args):
        """Reads the limits once from the model configuration."""
        _, parameters = read_model_config(args)
        self._limits = ImageLimits(
            max_bytes=int(parameters["max_image_bytes"]),
            max_pixels=int(parameters["max_image_pixels"]),
            max_pixels_per_byte=float(parameters["max_image_pixels_per_byte"]),
        )

    def execute(self, requests):
        """Checks each request's parameters and image; good bytes go on as CHECKED_IMAGE."""
        return [self._respond(request) for request in requests]

    def _respond(self, request):
        image = pb_utils.get_input_tensor_by_name(request, IMAGE).as_numpy()
        try:
            # The same check postprocess applies later, done here before anything is decoded.
            DetectionSettings().with_request_parameters(request.parameters())
            if image.shape[0] != 1:
                raise InvalidImageError(
                    f"{IMAGE} must hold one image per request (shape [1, bytes]), "
                    f"got shape {list(image.shape)}; send several images as concurrent requests"
                )
            check_image(image[0].tobytes(), self._limits)
        except ValueError as error:  # InvalidImageError is a ValueError
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)
            )
        return pb_utils.InferenceResponse([pb_utils.Tensor(CHECKED_IMAGE, np.ascontiguousarray(image))])
