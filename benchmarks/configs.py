"""Edits of model configurations on a COPY of a model repository (benchmarks and tuning only).

Each edit is a function of Triton's ``ModelConfig`` protobuf, applied with
:func:`yolo26_triton.export.repository.edit_config` to the file that
:func:`yolo26_triton.export.repository.config_path` names. Comments of the edited file are lost:
never point these at ``model_repository/``.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tritonclient.grpc import model_config_pb2

ModelConfig = Any  # model_config_pb2.ModelConfig (generated, untyped)
ConfigEdit = Callable[[ModelConfig], None]
CPU_MODELS = ("preprocess", "yolo26", "postprocess")


def copy_repository(source: Path, target: Path) -> Path:
    """Copies a built repository (ONNX, DALI and metadata included), without ``__pycache__``."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def set_queue_delay(delay_us: int, preferred: tuple[int, ...] = ()) -> ConfigEdit:
    """Dynamic batching with ``max_queue_delay_microseconds = delay_us`` and ``preferred_batch_size``."""

    def change(config: ModelConfig) -> None:
        config.dynamic_batching.max_queue_delay_microseconds = delay_us
        del config.dynamic_batching.preferred_batch_size[:]
        config.dynamic_batching.preferred_batch_size.extend(preferred)

    return change


def set_instances(count: int) -> ConfigEdit:
    """``instance_group [ { count: count, kind: KIND_CPU } ]``."""

    def change(config: ModelConfig) -> None:
        del config.instance_group[:]
        group = config.instance_group.add()
        group.count = count
        group.kind = model_config_pb2.ModelInstanceGroup.KIND_CPU

    return change


def set_parameter(key: str, value: str) -> ConfigEdit:
    """``parameters { key: key value: { string_value: value } }``."""

    def change(config: ModelConfig) -> None:
        config.parameters[key].string_value = value

    return change


def without_step(model: str, input_name: str) -> ConfigEdit:
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


def set_ultralytics_metadata(metadata: dict[str, Any]) -> ConfigEdit:
    """The ``metadata`` parameter as Ultralytics reads it: ``ast.literal_eval`` of a dict literal."""
    text = repr(metadata)
    assert ast.literal_eval(text) == metadata
    return set_parameter("metadata", text)


def detector_priority(priority: int) -> ConfigEdit:
    """The model instances' rate-limiter priority (a larger value: fewer chances)."""

    def change(config: ModelConfig) -> None:
        for group in config.instance_group:
            group.rate_limiter.priority = priority

    return change


def per_device_resource(config: ModelConfig) -> None:
    """The rate limiter's resources (the detector slots) per device instead of machine-wide."""
    for group in config.instance_group:
        for resource in group.rate_limiter.resources:
            setattr(resource, "global", False)  # `global` is a Python keyword


def queue_limit(size: int) -> ConfigEdit:
    """Refuses requests beyond ``size`` waiting in the model's queue."""

    def change(config: ModelConfig) -> None:
        config.dynamic_batching.default_queue_policy.max_queue_size = size

    return change
