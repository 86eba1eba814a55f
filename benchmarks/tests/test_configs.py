"""The config edits of :mod:`benchmarks.configs`, on copies of the shipped configs."""

from __future__ import annotations

from pathlib import Path

from benchmarks.configs import (
    detector_priority,
    per_device_resource,
    queue_limit,
    set_instances,
    set_parameter,
    set_queue_delay,
    set_ultralytics_metadata,
    ultralytics_metadata,
    without_step,
)
from yolo26_triton.export.repository import config_path, edit_config, read_config
from yolo26_triton.serving.options import DEFAULT_REPOSITORY


def test_config_edits_on_a_copy_parse_back_as_model_configs(tmp_path: Path) -> None:
    path = tmp_path / "cpu.pbtxt"
    path.write_text(config_path(DEFAULT_REPOSITORY, "yolo26").read_text())
    edit_config(path, set_queue_delay(500, (4, 8)))
    edit_config(path, set_instances(2))
    edit_config(path, set_parameter("intra_op_num_threads", "1"))
    edit_config(path, set_ultralytics_metadata(ultralytics_metadata(("person", "bus"), 640)))
    config = read_config(path)
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.instance_group[0].count == 2
    assert config.parameters["intra_op_num_threads"].string_value == "1"
    assert "0: 'person'" in config.parameters["metadata"].string_value
    assert "dynamic" not in config.parameters["metadata"].string_value


def test_an_ensemble_copy_can_leave_a_step_out(tmp_path: Path) -> None:
    path = tmp_path / "config.pbtxt"
    path.write_text(config_path(DEFAULT_REPOSITORY, "detect_ensemble").read_text())
    edit_config(path, without_step("validate", "IMAGE"))
    steps = read_config(path).ensemble_scheduling.step
    assert [step.model_name for step in steps] == ["preprocess", "yolo26", "postprocess"]
    assert dict(steps[0].input_map) == {"IMAGE": "IMAGE"}  # preprocess now reads the ensemble input


def test_quota_edits_set_priority_queue_size_and_device_scope(tmp_path: Path) -> None:
    path = tmp_path / "cpu.pbtxt"
    path.write_text(config_path(DEFAULT_REPOSITORY, "yolo26").read_text())
    shipped = read_config(path)
    assert getattr(shipped.instance_group[0].rate_limiter.resources[0], "global")  # machine-wide as shipped
    edit_config(path, detector_priority(4000))
    edit_config(path, queue_limit(4))
    edit_config(path, per_device_resource)
    config = read_config(path)
    assert [group.rate_limiter.priority for group in config.instance_group] == [4000] * len(
        shipped.instance_group
    )
    assert config.dynamic_batching.default_queue_policy.max_queue_size == 4
    resources = [resource for group in config.instance_group for resource in group.rate_limiter.resources]
    assert resources and not any(getattr(resource, "global") for resource in resources)
