"""Export: from Ultralytics weights to a model repository Triton loads.

:mod:`.builder` (``triton-detect build``), :mod:`.repository` (the repository's layout: detector
models, versions, entry points, routes), :mod:`.image_input` (the detector's UINT8 input),
:mod:`.engine` (the TensorRT plan) and :mod:`.production_image` (the NGC image's facts). Depends on
:mod:`yolo26_triton.contract` and :mod:`yolo26_triton.ops`; never on the client or the CLI.
"""
