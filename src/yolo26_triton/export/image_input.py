"""The detector's image input: UINT8 grey levels on the wire, normalized inside the ONNX graph.

Ultralytics exports YOLO26 with a FLOAT32 input ``images`` of RGB values in 0..1, and its
``predict()`` divides the letterboxed uint8 image by 255 before the forward pass. The build moves
that division into the graph (:func:`add_uint8_input`)::

    images (UINT8, N x 3 x 640 x 640) -> Cast(FLOAT) -> Div(255) -> the exported network

so that ``preprocess`` hands the detector 1 byte per value instead of 4 (1.2 MB instead of 4.9 MB
per 640 x 640 image: four times less to copy between Triton's steps, on both profiles: onnxruntime
on the CPU, TensorRT on the GPU, whose network inputs may be UINT8 when a Cast follows). The
values reaching the network are those of ``predict()``: the same uint8 levels divided by 255 in
float32.

:func:`float_input_copy` undoes it: the graph exactly as Ultralytics exported it, for tools that
feed normalized floats (Ultralytics' ``predict()`` on an ONNX file, its Triton client, ModelOpt's
AutoCast calibration).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

NORMALIZATION_DIVISOR = 255.0
"""uint8 grey level / this = the float the network was trained on (Ultralytics' ``im /= 255``)."""
_CAST = "images_uint8/cast"
_SCALE = "images_uint8/divisor"
_DIV = "images_uint8/normalize"


def add_uint8_input(onnx_path: Path) -> None:
    """Makes the graph's first input UINT8 and prepends ``Cast(FLOAT)`` and ``Div(255)`` to it.

    The input keeps its name and shape. Does nothing when the input is UINT8 already.

    Raises:
        ValueError: If the first input is neither FLOAT nor UINT8.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    tensor_type = graph.input[0].type.tensor_type
    if tensor_type.elem_type == TensorProto.UINT8:
        return
    if tensor_type.elem_type != TensorProto.FLOAT:
        raise ValueError(f"{onnx_path}: input {graph.input[0].name!r} is not FLOAT, cannot make it UINT8")
    name = graph.input[0].name
    normalized = f"{name}/normalized"
    for node in graph.node:
        node.input[:] = [normalized if value == name else value for value in node.input]
    graph.initializer.append(numpy_helper.from_array(np.array(NORMALIZATION_DIVISOR, np.float32), _SCALE))
    prefix = [
        helper.make_node("Cast", [name], [f"{name}/float"], to=TensorProto.FLOAT, name=_CAST),
        helper.make_node("Div", [f"{name}/float", _SCALE], [normalized], name=_DIV),
    ]
    _replace(graph.node, prefix + list(graph.node))
    tensor_type.elem_type = TensorProto.UINT8
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))


def float_input_copy(onnx_path: Path, destination: Path) -> Path:
    """Writes ``onnx_path`` to ``destination`` without what :func:`add_uint8_input` added.

    A graph that has no UINT8 input is copied as it is.

    Returns:
        ``destination``.
    """
    import onnx
    from onnx import TensorProto

    model = onnx.load(str(onnx_path))
    graph = model.graph
    prefix = {node.name: node for node in graph.node if node.name in (_CAST, _DIV)}
    if _DIV in prefix:
        name = graph.input[0].name
        normalized = prefix[_DIV].output[0]
        kept = [node for node in graph.node if node.name not in prefix]
        for node in kept:
            node.input[:] = [name if value == normalized else value for value in node.input]
        _replace(graph.node, kept)
        _replace(graph.initializer, [tensor for tensor in graph.initializer if tensor.name != _SCALE])
        graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT
        onnx.checker.check_model(model)
    destination.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(destination))
    return destination


def _replace(field: Any, items: list[Any]) -> None:
    """Sets a repeated protobuf message field to copies of ``items`` (they may be its own elements)."""
    copies = [type(item)() for item in items]
    for copy, item in zip(copies, items, strict=True):
        copy.CopyFrom(item)
    del field[:]
    field.extend(copies)


def takes_uint8_images(onnx_path: Path) -> bool:
    """Whether the graph's first input is UINT8 (the build's :func:`add_uint8_input` ran)."""
    import onnx
    from onnx import TensorProto

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return bool(graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8)
