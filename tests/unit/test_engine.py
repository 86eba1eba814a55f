"""The TensorRT build's CPU half: the FP16 graph against the FP32 model, the tensor contract, provenance.

No TensorRT or GPU here. What a TensorRT 11 build parses is checked instead: the FP16 graph that
:func:`yolo26_triton.export.graphs.fp16_graph` makes (ModelOpt AutoCast through Ultralytics' own code),
made with exactly the builder image's packages (``tests/container_env.py``), run with onnxruntime on
the sample images against the FP32 ONNX, both heads. Stated tolerance, measured at 3x below it:

* raw classic-head output: box coordinates within :data:`BOX_TOLERANCE_PX`, class scores within
  :data:`SCORE_TOLERANCE`;
* final detections (Ultralytics' defaults: conf 0.25, IoU 0.7): one-to-one agreement (same class,
  IoU >= 0.5) at least :data:`MIN_AGREEMENT`, each matched pair's IoU at least :data:`MIN_PAIR_IOU`,
  scores within :data:`SCORE_TOLERANCE`.

onnxruntime needs one concession: AutoCast annotates intermediate shapes with a dimension named
``unk`` for several different sizes, which onnxruntime's memory planner takes for one size and fails
on ("Shape mismatch attempting to re-use buffer"). The graph runs with those annotations removed:
same nodes, same weights; TensorRT's parser infers every shape itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from yolo26_triton.export.engine import EngineProvenance, build_engine, tensorrt_version
from yolo26_triton.export.errors import EngineError
from yolo26_triton.export.graphs import engine_input
from yolo26_triton.export.int8_parity import ParityReport, accept_int8, split_calibration
from yolo26_triton.export.io_check import config_io, io_problems, onnx_io
from yolo26_triton.export.repository import read_config
from yolo26_triton.ops.detections import DetectionSettings, select_detections
from yolo26_triton.ops.matching import agreement_score, match_detections

from ..conftest import END_TO_END_MODEL
from ..container_env import ROOT, run_in_image
from ..letterbox_reference import ultralytics_chw
from ..sample_images import SAMPLE_IMAGES

BUILDER_IMAGE = ROOT / "container" / "builder.Dockerfile"
HEADS = {"yolo26": "classic", END_TO_END_MODEL: "nms_free"}
BOX_TOLERANCE_PX = 1.0
SCORE_TOLERANCE = 0.005
MIN_AGREEMENT = 0.99
MIN_PAIR_IOU = 0.95

MAKE_FP16_GRAPHS = """
import json, sys
from pathlib import Path
from yolo26_triton.export.graphs import fp16_graph
output = Path(sys.argv[1])
graphs = {}
for name, onnx_path in zip(sys.argv[2::2], sys.argv[3::2]):
    (output / name).mkdir()
    graphs[name] = str(fp16_graph(Path(onnx_path), output / name))
