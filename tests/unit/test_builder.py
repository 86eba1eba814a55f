"""The builder's pieces that need no export: names from ONNX metadata, the detector id, fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from yolo26_triton.export.builder import (
    STALE_PIPELINE,
    _fallback_yaml,
    add_detector_id_output,
    build_repository,
    check_against_configs,
    detector_id_in_onnx,
    load_model,
    names_from_onnx,
    remove_stale_pipeline,
)
from yolo26_triton.export.errors import BuildError
from yolo26_triton.export.repository import copy_templates

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


def tiny_onnx(path: Path, metadata: dict[str, str]) -> Path:
    node = helper.make_node("Identity", ["images"], ["output0"])
    tensor = helper.make_tensor_value_info
    graph = helper.make_graph(
        [node], "g", [tensor("images", TensorProto.FLOAT, [1])], [tensor("output0", TensorProto.FLOAT, [1])]
    )
    model = helper.make_model(graph)
    helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


def test_names_come_from_the_onnx_metadata(tmp_path: Path) -> None:
    path = tiny_onnx(tmp_path / "model.onnx", {"names": "{0: 'person', 1: 'bicycle', 2: 'car'}"})
    assert names_from_onnx(path) == ("person", "bicycle", "car")


def test_onnx_without_names_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="no 'names' metadata"):
        names_from_onnx(tiny_onnx(tmp_path / "model.onnx", {}))


def test_a_model_dali_left_by_older_builds_is_removed(tmp_path: Path) -> None:
    """The DALI backend would load it before preprocess/1/dali.py, with another DALI's serialization."""
    stale = tmp_path / STALE_PIPELINE
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"serialized by DALI 2.4.0")
    (stale.parent / "dali.py").write_text("# the pipeline\n")
    remove_stale_pipeline(tmp_path)
    assert not stale.exists()
    assert (stale.parent / "dali.py").exists()
    remove_stale_pipeline(tmp_path)  # nothing to remove: no error


def test_an_onnx_that_breaks_the_config_contract_fails_the_build(tmp_path: Path) -> None:
    repository = tmp_path / "model_repository"
    copy_templates(REPOSITORY, repository)
    path = batched_onnx(repository / "yolo26" / "1" / "model.onnx")  # float images, no detector id
    expected = (
        r"does not fit yolo26/config.pbtxt: input images: TYPE_FP32 in the graph, TYPE_UINT8 in the config; "
        r"input images: dims \[3, 4, 4\] .*output_detector_id"
    )
    with pytest.raises(BuildError, match=expected):
        check_against_configs(path)


def test_unknown_weights_are_refused() -> None:
    with pytest.raises(BuildError, match="not an Ultralytics name"):
        load_model("no-such-weights.pt")


@pytest.mark.parametrize(
    ("weights", "fallback"),
    [("yolo26n.pt", "yolo26n.yaml"), ("yolo26s.pt", "yolo26s.yaml"), ("x/y.pt", "yolo26n.yaml")],
)
def test_fallback_is_the_untrained_model_of_the_same_size(weights: str, fallback: str) -> None:
    assert _fallback_yaml(weights) == fallback


def test_yaml_builds_an_untrained_model_with_coco_names() -> None:
    model, source, untrained = load_model("yolo26n.yaml")
    assert (source, untrained) == ("yolo26n.yaml", True)
    assert model.names[0] == "person" and len(model.names) == 80


def batched_onnx(path: Path) -> Path:
    """A stand-in detector with the exported model's input and a dynamic batch dimension."""
    node = helper.make_node("ReduceMean", ["images"], ["output0"], axes=[1], keepdims=0)
    tensor = helper.make_tensor_value_info
    graph = helper.make_graph(
        [node],
        "g",
        [tensor("images", TensorProto.FLOAT, ["batch", 3, 4, 4])],
        [tensor("output0", TensorProto.FLOAT, ["batch", 4, 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("batch", [1, 5])
def test_detector_id_output_names_the_model_once_per_image(tmp_path: Path, batch: int) -> None:
    path = batched_onnx(tmp_path / "model.onnx")
    add_detector_id_output(path, 123456789)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).random((batch, 3, 4, 4), dtype=np.float32)
    output0, detector_id = session.run(["output0", "output_detector_id"], {"images": images})
    np.testing.assert_allclose(output0, images.mean(axis=1), rtol=1e-6)  # the model itself unchanged
    assert detector_id.dtype == np.int32
    assert detector_id.tolist() == [[123456789]] * batch
    assert detector_id_in_onnx(path) == 123456789


def test_an_onnx_without_the_output_has_no_detector_id(tmp_path: Path) -> None:
    assert detector_id_in_onnx(batched_onnx(tmp_path / "model.onnx")) is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"model": "resnet"}, "expected yolo26 or yolo26_<lowercase word>"),
        ({"version": "0"}, "expected a positive integer"),
    ],
)
def test_bad_model_names_and_versions_are_refused_before_any_work(
    tmp_path: Path, arguments: dict[str, str], message: str
) -> None:
    with pytest.raises(BuildError, match=message):
        build_repository(tmp_path, "yolo26n.yaml", **arguments)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
