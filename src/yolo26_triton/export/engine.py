"""``triton-detect build --engine``: the TensorRT plan, through Ultralytics' own engine code.

TensorRT 11 (the 26.xx NGC images) is strongly typed only: ``trtexec`` has no ``--fp16`` or
``--int8`` any more, reduced precision must be written into the ONNX graph. Ultralytics 8.4.190
handles TensorRT 7 to 11 in ``ultralytics/utils/export/engine.py``: ``onnx2engine`` builds the
plan (builder flags up to TensorRT 10), and ``modelopt_quantize_onnx`` writes the reduced-precision
graph for TensorRT 11 with NVIDIA ModelOpt (FP16: AutoCast with ``keep_io_types=True``, so the
engine's inputs and outputs keep the types the configs declare; INT8: explicit Q/DQ). ModelOpt
calibrates with normalized floats, so both start from the graph as Ultralytics exported it (FLOAT
input) and get the build's UINT8 input back afterwards (:mod:`yolo26_triton.export.image_input`).
The build, in the order of its modules:

1. :mod:`~yolo26_triton.export.graphs`: ``engine_input`` fixes the exported ONNX's spatial dimensions
   to the configs' 640x640 (the batch stays dynamic), so the optimization profile spans batch 1..16
   at 640x640 only; ``fp16_graph`` is the FP16 graph a TensorRT 11 build parses (AutoCast through
   Ultralytics' ``modelopt_quantize_onnx``; it runs on a CPU, and ``tests/unit/test_engine.py``
   compares it with the FP32 model on onnxruntime); ``int8_graph`` is the INT8 alternative
   (``--int8 CALIBRATION_DIR``), explicit Q/DQ nodes calibrated on the user's own JPEGs;
2. :mod:`~yolo26_triton.export.int8_parity`: the INT8 graph is accepted only with a parity report
   against the FP32 model (written beside the plan; the build fails below a floor of agreement);
3. :mod:`~yolo26_triton.export.io_check`: every graph handed to TensorRT is checked against the
   model configs (names, data types, dimensions);
4. :func:`build_engine` (here) builds ``model.plan`` with ``onnx2engine`` and records beside it, in
   ``model.plan.json``, the TensorRT version, the GPU and the ONNX it was built from; it builds again
   when any of them changed, and refuses a TensorRT whose version differs from the image's
   (``$TRT_VERSION``): Triton could not load that plan.

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from yolo26_triton.contract import INPUT_SIZE, MAX_BATCH_SIZE
from yolo26_triton.export.errors import EngineError
from yolo26_triton.export.graphs import calibration_images, engine_input, fp16_graph
from yolo26_triton.export.int8_parity import INT8_MIN_AGREEMENT, checked_int8_graph
from yolo26_triton.export.io_check import expected_io, io_problems

log = logging.getLogger(__name__)

Precision = Literal["fp16", "int8", "fp32"]
ENGINE_SHAPE = (MAX_BATCH_SIZE, 3, INPUT_SIZE, INPUT_SIZE)
"""The optimization profile's opt and max shape (min: batch 1)."""
PROVENANCE_SUFFIX = ".plan.json"
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
            graph, quantize = checked_int8_graph(onnx_path, images, workdir, min_agreement), 8
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
