"""The UINT8 image input: same network values as Ultralytics' float input, and undone exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from yolo26_triton.export.image_input import add_uint8_input, float_input_copy, takes_uint8_images


def float_graph(path: Path) -> Path:
    """A small network on a dynamic-batch FLOAT ``images`` input, as Ultralytics exports one: a
    convolution, and a second node that reads the input too (both must get the normalized values)."""
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(size=(2, 3, 3, 3)).astype(np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["images", "w"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("ReduceMax", ["images"], ["peak"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [
            helper.make_tensor_value_info("conv", TensorProto.FLOAT, ["batch", 2, 8, 8]),
            helper.make_tensor_value_info("peak", TensorProto.FLOAT, []),
        ],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(path))
    return path


def run(path: Path, images: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [np.asarray(output) for output in session.run(None, {"images": images})]


@pytest.fixture
def levels() -> np.ndarray:
    """Every grey level occurs, in a batch of 2."""
    values = np.arange(2 * 3 * 8 * 8) % 256
    return np.random.default_rng(1).permutation(values).astype(np.uint8).reshape(2, 3, 8, 8)


def test_uint8_graph_sees_exactly_what_the_float_graph_sees_from_levels_over_255(
    tmp_path: Path, levels: np.ndarray
) -> None:
    original = float_graph(tmp_path / "float.onnx")
    expected = run(original, levels.astype(np.float32) / 255)  # what Ultralytics' predict() feeds
    uint8 = float_graph(tmp_path / "uint8.onnx")
    add_uint8_input(uint8)

    assert takes_uint8_images(uint8) and not takes_uint8_images(original)
    for ours, reference in zip(run(uint8, levels), expected, strict=True):
        np.testing.assert_array_equal(ours, reference)  # bit for bit
    with pytest.raises(Exception, match=r"(?i)type"):
        run(uint8, levels.astype(np.float32))  # floats are refused, not misread


def test_float_input_copy_restores_the_exported_graph_exactly(tmp_path: Path) -> None:
    original = float_graph(tmp_path / "float.onnx")
    served = float_graph(tmp_path / "served.onnx")
    add_uint8_input(served)
    add_uint8_input(served)  # a second call changes nothing

    restored = float_input_copy(served, tmp_path / "nested" / "restored.onnx")

    assert restored.read_bytes() == original.read_bytes()
    assert float_input_copy(original, tmp_path / "copy.onnx").read_bytes() == original.read_bytes()


def test_only_a_float_input_can_become_uint8(tmp_path: Path) -> None:
    node = helper.make_node("Identity", ["images"], ["output0"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("images", TensorProto.INT32, [1])],
        [helper.make_tensor_value_info("output0", TensorProto.INT32, [1])],
    )
    path = tmp_path / "int.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match="'images' is not FLOAT"):
        add_uint8_input(path)
