"""The builder's pieces that need no export: names from ONNX metadata, the TensorRT step, fallbacks."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from yolo26_triton.builder import (
    BuildError,
    _fallback_yaml,
    build_engine,
    load_model,
    names_from_onnx,
    trtexec_command,
)


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


def test_trtexec_command_matches_the_configs(tmp_path: Path) -> None:
    command = trtexec_command(tmp_path / "model.onnx")
    assert "--fp16" in command
    assert f"--saveEngine={tmp_path / 'model.plan'}" in command
    assert "--minShapes=images:1x3x640x640" in command
    assert "--maxShapes=images:16x3x640x640" in command  # max_batch_size of the composing models


def test_engine_build_without_tensorrt_says_where_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no trtexec on this machine either way
    onnx_path = tiny_onnx(tmp_path / "model.onnx", {"names": "{0: 'a'}"})
    with pytest.raises(BuildError, match=r"trtexec not found.*trtexec --onnx="):
        build_engine(onnx_path)


def test_up_to_date_engine_is_not_rebuilt(tmp_path: Path) -> None:
    onnx_path = tiny_onnx(tmp_path / "model.onnx", {"names": "{0: 'a'}"})
    plan = tmp_path / "model.plan"
    plan.write_bytes(b"engine")
    os.utime(plan, (onnx_path.stat().st_mtime + 10,) * 2)
    assert build_engine(onnx_path) == plan
    assert plan.read_bytes() == b"engine"


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
