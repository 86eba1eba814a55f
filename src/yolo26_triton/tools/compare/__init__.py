"""``triton-detect compare``: the migration check, in-process Ultralytics against ``detect_ensemble``.

A team moving from ``YOLO(weights).predict(...)`` inside its own service (FastAPI + PyTorch) to Triton
runs both on the same weights and JPEGs and gets, per image and overall, how well the boxes agree and
how long each side took.

- Ultralytics (the reference): the JPEG bytes decoded with ``cv2.imdecode`` (what Ultralytics' own
  ``imread`` does with a file's bytes) and ``model.predict(image, verbose=False, ...)`` on PyTorch, in
  this process, on ``--device`` (default ``cpu``).
- Triton (the candidate): ``TritonClient.detect(jpeg_bytes)``, one round trip to ``detect_ensemble``.

Both sides get the same ``conf``, ``iou`` and ``max_det``, at 640 pixels (``imgsz`` is passed: for a
``.pt`` predict() would otherwise use the checkpoint's training size). Boxes are matched one to one, same
class only, greedily by descending IoU (:func:`match_detections`). The agreement of an image is F1-like,
``2 * matched / (ultralytics boxes + triton boxes)``; overall, the same over all boxes of all images.

Latency is measured per image, sequentially, after ``--warmup`` untimed runs per side: first the whole
Triton side, then the whole Ultralytics side, so that neither side's work overlaps the other's timing
(on a CPU-profile server both share the host's cores). Each side starts from the JPEG bytes in memory;
see :data:`ULTRALYTICS_LATENCY` and :data:`TRITON_LATENCY` for what each number includes.

What ``predict()`` does, read in the installed Ultralytics (8.4.190) source:

- ``Model.predict`` (``engine/model.py``) sets the method default ``rect=True`` on top of the config,
  whose ``rect: False`` is a training setting.
- ``BasePredictor.pre_transform`` (``engine/predictor.py``) builds ``LetterBox(imgsz, auto=same_shapes
  and args.rect and not scale_fill and (model.format == "pt" or the backend is dynamic),
  stride=model.stride)``. For one image (``same_shapes``) from a ``.pt``, ``auto`` is True: the image is
  scaled to fit 640 and padded only up to the next multiple of the stride (32), e.g. bus.jpg (810x1080)
  becomes 480x640, zidane.jpg (1280x720) 640x384. The ensemble always runs 640x640 (a TensorRT engine
  or a fixed ONNX input), so ``--letterbox rect`` (the default: what the team runs today) feeds the two
  networks different tensors; ``--letterbox square`` passes ``rect=False`` (``auto=False``) so that both
  letterbox to 640x640 and only numerics differ (PyTorch against ONNX Runtime, OpenCV's against
  DALI's resize).
- ``nms`` (default ``None``) selects the head: ``None`` the one-to-many head plus NMS (what the
  ``classic`` export serves), ``False`` YOLO26's one-to-one head. The Ultralytics side follows the
  ``head`` that the server's ``MODEL_INFO`` reports.
- On the CPU, ``select_device`` sets ``torch.set_num_threads(min(8, cpu_count - 1))``: one thread on a
  2-core machine. The report's settings show the thread count the Ultralytics side ran with.

Modules: :mod:`.report` (what ``compare`` found: agreement per image and overall, latency per
side, as JSON), :mod:`.run` (running both sides on the same images, timed the same way).
"""

from yolo26_triton.tools.compare.report import CompareReport, ImageComparison, LatencySummary
from yolo26_triton.tools.compare.run import CompareSettings, compare

__all__ = ["CompareReport", "CompareSettings", "ImageComparison", "LatencySummary", "compare"]
