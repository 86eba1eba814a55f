"""Edits of model configurations on a COPY of a model repository (benchmarks and tuning only).

The configs are parsed as Triton ``ModelConfig`` protobufs (``tritonclient``'s copy of
``model_config.proto``) and written back in text format, so an edit cannot produce a config that
Triton would misread. Comments of the edited file are lost: never point these at ``model_repository/``.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from yolo26_triton.export.repository import read_config

ModelConfig = Any  # model_config_pb2.ModelConfig (generated, untyped)
CPU_MODELS = ("preprocess", "yolo26", "postprocess")


def config_path(repository: Path, model: str, profile: str = "cpu") -> Path:
    """The file Triton loads for ``model`` under ``profile`` (a model without ``configs/cpu.pbtxt``,
    such as the ensemble, uses its ``config.pbtxt`` in both)."""
    folder = repository / model
    cpu = folder / "configs" / "cpu.pbtxt"
    return cpu if profile == "cpu" and cpu.exists() else folder / "config.pbtxt"


def edit_config(path: Path, change: Callable[[ModelConfig], None]) -> None:
    """Applies ``change`` to the configuration in ``path`` and writes it back."""
    config = read_config(path)
    change(config)
    path.write_text(text_format.MessageToString(config))


def copy_repository(source: Path, target: Path) -> Path:
    """Copies a built repository (ONNX, DALI and metadata included), without ``__pycache__``."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def set_queue_delay(delay_us: int, preferred: tuple[int, ...] = ()) -> Callable[[ModelConfig], None]:
    """Dynamic batching with ``max_queue_delay_microseconds = delay_us`` and ``preferred_batch_size``."""

    def change(config: ModelConfig) -> None:
        config.dynamic_batching.max_queue_delay_microseconds = delay_us
        del config.dynamic_batching.preferred_batch_size[:]
        config.dynamic_batching.preferred_batch_size.extend(preferred)

    return change


def set_instances(count: int) -> Callable[[ModelConfig], None]:
    """``instance_group [ { count: count, kind: KIND_CPU } ]``."""

    def change(config: ModelConfig) -> None:
        del config.instance_group[:]
        group = config.instance_group.add()
        group.count = count
        group.kind = model_config_pb2.ModelInstanceGroup.KIND_CPU

    return change


def set_parameter(key: str, value: str) -> Callable[[ModelConfig], None]:
    """``parameters { key: key value: { string_value: value } }``."""

    def change(config: ModelConfig) -> None:
        config.parameters[key].string_value = value

    return change


def without_step(model: str, input_name: str) -> Callable[[ModelConfig], None]:
    """An ensemble without its ``model`` step: the next step reads the ensemble input ``input_name``
    instead of that step's output (to measure what one step costs; never for serving)."""

    def change(config: ModelConfig) -> None:
        steps = list(config.ensemble_scheduling.step)
        dropped = next(step for step in steps if step.model_name == model)
        replaced = set(dropped.output_map.values())
        kept = [step for step in steps if step.model_name != model]
        for step in kept:
            for key, value in step.input_map.items():
                if value in replaced:
                    step.input_map[key] = input_name
        del config.ensemble_scheduling.step[:]
        config.ensemble_scheduling.step.extend(kept)

    return change


def ultralytics_metadata(names: tuple[str, ...], image_size: int) -> dict[str, Any]:
    """The metadata Ultralytics' ``TritonRemoteModel`` reads from the ``metadata`` config parameter.

    Deliberately minimal: names, stride, input size, task, classic head. The ONNX file's full metadata
    holds ``args: {'dynamic': True}``, which makes Ultralytics letterbox to the smallest
    stride-multiple rectangle (e.g. 640x480), and the server's fixed ``[3, 640, 640]`` input then
    rejects the request.
    """
    return {
        "names": dict(enumerate(names)),
        "stride": 32,
        "imgsz": [image_size, image_size],
        "task": "detect",
        "end2end": False,
    }


def set_ultralytics_metadata(metadata: dict[str, Any]) -> Callable[[ModelConfig], None]:
    """The ``metadata`` parameter as Ultralytics reads it: ``ast.literal_eval`` of a dict literal."""
    text = repr(metadata)
    assert ast.literal_eval(text) == metadata
    return set_parameter("metadata", text)