print(json.dumps(graphs))
"""


@pytest.fixture(scope="session")
def fp16_graphs(multi_model_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each head's FP16 graph, made in a Python holding only the builder image's packages."""
    folder = tmp_path_factory.mktemp("fp16")
    argv = [str(folder)]
    for model in HEADS:
        argv += [model, str(multi_model_repository / model / "1" / "model.onnx")]
    completed = run_in_image(
        BUILDER_IMAGE,
        MAKE_FP16_GRAPHS,
        folder / "site-packages",
        argv=argv,
        environment={"YOLO_OFFLINE": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return {name: Path(path) for name, path in json.loads(completed.stdout.strip().splitlines()[-1]).items()}


def session(model: onnx.ModelProto | Path) -> ort.InferenceSession:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def without_shape_annotations(path: Path) -> onnx.ModelProto:
    model = onnx.load(str(path))
    del model.graph.value_info[:]
    return model


@pytest.fixture(scope="module")
def letterboxed_samples() -> np.ndarray:
    """The sample images letterboxed by Ultralytics, as the UINT8 grey levels the detector takes."""
    return np.stack([ultralytics_chw(cv2.imread(str(path))) for path in SAMPLE_IMAGES])


@pytest.mark.parametrize("model", HEADS)
def test_fp16_graph_keeps_the_configs_tensors(
    fp16_graphs: dict[str, Path], multi_model_repository: Path, model: str
) -> None:
    graph = fp16_graphs[model]
    onnx.checker.check_model(str(graph))
    node_types = {
        onnx.helper.tensor_dtype_to_np_dtype(node.attribute[0].i)
        for node in onnx.load(str(graph)).graph.node
        if node.op_type == "Cast"
    }
    assert np.dtype(np.float16) in node_types  # reduced precision is in the graph
    for config_file in ("config.pbtxt", "configs/cpu.pbtxt"):
        config = read_config(multi_model_repository / model / config_file)
        assert io_problems(graph, config_io(config)) == [], config_file


@pytest.mark.parametrize("model", HEADS)
def test_fp16_graph_agrees_with_the_fp32_model_on_the_sample_images(
    fp16_graphs: dict[str, Path], multi_model_repository: Path, letterboxed_samples: np.ndarray, model: str
) -> None:
    fp32 = session(multi_model_repository / model / "1" / "model.onnx").run(
        None, {"images": letterboxed_samples}
    )
    fp16 = session(without_shape_annotations(fp16_graphs[model])).run(None, {"images": letterboxed_samples})

    assert [array.dtype for array in fp16] == [array.dtype for array in fp32] == [np.float32, np.int32]
    np.testing.assert_array_equal(fp16[1], fp32[1])  # output_detector_id
    if HEADS[model] == "classic":
        assert np.abs(fp16[0][:, :4] - fp32[0][:, :4]).max() <= BOX_TOLERANCE_PX
        assert np.abs(fp16[0][:, 4:] - fp32[0][:, 4:]).max() <= SCORE_TOLERANCE
    totals = np.zeros(3, int)
    for reference, candidate in zip(fp32[0], fp16[0], strict=True):
        ref_boxes, ref_scores, ref_classes = select_detections(reference, DetectionSettings(), np)
        boxes, scores, classes = select_detections(candidate, DetectionSettings(), np)
        matches = match_detections(ref_boxes, ref_classes, boxes, classes, 0.5)
        totals += (len(ref_scores), len(scores), len(matches))
        assert len(matches) == 0 or matches.iou.min() >= MIN_PAIR_IOU
        score_diff = np.abs(ref_scores[matches.reference_index] - scores[matches.candidate_index])
        assert len(matches) == 0 or score_diff.max() <= SCORE_TOLERANCE
    assert totals[0] > 0
    assert agreement_score(totals[2], totals[0], totals[1]) >= MIN_AGREEMENT


@pytest.mark.parametrize("model", HEADS)
def test_exported_onnx_matches_both_profiles_configs(
    multi_model_repository: Path, model: str, tmp_path: Path
) -> None:
    """Names, data types and dims of every input and output, ``output_detector_id`` included."""
    onnx_path = multi_model_repository / model / "1" / "model.onnx"
    _, outputs = onnx_io(onnx_path)
    assert [spec.name for spec in outputs] == ["output0", "output_detector_id"]
    gpu, cpu = (
        read_config(multi_model_repository / model / name) for name in ("config.pbtxt", "configs/cpu.pbtxt")
    )
    assert config_io(gpu) == config_io(cpu)
    assert io_problems(onnx_path, config_io(gpu)) == []
    assert io_problems(engine_input(onnx_path, tmp_path / "engine.onnx"), config_io(gpu)) == []
    (images,) = onnx_io(tmp_path / "engine.onnx")[0]
    assert images.dims[1:] == tuple(config_io(gpu)[0][0].dims)  # 640x640 fixed for the engine profile


def test_each_real_output_shape_fits_the_config(
    multi_model_repository: Path, letterboxed_samples: np.ndarray
) -> None:
    """What onnxruntime returns (not only what the graph declares) fits the configs, both heads."""
    for model, head in HEADS.items():
        runner = session(multi_model_repository / model / "1" / "model.onnx")
        output0, detector_id = runner.run(None, {"images": letterboxed_samples[:2]})
        expected = (84, 8400) if head == "classic" else (300, 6)
        assert output0.shape == (2, *expected)
        assert detector_id.shape == (2, 1)


def test_a_graph_that_changes_a_tensor_is_reported(multi_model_repository: Path, tmp_path: Path) -> None:
    onnx_path = multi_model_repository / "yolo26" / "1" / "model.onnx"
    model = onnx.load(str(onnx_path))
    model.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    model.graph.output[1].name = "detector"
    changed = tmp_path / "changed.onnx"
    onnx.save(model, str(changed))
    problems = io_problems(
        changed, config_io(read_config(multi_model_repository / "yolo26" / "config.pbtxt"))
    )
    assert "input images: TYPE_FP32 in the graph, TYPE_UINT8 in the config" in problems
    assert any("'detector'" in problem and "'output_detector_id'" in problem for problem in problems)


def test_provenance_names_what_changed(tmp_path: Path) -> None:
    record = EngineProvenance("11.0.0.114", "NVIDIA H100 80GB HBM3", "9.0", "fp16", "ab12")
    record.write(tmp_path / "model.plan.json")
    assert EngineProvenance.read(tmp_path / "model.plan.json") == record
    assert record.changes_from(record) == []
    assert EngineProvenance.read(tmp_path / "absent.json") is None
    assert record.changes_from(None) == ["no record of the existing plan"]
    newer_trt = EngineProvenance("11.1.0.106", "NVIDIA H100 80GB HBM3", "9.0", "fp16", "ab12")
    assert newer_trt.changes_from(record) == ["tensorrt 11.0.0.114 -> 11.1.0.106"]
    other_gpu = EngineProvenance("11.0.0.114", "NVIDIA L4", "8.9", "fp16", "ab12")
    assert other_gpu.changes_from(record) == [
        "gpu NVIDIA H100 80GB HBM3 -> NVIDIA L4",
        "compute_capability 9.0 -> 8.9",
    ]


def test_engine_build_without_a_gpu_says_so(multi_model_repository: Path) -> None:
    with pytest.raises(EngineError, match="no GPU visible"):
        build_engine(multi_model_repository / "yolo26" / "1" / "model.onnx")


def test_engine_build_without_tensorrt_says_where_to_build() -> None:
    with pytest.raises(EngineError, match=r"TensorRT's Python module is not importable.*builder image"):
        tensorrt_version()


def test_a_tensorrt_other_than_the_images_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan loads only in the TensorRT that built it: the builder's must be the image's ($TRT_VERSION).

    No TensorRT installs here, so a module that only reports a version stands in for it."""
    (tmp_path / "tensorrt").mkdir()
    (tmp_path / "tensorrt" / "__init__.py").write_text('__version__ = "10.13.3.9"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.setenv("TRT_VERSION", "11.0.0.114")
    with pytest.raises(
        EngineError, match=r"TensorRT 10.13.3.9 is importable but the image carries TensorRT 11.0.0.114"
    ):
        tensorrt_version()
    monkeypatch.setenv("TRT_VERSION", "10.13.3.9")
    assert tensorrt_version() == "10.13.3.9"


MAKE_INT8_GRAPH = """
import json, sys
from pathlib import Path
from yolo26_triton.export.graphs import int8_graph, letterboxed
from yolo26_triton.export.int8_parity import parity_report
onnx_path, output, *images = map(Path, sys.argv[1:])
graph = int8_graph(onnx_path, letterboxed(images), output)
report = parity_report(onnx_path, graph, letterboxed(images), [path.name for path in images], held_out=False)
report.write(output / "parity.json")
print(json.dumps({"graph": str(graph)}))
"""


def test_int8_graph_and_its_parity_report(
    multi_model_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``--int8``: the Q/DQ graph from the sample JPEGs, made with the builder image's packages, keeps the
    configs' tensors; its report against FP32 counts boxes and pairs (numbers of this fixture model:
    INT8 moves its crowded, near-tied scores more than FP16 does)."""
    folder = tmp_path_factory.mktemp("int8")
    onnx_path = multi_model_repository / "yolo26" / "1" / "model.onnx"
    completed = run_in_image(
        BUILDER_IMAGE,
        MAKE_INT8_GRAPH,
        folder / "site-packages",
        argv=[str(onnx_path), str(folder), *map(str, SAMPLE_IMAGES)],
        environment={"YOLO_OFFLINE": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    graph = Path(json.loads(completed.stdout.strip().splitlines()[-1])["graph"])
    node_types = {node.op_type for node in onnx.load(str(graph)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= node_types
    config = read_config(multi_model_repository / "yolo26" / "config.pbtxt")
    assert io_problems(graph, config_io(config)) == []
    report = json.loads((folder / "parity.json").read_text())
    assert report["images"] == [path.name for path in SAMPLE_IMAGES] and not report["held_out"]
    assert report["reference_boxes"] > 0 and 0 < report["matched"] <= report["reference_boxes"]
    assert 0 < report["agreement"] <= 1


def test_calibration_keeps_every_fifth_image_out_for_the_report(tmp_path: Path) -> None:
    few = [tmp_path / f"{index}.jpg" for index in range(4)]
    assert split_calibration(few) == (few, few, False)
    many = [tmp_path / f"{index}.jpg" for index in range(12)]
    calibrate, compared, held_out = split_calibration(many)
    assert held_out and compared == [many[4], many[9]]
    assert set(calibrate) == set(many) - set(compared)


def test_an_int8_graph_below_the_floor_is_refused(tmp_path: Path) -> None:
    report = ParityReport(("a.jpg",), True, 10, 9, 8, 16 / 19, 0.9, 0.05)
    accept_int8(report, 0.8, tmp_path / "model.int8-parity.json")
    with pytest.raises(EngineError, match=r"agrees 0.842 with the FP32 model, below 0.9"):
        accept_int8(report, 0.9, tmp_path / "model.int8-parity.json")
    with pytest.raises(EngineError, match="INT8 needs calibration images"):
        build_engine(tmp_path / "model.onnx", precision="int8")
