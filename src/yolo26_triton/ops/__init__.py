"""The math of the pipeline, written once and imported everywhere.

The model repository's ``model.py`` files, the tests and the benchmarks import these modules, so
each step exists in one place:

* :mod:`.letterbox`: letterbox geometry and the mapping of boxes back to the original image
  (matching Ultralytics' ``LetterBox`` and ``scale_boxes``).
* :mod:`.dali_pipeline`: the DALI pipeline definition (decode + letterbox, uint8 out) for the
  GPU profile's ``preprocess/1/dali.py`` and the CPU profile's Python preprocess.
* :mod:`.detections`: decoding of both YOLO26 heads and class-aware NMS, written against an
  array module so that NumPy (CPU) and CuPy (GPU) share it.

Nothing here imports torch, tritonclient or Triton's ``triton_python_backend_utils``: inside the
NGC container only NumPy, CuPy and DALI are available to these modules.
"""
