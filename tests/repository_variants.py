"""Copies of the built model repository with one CPU config changed through Triton's own settings."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

ConfigEdit = Callable[[model_config_pb2.ModelConfig], None]


def edit_config(path: Path, edit: ConfigEdit) -> None:
    """Applies ``edit`` to the model config at ``path`` (``config.pbtxt`` or ``configs/cpu.pbtxt``)."""
    config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
    edit(config)
    path.write_text(text_format.MessageToString(config))


def repository_variant(repository: Path, destination: Path, model: str, edit: ConfigEdit) -> Path:
    """Copies ``repository`` to ``destination`` and applies ``edit`` to ``model``'s CPU config."""
    shutil.copytree(repository, destination)
    edit_config(destination / model / "configs" / "cpu.pbtxt", edit)
    return destination


def hold_in_queue(seconds: float, max_queue_size: int | None = None) -> ConfigEdit:
    """Makes the dynamic batcher wait up to ``seconds`` for a batch of 16 that lone requests never fill."""

    def edit(config: model_config_pb2.ModelConfig) -> None:
        config.dynamic_batching.max_queue_delay_microseconds = int(seconds * 1e6)
        config.dynamic_batching.preferred_batch_size[:] = [16]
        if max_queue_size is not None:
            config.dynamic_batching.default_queue_policy.max_queue_size = max_queue_size

    return edit


def queue_limit(max_queue_size: int) -> ConfigEdit:
    """Refuses requests beyond ``max_queue_size`` waiting in the model's queue."""

    def edit(config: model_config_pb2.ModelConfig) -> None:
        config.dynamic_batching.default_queue_policy.max_queue_size = max_queue_size

    return edit


END2END_DETECTOR = "yolo26_end2end"
END2END_ENSEMBLE = "detect_end2end"


def add_end2end_entry_point(repository: Path) -> None:
    """Adds a second detector model and its ensemble to a built ``repository``, in place.

    A stand-in for the builder's function (being written): ``yolo26_end2end`` is a copy of
    ``yolo26`` (both config files with the name changed, the version folder copied, so the same
    ONNX rather than the NMS-free export), and ``detect_end2end`` a copy of ``detect_ensemble`` whose
    detector step names it; ``validate``, ``preprocess`` and ``postprocess`` are shared. The copy
    keeps ``yolo26``'s instance groups, rate limiter and queue policy, as the builder's will.
    """

    def rename(name: str) -> ConfigEdit:
        def edit(config: model_config_pb2.ModelConfig) -> None:
            config.name = name

        return edit

    def use_end2end_detector(config: model_config_pb2.ModelConfig) -> None:
        config.name = END2END_ENSEMBLE
        for step in config.ensemble_scheduling.step:
            if step.model_name == "yolo26":
                step.model_name = END2END_DETECTOR

    detector = repository / END2END_DETECTOR
    shutil.copytree(repository / "yolo26", detector, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (detector / "config.pbtxt", detector / "configs" / "cpu.pbtxt"):
        edit_config(path, rename(END2END_DETECTOR))
    ensemble = repository / END2END_ENSEMBLE
    shutil.copytree(repository / "detect_ensemble", ensemble)
    edit_config(ensemble / "config.pbtxt", use_end2end_detector)
