"""``triton-detect build``: fill the model repository from Ultralytics weights or a YAML.

From ``yolo26n.pt`` (Ultralytics downloads it where there is a network), a local ``.pt``, or a
``yolo26{n,s,m}.yaml`` (untrained), the build of detector ``<model>`` (``yolo26`` by default)
version ``<version>`` (``1`` by default; other versions stay as they are):

1. creates the model and its entry point from the templates if it is a new detector model
   (:mod:`yolo26_triton.export.repository`);
2. exports the ONNX model with a dynamic batch to ``<model>/<version>/model.onnx``, makes its input
   UINT8 with the normalization inside the graph (:mod:`yolo26_triton.export.image_input`) and adds the
   ``output_detector_id`` output that names this model version in every answer;
3. writes ``<model>/<version>/metadata.json`` with the class names read back from the exported
   model's own metadata (and whether the model is untrained);
4. writes one pinned route per built version (``detect_ensemble_v<N>``);
5. removes a ``preprocess/1/model.dali`` left by older builds: the DALI backend now serializes
   ``preprocess/1/dali.py`` itself, with its own DALI, when the model loads.

``--engine`` then builds ``model.plan`` where TensorRT and a GPU are (:mod:`yolo26_triton.export.engine`).

When weights cannot be downloaded it says so in one line and builds the untrained model of the
same size, marked so that every later result says its boxes are meaningless.
"""

from __future__ import annotations

import ast
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo26_triton.contract import DEFAULT_WEIGHTS, DETECTOR_ID_OUTPUT, INPUT_SIZE, MAX_BATCH_SIZE
from yolo26_triton.export.errors import BuildError
from yolo26_triton.export.image_input import add_uint8_input, takes_uint8_images
from yolo26_triton.export.repository import (
    CONFIG_FILES,
    TEMPLATE_DETECTOR,
    add_detector_model,
    check_detector_name,
    check_version,
    entry_point_name,
    prepare_version_folder,
    read_config,
    write_routes,
)
from yolo26_triton.ops.detections import Head
from yolo26_triton.ops.metadata import METADATA_FILENAME, DetectorMetadata

log = logging.getLogger(__name__)

_WEIGHTS_NAME = re.compile(r"^(yolo26[nsmlx])\.pt$")
_DETECTOR_ID_VALUE = f"{DETECTOR_ID_OUTPUT}/value"
"""The ONNX initializer that holds the detector id (read back by :func:`detector_id_in_onnx`)."""
STALE_PIPELINE = Path("preprocess") / "1" / "model.dali"
"""A serialized pipeline from older builds: the DALI backend would load it instead of ``dali.py``."""


@dataclass(frozen=True)
class BuildResult:
    """What the build produced."""

    onnx_path: Path
    metadata: DetectorMetadata
    reused: bool
    entry_point: str
    routes: tuple[str, ...]


