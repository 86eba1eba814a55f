"""YOLO26 object detection served by NVIDIA Triton Inference Server.

Subpackages:
    ops: the shared math (letterbox, DALI pipeline, NMS and box mapping) that the model
        repository's ``model.py`` files, the tests and the benchmarks import.
    client: the async client users import.
Modules:
    builder: exports the model and fills the model repository.
    server: launches the embedded ``tritonserver`` (CPU profile).
    cli: the ``triton-detect`` command.
"""

__version__ = "0.1.0"
