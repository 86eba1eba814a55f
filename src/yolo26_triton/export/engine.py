"""``triton-detect build --engine``: the TensorRT plan, through Ultralytics' own engine code.

TensorRT 11 (the 26.xx NGC images) is strongly typed only: ``trtexec`` has no ``--fp16`` or
``--int8`` any more, reduced precision must be written into the ONNX graph. Ultralytics 8.4.190
handles TensorRT 7 to 11 in ``ultralytics/utils/export/engine.py``: ``onnx2engine`` builds the
plan (builder flags up to TensorRT 10), and ``modelopt_quantize_onnx`` writes the reduced-precision
graph for TensorRT 11 with NVIDIA ModelOpt (FP16: AutoCast with ``keep_io_types=True``, so the
engine's inputs and outputs keep the types the configs declare; INT8: explicit Q/DQ). ModelOpt
calibrates with normalized floats, so both start from the graph as Ultralytics exported it (FLOAT
input) and get the build's UINT8 input back afterwards (:mod:`yolo26_triton.export.image_input`). This module
drives that code for the model repository:

1. :func:`engine_input` fixes the exported ONNX's spatial dimensions to the configs' 640x640 (the
   batch stays dynamic), so the optimization profile spans batch 1..16 at 640x640 only;
2. :func:`fp16_graph` is the FP16 graph a TensorRT 11 build parses: AutoCast through Ultralytics'
   ``modelopt_quantize_onnx``. It runs on a CPU, and the CI check compares it with the FP32 model
   on onnxruntime (``tests/unit/test_engine.py``);
3. :func:`int8_graph` is the INT8 alternative (``--int8 CALIBRATION_DIR``): explicit Q/DQ nodes
   calibrated on the user's own JPEGs through the same Ultralytics function, accepted only with a
   :func:`parity_report` against the FP32 model (written beside the plan; the build fails below a
   floor of agreement);
4. :func:`build_engine` builds ``model.plan`` with ``onnx2engine`` and records beside it, in
   ``model.plan.json``, the TensorRT version, the GPU and the ONNX it was built from; it builds again
   when any of them changed, and refuses a TensorRT whose version differs from the image's
   (``$TRT_VERSION``): Triton could not load that plan.

:func:`io_problems` checks an ONNX graph's inputs and outputs against a model config (names, data
types, dimensions): the build runs it on every graph it hands to TensorRT.

Errors::

    EngineError          the plan cannot be built (no TensorRT, no GPU, a graph that breaks the contract)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from yolo26_triton.contract import DETECTOR_INPUT, INPUT_SIZE, MAX_BATCH_SIZE
from yolo26_triton.export.errors import EngineError
from yolo26_triton.export.image_input import add_uint8_input, float_input_copy

log = logging.getLogger(__name__)

Precision = Literal["fp16", "int8", "fp32"]
ENGINE_SHAPE = (MAX_BATCH_SIZE, 3, INPUT_SIZE, INPUT_SIZE)
"""The optimization profile's opt and max shape (min: batch 1)."""
CALIBRATION_SHAPE = (1, 3, INPUT_SIZE, INPUT_SIZE)
"""AutoCast's calibration batch: Ultralytics broadcasts one image to the shape, so batch 1 gives the
same graph as ``ENGINE_SHAPE`` for 1/16 of the memory."""
PROVENANCE_SUFFIX = ".plan.json"
PARITY_SUFFIX = ".int8-parity.json"
INT8_MIN_AGREEMENT = 0.9
"""Default floor of the INT8 graph's agreement with the FP32 model (:func:`parity_report`)."""
HOLD_OUT_EVERY = 5
"""With at least this many calibration images, every 5th is kept out of calibration for the report."""
TENSORRT_VERSION_VARIABLE = "TRT_VERSION"
"""Set by the NGC images to the TensorRT they carry (production_image.toml, tensorrt_major)."""


