"""The contract between the server and its clients: every name and limit both sides use, written once.

Importable with nothing but the standard library, so that the client (:mod:`yolo26_triton.client`),
the server's steps (:mod:`yolo26_triton.ops` and the ``model.py`` files), the builder
(:mod:`yolo26_triton.export`) and the launcher (:mod:`yolo26_triton.serving`) import it without each
other. The model configs (``model_repository/*/config.pbtxt``) write the tensor names again, as Triton
reads them; ``tests/unit/test_model_repository.py`` checks that they are these.

The entry point's interface, batch dimension first::

    detect_ensemble
      in:  IMAGE        UINT8  [1, bytes]   the encoded JPEG file
           parameters   conf_threshold (0.25), iou_threshold (0.7), max_detections (300, at most 300)
      out: BOXES        FP32   [1, N, 4]    x1, y1, x2, y2 in original-image pixels
           SCORES       FP32   [1, N]
           CLASS_IDS    INT32  [1, N]
           CLASS_NAMES  BYTES  [1, N]
           MODEL_INFO   BYTES  [1, 1]       a JSON object: model, version, source, untrained, image_size

Its steps (the client never sees them)::

    validate     IMAGE -> CHECKED_IMAGE
    preprocess   IMAGE -> IMAGES, ORIGINAL_SIZE                    (decode, letterbox)
    yolo26       images -> output0, output_detector_id             (the exported ONNX's own names)
    postprocess  output0, ORIGINAL_SIZE, output_detector_id -> BOXES, SCORES, CLASS_IDS, CLASS_NAMES,
                 MODEL_INFO
"""

from __future__ import annotations

ENTRY_POINT = "detect_ensemble"
"""The ensemble that takes JPEG bytes and serves the latest (or pinned) version of detector ``yolo26``."""

# --- The entry point's tensors, with their Triton data types (the client decodes them) ------------
IMAGE = "IMAGE"
BOXES = "BOXES"
SCORES = "SCORES"
CLASS_IDS = "CLASS_IDS"
CLASS_NAMES = "CLASS_NAMES"
MODEL_INFO = "MODEL_INFO"
ENSEMBLE_INPUTS = {IMAGE: "UINT8"}
"""Input name -> Triton data type (the wire's name: ``TYPE_STRING`` in a config is ``BYTES``)."""
ENSEMBLE_OUTPUTS = {
    BOXES: "FP32",
    SCORES: "FP32",
    CLASS_IDS: "INT32",
    CLASS_NAMES: "BYTES",
    MODEL_INFO: "BYTES",
}
"""Output name -> Triton data type, in the order the client asks for them."""

# --- The steps' own tensors (server side) --------------------------------------------------------
CHECKED_IMAGE = "CHECKED_IMAGE"
"""``validate``'s output: the request's JPEG bytes, unchanged, once their headers passed."""
IMAGES = "IMAGES"
"""``preprocess``'s first output: UINT8 ``[3, INPUT_SIZE, INPUT_SIZE]``, letterboxed RGB."""
ORIGINAL_SIZE = "ORIGINAL_SIZE"
"""``preprocess``'s second output: INT32 ``[height, width]`` of the decoded image."""
DETECTOR_INPUT = "images"
"""The detector's input, as Ultralytics' ONNX export names it."""
DETECTIONS_OUTPUT = "output0"
"""The detector's raw detections, as Ultralytics' ONNX export names it."""
DETECTOR_ID_OUTPUT = "output_detector_id"
"""The ONNX output (INT32 ``[batch, 1]``) the build adds: the id of the detector version that answered.

Named to sort after ``output0``: Ultralytics' own Triton client (``YOLO("http://host:8000/yolo26")``)
orders a model's outputs by name and takes the first as the detections."""

# --- Request parameters: names, defaults (Ultralytics' predict()) and limits --------------------
CONF_THRESHOLD = "conf_threshold"
IOU_THRESHOLD = "iou_threshold"
MAX_DETECTIONS = "max_detections"
DEFAULT_CONF_THRESHOLD = 0.25
DEFAULT_IOU_THRESHOLD = 0.7
MAX_DETECTIONS_LIMIT = 300
"""The most boxes one image can get (``max_detections`` is ``1..300``): Ultralytics' ``max_det``, the
rows of the NMS-free head's output."""
DEFAULT_MAX_DETECTIONS = MAX_DETECTIONS_LIMIT


def parameter_problem(name: str, value: object) -> str | None:
    """What is wrong with ``value`` as the request parameter ``name``; ``None`` when it is acceptable.

    ``conf_threshold`` and ``iou_threshold`` take a number in ``[0, 1]``, ``max_detections`` an integer in
    ``[1, MAX_DETECTIONS_LIMIT]``; a boolean is neither. Both sides word a refusal the same way, as
    ``f"{name}={value!r}: {problem}"``::

        max_detections=0: expected an integer in [1, 300]

    Raises:
        KeyError: ``name`` is not a request parameter.
    """
    if name == MAX_DETECTIONS:
        valid = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DETECTIONS_LIMIT
        expected = f"an integer in [1, {MAX_DETECTIONS_LIMIT}]"
    elif name in (CONF_THRESHOLD, IOU_THRESHOLD):
        valid = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
        expected = "a number in [0, 1]"
    else:
        raise KeyError(f"{name!r} is not a request parameter")
    return None if valid else f"expected {expected}"


# --- Sizes ----------------------------------------------------------------------------------------
INPUT_SIZE = 640
"""Side of the square model input: the configs' ``[3, 640, 640]``, the letterbox, the engine profile."""
MAX_BATCH_SIZE = 16
"""``max_batch_size`` of the ensemble and its composing models: the DALI pipeline's batch and the
TensorRT plan's largest batch follow it."""

# --- Versions and routes --------------------------------------------------------------------------


def route_name(entry_point: str, version: str) -> str:
    """The ensemble pinned to detector ``version`` behind ``entry_point``: ``<entry_point>_v<version>``."""
    return f"{entry_point}_v{version}"


def is_version(text: str) -> bool:
    """Whether ``text`` is a Triton version number (a positive integer without sign or spaces)."""
    return text.isdigit() and int(text) >= 1


DEFAULT_WEIGHTS = "yolo26n.pt"
"""The model the builder exports and the in-process side loads unless told otherwise."""

# --- The restricted APIs' key ---------------------------------------------------------------------
ADMIN_KEY_HEADER = "admin-key"
"""HTTP header of the key of the server's restricted APIs (model repository, shared memory, ...)."""
GRPC_ADMIN_KEY_HEADER = f"triton-grpc-protocol-{ADMIN_KEY_HEADER}"
"""The same key's gRPC metadata name: Triton prefixes the restricted-protocol header with this."""