def build_repository(
    repository: Path,
    weights: str = DEFAULT_WEIGHTS,
    *,
    model: str = TEMPLATE_DETECTOR,
    head: Head = "classic",
    version: str = "1",
    force: bool = False,
) -> BuildResult:
    """Exports ``weights`` into ``repository`` as ``model`` version ``version`` (see the module docstring).

    Args:
        repository: The model repository folder (holding ``yolo26/``, ``preprocess/``...).
        weights: ``yolo26n.pt``-style name, path to a local ``.pt``, or a ``yolo26*.yaml``.
        model: The detector model: ``yolo26``, or ``yolo26_<name>`` for another entry point.
        head: ``classic`` (the default export, NMS in postprocess) or ``nms_free``.
        version: Triton version folder of the detector.
        force: Export again even when the repository already holds this model.

    Raises:
        BuildError: If the weights are neither a known name, a local file nor a YAML, or the model
            name or version is invalid.
    """
    try:
        check_detector_name(model)
        version = check_version(version)
    except ValueError as error:
        raise BuildError(str(error)) from None
    if not (repository / TEMPLATE_DETECTOR / "config.pbtxt").is_file():
        raise BuildError(
            f"{repository} is not a model repository (no {TEMPLATE_DETECTOR}/config.pbtxt): start from the "
            f"project's templates (cp -r model_repository {repository}), or pass --repository with one"
        )
    add_detector_model(repository, model)
    detector_dir = prepare_version_folder(repository, model, version)
    onnx_path = detector_dir / "model.onnx"
    metadata_path = detector_dir / METADATA_FILENAME
    remove_stale_pipeline(repository)
    existing = _existing_metadata(metadata_path) if onnx_path.exists() and not force else None
    if (
        existing
        and existing.head == head
        and existing.source in (weights, _fallback_yaml(weights))
        and detector_id_in_onnx(onnx_path) == existing.detector_id
        and takes_uint8_images(onnx_path)
    ):
        log.info("%s already holds %s (%s head); pass --force to export again", onnx_path, weights, head)
        return _result(repository, onnx_path, existing, reused=True)

    yolo, source, untrained = load_model(weights)
    _export_onnx(yolo, onnx_path, head)
    add_uint8_input(onnx_path)
    metadata = DetectorMetadata(
        model=model,
        version=version,
        source=source,
        untrained=untrained,
        head=head,
        input_size=INPUT_SIZE,
        names=names_from_onnx(onnx_path),
    )
    add_detector_id_output(onnx_path, metadata.detector_id)
    check_against_configs(onnx_path)
    metadata.write(metadata_path)
    return _result(repository, onnx_path, metadata, reused=False)


def _result(repository: Path, onnx_path: Path, metadata: DetectorMetadata, *, reused: bool) -> BuildResult:
    return BuildResult(
        onnx_path=onnx_path,
        metadata=metadata,
        reused=reused,
        entry_point=entry_point_name(metadata.model),
        routes=tuple(write_routes(repository, metadata.model)),
    )


def load_model(weights: str):  # type: ignore[no-untyped-def]
    """Loads an Ultralytics YOLO model; falls back to the untrained YAML when weights can't be had.

    Returns:
        ``(model, source, untrained)``.
    """
    from ultralytics import YOLO

    if weights.endswith((".yaml", ".yml")):
        return untrained_model(weights), weights, True
    if Path(weights).is_file():
        return YOLO(weights), weights, False
    if not _WEIGHTS_NAME.match(weights):
        raise BuildError(f"weights {weights!r}: no such file, and not an Ultralytics name like yolo26n.pt")
    try:
        return YOLO(weights), weights, False
    except OSError as error:  # ConnectionError offline, or a failed/partial download
        fallback = _fallback_yaml(weights)
        log.warning(
            "cannot download %s (%s): building the UNTRAINED %s instead; every result will say its boxes "
            "come from an untrained model",
            weights,
            str(error).splitlines()[0][:120] if str(error) else type(error).__name__,
            fallback,
        )
        return untrained_model(fallback), fallback, True


def untrained_model(yaml_name: str):  # type: ignore[no-untyped-def]
    """An untrained model from Ultralytics' YAML, named with the COCO classes it is laid out for.

    The names come from the ``coco.yaml`` that ships inside the Ultralytics package, so the
    exported metadata carries real names rather than ``'0'..'79'``.
    """
    import ultralytics
    import yaml
    from ultralytics import YOLO

    model = YOLO(yaml_name)
    coco = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg" / "datasets" / "coco.yaml").read_text())
    if len(coco["names"]) == len(model.names):
        model.model.names = dict(coco["names"])
    return model


def _fallback_yaml(weights: str) -> str:
    match = _WEIGHTS_NAME.match(Path(weights).name)
    return f"{match.group(1)}.yaml" if match else "yolo26n.yaml"