@dataclass(frozen=True)
class EngineProvenance:
    """What a plan was built with and from, written beside it as ``model.plan.json``.

    Attributes:
        tensorrt: TensorRT version of the build (a plan loads only in the same version).
        gpu: Name of the GPU it was built on.
        compute_capability: That GPU's ``major.minor`` (a plan runs on that architecture only).
        precision: ``fp16``, ``int8`` or ``fp32``.
        onnx_sha256: SHA-256 of the exported ONNX it was built from.
        calibration_sha256: For INT8, SHA-256 over the calibration JPEGs; empty otherwise.
    """

    tensorrt: str
    gpu: str
    compute_capability: str
    precision: str
    onnx_sha256: str
    calibration_sha256: str = ""

    def write(self, path: Path) -> None:
        """Writes the record as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> EngineProvenance | None:
        """The record at ``path``, or None when there is none or it cannot be read."""
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def changes_from(self, other: EngineProvenance | None) -> list[str]:
        """What differs from ``other`` (an older record), in words; empty when nothing does."""
        if other is None:
            return ["no record of the existing plan"]
        return [
            f"{name} {getattr(other, name)} -> {getattr(self, name)}"
            for name in (
                "tensorrt",
                "gpu",
                "compute_capability",
                "precision",
                "onnx_sha256",
                "calibration_sha256",
            )
            if getattr(self, name) != getattr(other, name)
        ]


def plan_path(onnx_path: Path) -> Path:
    """``model.plan`` beside ``model.onnx``."""
    return onnx_path.with_suffix(".plan")


def provenance_path(onnx_path: Path) -> Path:
    """``model.plan.json`` beside ``model.onnx``."""
    return onnx_path.with_suffix(PROVENANCE_SUFFIX)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


@dataclass(frozen=True)
class ParityReport:
    """How a reduced-precision graph's detections agree with the FP32 model's on some images.

    Attributes:
        images: Names of the images compared.
        held_out: Whether those images were kept out of the calibration.
        reference_boxes: Boxes of the FP32 model, all images (Ultralytics' default thresholds).
        candidate_boxes: Boxes of the reduced-precision graph.
        matched: Pairs matched one to one (same class, IoU >= 0.5).
        agreement: ``2 * matched / (reference_boxes + candidate_boxes)``.
        mean_iou: Mean IoU of the matched pairs (None without any).
        max_score_diff: Largest score difference of a matched pair (None without any).
    """

    images: tuple[str, ...]
    held_out: bool
    reference_boxes: int
    candidate_boxes: int
    matched: int
    agreement: float
    mean_iou: float | None
    max_score_diff: float | None

    def write(self, path: Path) -> None:
        """Writes the report as JSON."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def parity_report(
    reference: Path, candidate: Path, images: Any, names: Sequence[str], *, held_out: bool
) -> ParityReport:
    """Runs both graphs with onnxruntime on the CPU on ``images`` (uint8, letterboxed) and matches their
    final detections (:mod:`yolo26_triton.ops.matching`)."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from yolo26_triton.ops.detections import DetectionSettings, select_detections
    from yolo26_triton.ops.matching import agreement_score, match_detections

    candidate_model = onnx.load(str(candidate))
    del candidate_model.graph.value_info[:]  # ModelOpt's shape annotations confuse onnxruntime's planner
    sessions = [
        ort.InferenceSession(source, providers=["CPUExecutionProvider"])
        for source in (str(reference), candidate_model.SerializeToString())
    ]
    reference_boxes = candidate_boxes = matched = 0
    ious: list[float] = []
    score_diffs: list[float] = []
    for start in range(0, len(images), 8):
        pixels = images[start : start + 8]  # both graphs take the UINT8 grey levels (image_input.py)
        outputs = [session.run(None, {DETECTOR_INPUT: pixels})[0] for session in sessions]
        for expected, actual in zip(*outputs, strict=True):
            ref_boxes, ref_scores, ref_classes = select_detections(expected, DetectionSettings(), np)
            boxes, scores, classes = select_detections(actual, DetectionSettings(), np)
            matches = match_detections(ref_boxes, ref_classes, boxes, classes)
            reference_boxes, candidate_boxes = (
                reference_boxes + len(ref_scores),
                candidate_boxes + len(scores),
            )
            matched += len(matches)
            ious.extend(matches.iou.tolist())
            differences = np.abs(ref_scores[matches.reference_index] - scores[matches.candidate_index])
            score_diffs.extend(differences.tolist())
    return ParityReport(
        images=tuple(names),
        held_out=held_out,
        reference_boxes=reference_boxes,
        candidate_boxes=candidate_boxes,
        matched=matched,
        agreement=agreement_score(matched, reference_boxes, candidate_boxes),
        mean_iou=sum(ious) / len(ious) if ious else None,
        max_score_diff=max(score_diffs) if score_diffs else None,
    )


def tensorrt_version() -> str:
    """The version of the importable TensorRT Python module.

    Raises:
        EngineError: TensorRT is not importable, or differs from the image's ``$TRT_VERSION``.
    """
    try:
        import tensorrt
    except ImportError:
        raise EngineError(
            "TensorRT's Python module is not importable here: build the engine in the builder image "
            "(`docker compose run --rm model-builder`, docs/gpu.md), whose TensorRT is the server's"
        ) from None
    version = str(tensorrt.__version__)
    expected = os.environ.get(TENSORRT_VERSION_VARIABLE)
    if expected and not version.startswith(expected) and not expected.startswith(version):
        raise EngineError(
            f"TensorRT {version} is importable but the image carries TensorRT {expected} "
            f"(${TENSORRT_VERSION_VARIABLE}): Triton would refuse a plan built with another version"
        )
    return version


def gpu_identity(index: int = 0) -> tuple[str, str]:
    """``(name, compute capability)`` of GPU ``index``, read through NVML.

    Raises:
        EngineError: No GPU is visible.
    """
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        finally:
            pynvml.nvmlShutdown()
    except Exception as error:  # ImportError, NVMLError_LibraryNotFound, NVMLError_InvalidArgument...
        raise EngineError(
            f"no GPU visible ({type(error).__name__}: {error}): a TensorRT plan is built on the GPU it "
            "serves on (compose reserves one for model-builder)"
        ) from None
    return (name.decode() if isinstance(name, bytes) else str(name)), f"{major}.{minor}"


def build_engine(
    onnx_path: Path,
    *,
    precision: Precision = "fp16",
    calibration: Path | None = None,
    min_agreement: float = INT8_MIN_AGREEMENT,
    force: bool = False,
) -> Path:
    """Builds ``model.plan`` beside ``onnx_path`` (dynamic batch 1..16 at 640x640), if needed.

    Skipped when ``model.plan.json`` says the plan came from the same ONNX, TensorRT version, GPU,
    precision and calibration images. FP16: TensorRT 11 parses :func:`fp16_graph`; TensorRT 10 and
    older get the FP32 graph and Ultralytics' FP16 builder flag. INT8: :func:`int8_graph` from the
    JPEGs in ``calibration``, first checked against the FP32 model (:func:`parity_report`, written to
    ``model.int8-parity.json``).

    Raises:
        EngineError: No TensorRT or GPU, a graph whose inputs or outputs no longer match the
            configs, an INT8 graph below ``min_agreement``, or a failed build.
    """
    if (precision == "int8") != (calibration is not None):
        raise EngineError("INT8 needs calibration images (--int8 CALIBRATION_DIR), and only INT8 uses them")
    plan, record_path = plan_path(onnx_path), provenance_path(onnx_path)
    images = calibration_images(calibration) if calibration is not None else []
    calibration_hash = hashlib.sha256("".join(map(sha256, images)).encode()).hexdigest() if images else ""
    gpu, capability = gpu_identity()
    current = EngineProvenance(
        tensorrt_version(), gpu, capability, precision, sha256(onnx_path), calibration_sha256=calibration_hash
    )
    changes = current.changes_from(EngineProvenance.read(record_path))
    if plan.exists() and not changes and not force:
        log.info("%s is up to date (%s): TensorRT build skipped", plan, record_path.name)
        return plan
    log.info("building %s: %s", plan, "; ".join(changes) if plan.exists() else "no plan yet")
    from ultralytics.utils.export.engine import onnx2engine

    with tempfile.TemporaryDirectory(prefix="engine-") as folder:
        workdir = Path(folder)
        strongly_typed = int(current.tensorrt.split(".")[0]) >= 11
        if precision == "int8":
            graph, quantize = _checked_int8_graph(onnx_path, images, workdir, min_agreement), 8
        elif precision == "fp16" and strongly_typed:
            graph, quantize = fp16_graph(onnx_path, workdir), None  # the precision is in the graph
        else:
            graph = engine_input(onnx_path, workdir / "model.onnx")
            quantize = 16 if precision == "fp16" else None
        problems = io_problems(graph, expected_io(onnx_path))
        if problems:
            raise EngineError(f"{graph.name} no longer matches the configs: {'; '.join(problems)}")
        built = Path(workdir / "model.plan")
        try:
            onnx2engine(str(graph), built, quantize=quantize, dynamic=True, shape=ENGINE_SHAPE)
        except (RuntimeError, ValueError) as error:
            raise EngineError(f"TensorRT build of {onnx_path} failed: {error}") from error
        shutil.move(str(built), plan)
    current.write(record_path)
    log.info("%s built with TensorRT %s for %s (%s)", plan, current.tensorrt, gpu, precision)
    return plan


def split_calibration(images: list[Path]) -> tuple[list[Path], list[Path], bool]:
    """``(calibrate, compare, held_out)``: from :data:`HOLD_OUT_EVERY` images on, every 5th is kept out
    of calibration and compared; below that, all images do both."""
    if len(images) < HOLD_OUT_EVERY:
        return images, images, False
    compared = images[HOLD_OUT_EVERY - 1 :: HOLD_OUT_EVERY]
    return [path for path in images if path not in compared], compared, True


def accept_int8(report: ParityReport, min_agreement: float, report_path: Path) -> None:
    """Raises :class:`EngineError` when the INT8 graph agrees less than ``min_agreement`` with FP32."""
    if report.agreement < min_agreement:
        raise EngineError(
            f"the INT8 graph agrees {report.agreement:.3f} with the FP32 model, below {min_agreement} "
            f"({report_path}): calibrate on more, or more typical, images, or keep FP16"
        )


def _checked_int8_graph(onnx_path: Path, images: list[Path], workdir: Path, min_agreement: float) -> Path:
    """:func:`int8_graph` of the calibration images, with its :func:`parity_report` written beside the
    plan and :func:`accept_int8` applied."""
    calibrate, compared, held_out = split_calibration(images)
    graph = int8_graph(onnx_path, letterboxed(calibrate), workdir)
    report = parity_report(
        onnx_path, graph, letterboxed(compared), [path.name for path in compared], held_out=held_out
    )
    report_path = onnx_path.with_suffix(PARITY_SUFFIX)
    report.write(report_path)
    log.info(
        "INT8 against FP32 on %d %s images: agreement %.3f (%d pairs of %d and %d boxes), mean IoU %s, "
        "largest score difference %s (%s)",
        len(compared),
        "held-out" if held_out else "calibration",
        report.agreement,
        report.matched,
        report.reference_boxes,
        report.candidate_boxes,
        report.mean_iou,
        report.max_score_diff,
        report_path,
    )
    accept_int8(report, min_agreement, report_path)
    return graph


@dataclass(frozen=True)
class TensorSpec:
    """A tensor as a model config declares it: Triton data type and dims without the batch."""

    name: str
    data_type: str
    dims: tuple[int, ...]


_ONNX_TO_TRITON = {1: "TYPE_FP32", 2: "TYPE_UINT8", 6: "TYPE_INT32", 7: "TYPE_INT64", 10: "TYPE_FP16"}
"""ONNX ``TensorProto`` element types to Triton config data types (the ones a detector uses)."""


def expected_io(onnx_path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The inputs and outputs the detector's GPU config (``<model>/config.pbtxt``) declares.

    ``onnx_path`` is ``<repository>/<model>/<version>/model.onnx``.
    """
    from yolo26_triton.export.repository import read_config

    config = read_config(onnx_path.parents[1] / "config.pbtxt")
    return config_io(config)


