"""THE preprocessing pipeline: JPEG bytes -> letterboxed CHW uint8 tensor.

One definition serves:

* the GPU profile: ``preprocess/1/dali.py`` declares :func:`letterbox_outputs` with
  ``decoder="mixed"`` (nvJPEG) in an ``@autoserialize`` pipeline, which Triton's DALI backend
  serializes when the model loads, with its own DALI (2.1.1 in the 26.06 image: one DALI version,
  no serialized file from another);
* the CPU profile: built with ``decoder="cpu"`` inside the Python-backend preprocess model;
* the tests and the in-process baseline; ``tests/unit/ops/test_dali_server_version.py`` runs it with
  the DALI version of the server image's backend too.

The decoder is ``fn.experimental.decoders.image``: it applies the EXIF orientation in DALI 2.1.1
and 2.4.0 alike, as ``cv2.imread`` does in Ultralytics, while 2.1.1's ``fn.decoders.image`` ignores
it (a phone photo with orientation 6 would come out sideways, with width and height swapped).

The letterbox matches Ultralytics' ``LetterBox`` to within one grey level: resize each side to
``round(side * ratio)`` with linear interpolation and no antialiasing, then place the image with
``fn.slice`` padding (value 114) so that ``top = (size - new_h) // 2`` as in
:class:`~yolo26_triton.ops.letterbox.LetterboxGeometry`.

The ``external_source`` carries the Triton input name ``IMAGE`` (encoded bytes); the DALI backend
maps outputs by position, so the configs list them in the pipeline's order: ``IMAGES`` (uint8
``3 x size x size``, RGB grey levels 0..255), then ``ORIGINAL_SIZE`` (int32 ``[height, width]``).
The detector's graph divides by 255 itself (:mod:`yolo26_triton.export.image_input`): a quarter of the
bytes of a float tensor to copy between the steps.
"""

from __future__ import annotations

from typing import Any, Literal

from nvidia.dali import fn, math, pipeline_def, types
from nvidia.dali.pipeline import Pipeline

from yolo26_triton.contract import IMAGE, IMAGES, ORIGINAL_SIZE
from yolo26_triton.ops.letterbox import PAD_VALUE

Decoder = Literal["cpu", "mixed"]

INPUT_NAME = IMAGE
OUTPUT_NAMES = (IMAGES, ORIGINAL_SIZE)
HW_DECODER_LOAD = 0.65
"""Share of JPEGs sent to the A100/H100 hardware decoder; the rest run on CUDA cores (nvJPEG
hybrid). 0.65 is NVIDIA's recommended split for mixed workloads; GPUs without the hardware
decoder ignore it."""


def letterbox_graph(encoded: Any, size: int, decoder: Decoder) -> tuple[Any, Any]:
    """Builds the decode + letterbox graph on ``encoded`` (a DALI DataNode), uint8 CHW out.

    Returns:
        ``(images, original_size)`` DataNodes.
    """
    decoder_options: dict[str, Any] = {"hw_decoder_load": HW_DECODER_LOAD} if decoder == "mixed" else {}
    # DALI >= 2.2 warns that this is a deprecated alias of fn.decoders.image (which there applies EXIF
    # too); the server's 2.1.1 needs it for EXIF orientation (module docstring).
    image = fn.experimental.decoders.image(encoded, device=decoder, output_type=types.RGB, **decoder_options)
    shape = image.shape(dtype=types.INT32)
    height, width = shape[0], shape[1]
    # Geometry in float64 with Python's round-half-to-even, as LetterboxGeometry and Ultralytics
    # compute it: 853x1280 -> 426.5 rows must round to 426, not 427.
    height_f64, width_f64 = fn.cast(height, dtype=types.FLOAT64), fn.cast(width, dtype=types.FLOAT64)
    ratio = math.min(size / height_f64, size / width_f64)
    resized_height = math.max(_round_half_to_even(height_f64 * ratio), 1.0)
    resized_width = math.max(_round_half_to_even(width_f64 * ratio), 1.0)
    resized = fn.resize(
        image,
        resize_x=fn.cast(resized_width, dtype=types.FLOAT),
        resize_y=fn.cast(resized_height, dtype=types.FLOAT),
        interp_type=types.INTERP_LINEAR,
        antialias=False,
        subpixel_scale=False,
    )
    # One operator places the image (padding 114 around it), transposes to CHW and keeps uint8:
    # its window starts at roundf(crop_pos * (resized - size)) = -top when crop_pos is
    # top / (size - resized). (fn.slice + fn.transpose did the same in two passes, ~3 ms more per
    # 1080p image on the CPU.)
    images = fn.crop_mirror_normalize(
        resized,
        crop=(size, size),
        crop_pos_y=_window_position(size, resized_height),
        crop_pos_x=_window_position(size, resized_width),
        out_of_bounds_policy="pad",
        fill_values=PAD_VALUE,
        dtype=types.UINT8,
        output_layout="CHW",
    )
    original_size = fn.stack(height, width)
    return images, original_size


def _window_position(size: int, resized: Any) -> Any:
    """The normalized crop position that puts ``floor((size - resized) / 2)`` pixels of padding first."""
    padding = size - resized
    return fn.cast(math.floor(padding / 2) / math.max(padding, 1.0), dtype=types.FLOAT)


def _round_half_to_even(value: Any) -> Any:
    """Python's ``round()`` on a float64 DataNode: ties go to the even neighbour."""
    lower = math.floor(value)
    is_tie = fn.cast(value - lower == 0.5, dtype=types.FLOAT64)
    lower_is_even = fn.cast(math.floor(lower / 2) * 2 == lower, dtype=types.FLOAT64)
    return math.floor(value + 0.5) - is_tie * lower_is_even


def letterbox_outputs(size: int, decoder: Decoder) -> tuple[Any, Any]:
    """The whole graph, for a pipeline definition: the ``external_source`` named :data:`INPUT_NAME`
    (encoded bytes), then :func:`letterbox_graph`. Returns ``(images, original_size)``."""
    encoded = fn.external_source(name=INPUT_NAME, device="cpu", dtype=types.UINT8, ndim=1)
    return letterbox_graph(encoded, size, decoder)


def build_pipeline(
    *, decoder: Decoder, size: int, batch_size: int, num_threads: int = 1, device_id: int | None = None
) -> Pipeline:
    """Builds the pipeline fed through ``external_source`` named :data:`INPUT_NAME`.

    Args:
        decoder: ``"cpu"`` (libjpeg-turbo) or ``"mixed"`` (nvJPEG, GPU outputs).
        size: Side of the square model input.
        batch_size: Largest batch the pipeline accepts.
        num_threads: CPU worker threads.
        device_id: CUDA device, or ``None`` for a CPU-only pipeline.
    """

    # prefetch_queue_depth=1: one batch fed, one batch run. It also keeps the pipeline usable after a
    # batch fails to decode (deeper queues leave it invalid), which per-image isolation relies on.
    @pipeline_def(  # type: ignore[misc]
        batch_size=batch_size, num_threads=num_threads, device_id=device_id, prefetch_queue_depth=1
    )
    def letterbox_pipeline():  # type: ignore[no-untyped-def]
        return letterbox_outputs(size, decoder)

    pipe: Pipeline = letterbox_pipeline()
    return pipe