def _export_onnx(model, onnx_path: Path, head: Head) -> None:  # type: ignore[no-untyped-def]
    """Exports with a dynamic batch; ``nms=False`` selects YOLO26's NMS-free head.

    Ultralytics writes the ONNX beside the weights (the working folder for a YAML); it is then
    moved into the repository.
    """
    exported = model.export(
        format="onnx",
        imgsz=INPUT_SIZE,
        dynamic=True,
        batch=MAX_BATCH_SIZE,
        simplify=True,
        nms=False if head == "nms_free" else None,
        device="cpu",
    )
    shutil.move(str(exported), onnx_path)


def add_detector_id_output(onnx_path: Path, identifier: int) -> None:
    """Adds the output ``output_detector_id``: ``identifier`` as INT32 ``[batch, 1]``, one row per image.

    Built from the input's batch dimension (``Shape`` -> ``Concat`` -> ``Expand`` of a constant), so
    onnxruntime and a TensorRT engine built from the file both return it beside ``output0``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    prefix = DETECTOR_ID_OUTPUT
    batch = graph.output[0].type.tensor_type.shape.dim[0].dim_param or "batch"
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([1], np.int64), f"{prefix}/columns"),
            numpy_helper.from_array(np.array([[identifier]], np.int32), _DETECTOR_ID_VALUE),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Shape", [graph.input[0].name], [f"{prefix}/batch"], start=0, end=1),
            helper.make_node("Concat", [f"{prefix}/batch", f"{prefix}/columns"], [f"{prefix}/shape"], axis=0),
            helper.make_node("Expand", [_DETECTOR_ID_VALUE, f"{prefix}/shape"], [DETECTOR_ID_OUTPUT]),
        ]
    )
    graph.output.append(helper.make_tensor_value_info(DETECTOR_ID_OUTPUT, TensorProto.INT32, [batch, 1]))
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))


def detector_id_in_onnx(onnx_path: Path) -> int | None:
    """The identifier :func:`add_detector_id_output` put into the file, or None if it has none."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    value = next(
        (numpy_helper.to_array(tensor) for tensor in graph.initializer if tensor.name == _DETECTOR_ID_VALUE),
        None,
    )
    return None if value is None else int(value.ravel()[0])


def names_from_onnx(onnx_path: Path) -> tuple[str, ...]:
    """Class names from the ``names`` entry Ultralytics writes into the ONNX metadata."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    properties = {entry.key: entry.value for entry in model.metadata_props}
    if "names" not in properties:
        raise BuildError(f"{onnx_path} has no 'names' metadata: was it exported by Ultralytics?")
    names = ast.literal_eval(properties["names"])
    return tuple(str(names[index]) for index in sorted(names))


def check_against_configs(onnx_path: Path) -> None:
    """Checks the exported graph's inputs and outputs against both profiles' detector configs.

    Raises:
        BuildError: A name, data type or dimension differs
            (:func:`yolo26_triton.export.io_check.io_problems`).
    """
    from yolo26_triton.export.io_check import config_io, io_problems

    model_folder = onnx_path.parents[1]
    for config_file in CONFIG_FILES:
        problems = io_problems(onnx_path, config_io(read_config(model_folder / config_file)))
        if problems:
            raise BuildError(
                f"{onnx_path} does not fit {model_folder.name}/{config_file}: {'; '.join(problems)}"
            )


def remove_stale_pipeline(repository: Path) -> None:
    """Deletes :data:`STALE_PIPELINE`: serialized by another DALI than the backend's, it would shadow
    ``dali.py`` (the backend loads ``model.dali`` first)."""
    stale = repository / STALE_PIPELINE
    if stale.exists():
        stale.unlink()
        log.info("removed %s: the DALI backend serializes preprocess/1/dali.py itself", stale)


def _existing_metadata(path: Path) -> DetectorMetadata | None:
    try:
        return DetectorMetadata.read(path)
    except (FileNotFoundError, ValueError):
        return None