def config_io(config: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The inputs and outputs of a parsed ``ModelConfig``."""

    def specs(tensors: Sequence[Any]) -> list[TensorSpec]:
        return [
            TensorSpec(
                tensor.name,
                tensor.DESCRIPTOR.fields_by_name["data_type"]
                .enum_type.values_by_number[tensor.data_type]
                .name,
                tuple(tensor.dims),
            )
            for tensor in tensors
        ]

    return specs(config.input), specs(config.output)


def onnx_io(onnx_path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The graph's inputs and outputs, batch dimension removed; a symbolic dimension reads ``-1``."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph

    def specs(values: Sequence[Any]) -> list[TensorSpec]:
        result = []
        for value in values:
            tensor_type = value.type.tensor_type
            dims = tuple(dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor_type.shape.dim)
            data_type = _ONNX_TO_TRITON.get(
                tensor_type.elem_type, f"onnx element type {tensor_type.elem_type}"
            )
            result.append(TensorSpec(value.name, data_type, dims))
        return result

    return specs(graph.input), specs(graph.output)


def io_problems(
    onnx_path: Path, expected: tuple[list[TensorSpec], list[TensorSpec]], *, batched: bool = True
) -> list[str]:
    """How the graph's inputs and outputs differ from a config's; empty when they agree.

    Names must match, and so must data types. Each graph tensor has the batch dimension first
    (dynamic, as ``max_batch_size > 0`` needs) followed by dimensions compatible with the config's
    ``dims`` (``-1`` on either side matches anything).
    """
    problems = []
    for kind, graph_specs, config_specs in zip(
        ("input", "output"), onnx_io(onnx_path), expected, strict=True
    ):
        graph_by_name = {spec.name: spec for spec in graph_specs}
        config_by_name = {spec.name: spec for spec in config_specs}
        if set(graph_by_name) != set(config_by_name):
            problems.append(
                f"{kind}s {sorted(graph_by_name)} in the graph, {sorted(config_by_name)} in the config"
            )
        for name in sorted(set(graph_by_name) & set(config_by_name)):
            graph, config = graph_by_name[name], config_by_name[name]
            if graph.data_type != config.data_type:
                problems.append(
                    f"{kind} {name}: {graph.data_type} in the graph, {config.data_type} in the config"
                )
            dims = graph.dims[1:] if batched else graph.dims
            if batched and (not graph.dims or graph.dims[0] != -1):
                problems.append(
                    f"{kind} {name}: the graph's first dimension {graph.dims[:1]} is not a dynamic batch"
                )
            compatible = len(dims) == len(config.dims) and all(
                a == b or -1 in (a, b) for a, b in zip(dims, config.dims, strict=True)
            )
            if not compatible:
                problems.append(
                    f"{kind} {name}: dims {list(dims)} in the graph, {list(config.dims)} in the config"
                )
    return problems
