"""preprocess, GPU profile: the DALI backend serializes this pipeline itself when the model loads.

No ``model.dali`` sits beside this file, so Triton's DALI backend runs ``python3`` on it with its own
DALI (the image puts the backend's DALI on ``PYTHONPATH``) and loads the ``@autoserialize`` pipeline:
the pipeline is serialized and run by one DALI version. The graph is the CPU profile's
(``yolo26_triton.ops.dali_pipeline``) with the GPU (nvJPEG, ``mixed``) decoder. ``device_id=None``:
the backend runs it on the device of each model instance.
"""

from nvidia.dali import pipeline_def
from nvidia.dali.plugin.triton import autoserialize

from yolo26_triton.contract import INPUT_SIZE, MAX_BATCH_SIZE
from yolo26_triton.ops.dali_pipeline import letterbox_outputs

DALI_NUM_THREADS = 4


@autoserialize
@pipeline_def(batch_size=MAX_BATCH_SIZE, num_threads=DALI_NUM_THREADS, device_id=None)
def preprocess():
    """JPEG bytes (``IMAGE``) -> ``IMAGES`` (letterboxed, CHW) and ``ORIGINAL_SIZE`` ([height, width])."""
    return letterbox_outputs(INPUT_SIZE, "mixed")
