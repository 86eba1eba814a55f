"""The ONNX graphs a TensorRT build parses: fixed spatial size, and FP16 or INT8 written into the graph.

TensorRT 11 is strongly typed only: reduced precision must be in the graph. Both graphs are made
by Ultralytics' ``modelopt_quantize_onnx`` (NVIDIA ModelOpt) from the graph as Ultralytics
exported it (FLOAT input, since ModelOpt calibrates with normalized floats), then get the build's
UINT8 input back (:mod:`yolo26_triton.export.image_input`). Everything here runs on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from yolo26_triton.contract import INPUT_SIZE
from yolo26_triton.export.errors import EngineError
from yolo26_triton.export.image_input import add_uint8_input, float_input_copy

CALIBRATION_SHAPE = (1, 3, INPUT_SIZE, INPUT_SIZE)
"""AutoCast's calibration batch: Ultralytics broadcasts one image to the shape, so batch 1 gives the
same graph as ``ENGINE_SHAPE`` for 1/16 of the memory."""


def engine_input(onnx_path: Path, destination: Path) -> Path:
    """Writes ``onnx_path`` with its input's height and width fixed to :data:`INPUT_SIZE`.

    Ultralytics exports ``dynamic=True`` graphs with a dynamic batch, height and width; for those,
    ``onnx2engine`` would build a profile from 32x32 to 1280x1280. The batch stays dynamic. Shape
    annotations of intermediate tensors are dropped (they name the old symbolic sizes).
    """
    import onnx

    model = onnx.load(str(onnx_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise EngineError(f"{onnx_path}: expected a 4-D image input, got {len(dims)} dimensions")
    for dim in dims[2:]:
        dim.ClearField("dim_param")
        dim.dim_value = INPUT_SIZE
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(destination))
    return destination


def fp16_graph(onnx_path: Path, workdir: Path) -> Path:
    """The FP16 graph a TensorRT 11 build parses: Ultralytics' ``modelopt_quantize_onnx``, precision 16.

    ModelOpt AutoCast converts every node whose activations (observed on Ultralytics' ``bus.jpg``)
    fit FP16 and keeps the graph's inputs and outputs as they are (``keep_io_types=True``): the UINT8
    image input and the FP32/INT32 outputs the configs declare. Runs on a CPU.

    Args:
        onnx_path: The exported FP32 ``model.onnx``.
        workdir: Folder for the intermediate graphs.

    Returns:
        The FP16 graph's path inside ``workdir``.
    """
    from ultralytics.utils.export.engine import modelopt_quantize_onnx

    source = _float_engine_input(onnx_path, workdir)
    graph = Path(modelopt_quantize_onnx(str(source), 16, shape=CALIBRATION_SHAPE, dynamic=True))
    add_uint8_input(graph)
    return graph


def _float_engine_input(onnx_path: Path, workdir: Path) -> Path:
    """:func:`engine_input` of the graph as Ultralytics exported it (FLOAT input in 0..1).

    ModelOpt calibrates with normalized floats (Ultralytics divides its images by 255), so the
    reduced-precision graph is made from :func:`~yolo26_triton.export.image_input.float_input_copy` and gets
    the UINT8 input back afterwards (:func:`~yolo26_triton.export.image_input.add_uint8_input`).
    """
    float_copy = float_input_copy(onnx_path, workdir / "float.onnx")
    return engine_input(float_copy, workdir / "model.onnx")


def calibration_images(folder: Path) -> list[Path]:
    """The JPEGs of ``folder``, sorted.

    Raises:
        EngineError: There are none.
    """
    if not folder.is_dir():
        raise EngineError(f"--int8 {folder}: not a folder of calibration JPEGs")
    images = sorted(path for path in folder.iterdir() if path.suffix.lower() in (".jpg", ".jpeg"))
    if not images:
        raise EngineError(f"--int8 {folder}: no .jpg or .jpeg files to calibrate with")
    return images


def letterboxed(images: Sequence[Path]) -> Any:
    """``(N, 3, 640, 640)`` uint8 RGB: each JPEG read by ``cv2.imread`` and letterboxed by Ultralytics."""
    import cv2
    import numpy as np
    from ultralytics.data.augment import LetterBox

    letterbox = LetterBox((INPUT_SIZE, INPUT_SIZE), auto=False)
    batch = []
    for path in images:
        bgr = cv2.imread(str(path))
        if bgr is None:
            raise EngineError(f"{path}: not a decodable image")
        batch.append(letterbox(image=bgr)[..., ::-1].transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(batch))


def int8_graph(onnx_path: Path, images: Any, workdir: Path) -> Path:
    """The INT8 graph: explicit Q/DQ nodes from ModelOpt, calibrated on ``images`` (uint8, letterboxed),
    through Ultralytics' ``modelopt_quantize_onnx`` (precision 8; the head's output convolutions and DFL
    stay in float, as Ultralytics chooses)."""
    import torch
    from ultralytics.utils.export.engine import modelopt_quantize_onnx

    source = _float_engine_input(onnx_path, workdir)
    dataset = [{"img": torch.from_numpy(images)}]
    graph = Path(
        modelopt_quantize_onnx(str(source), 8, dataset=dataset, shape=CALIBRATION_SHAPE, dynamic=True)
    )
    add_uint8_input(graph)
    return graph
