"""Copies of the built model repository with one CPU config changed through Triton's own settings."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tritonclient.grpc import model_config_pb2

from yolo26_triton.export.repository import edit_config

ConfigEdit = Callable[[model_config_pb2.ModelConfig], None]


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
