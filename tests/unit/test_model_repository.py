"""The model repository's configs: they parse, both profiles agree, the ensemble wires real tensors."""

from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2

from yolo26_triton import contract
from yolo26_triton.export.repository import is_generated, read_config
from yolo26_triton.ops.dali_pipeline import INPUT_NAME, OUTPUT_NAMES
from yolo26_triton.serving.options import DEFAULT_DETECTOR_SLOTS, DETECTOR_RESOURCE

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
ENSEMBLE = contract.ENTRY_POINT
COMPOSING = ("preprocess", "yolo26", "postprocess")
"""Models with a configuration per profile."""
SHARED = ("validate",)
"""Models with one configuration (CPU, Python) that both profiles load."""

DataType = model_config_pb2.DataType
KIND_CPU = model_config_pb2.ModelInstanceGroup.Kind.KIND_CPU
KIND_GPU = model_config_pb2.ModelInstanceGroup.Kind.KIND_GPU


GPU_CONFIGS = sorted(path for path in REPOSITORY.glob("*/config.pbtxt") if not is_generated(path))
CPU_CONFIGS = sorted(path for path in REPOSITORY.glob("*/configs/cpu.pbtxt") if not is_generated(path))


def gpu(name: str) -> model_config_pb2.ModelConfig:
    return read_config(REPOSITORY / name / "config.pbtxt")


def cpu(name: str) -> model_config_pb2.ModelConfig:
    """The configuration --model-config-name=cpu loads: configs/cpu.pbtxt, else config.pbtxt."""
    override = REPOSITORY / name / "configs" / "cpu.pbtxt"
    return read_config(override if override.exists() else REPOSITORY / name / "config.pbtxt")


def tensors(tensor_list) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    return {
        tensor.name: (tensor.data_type, list(tensor.dims), getattr(tensor, "allow_ragged_batch", False))
        for tensor in tensor_list
    }


def test_repository_holds_the_expected_models() -> None:
    assert {path.parent.name for path in GPU_CONFIGS} == {ENSEMBLE, *COMPOSING, *SHARED}
    assert {path.parents[1].name for path in CPU_CONFIGS} == set(COMPOSING)


@pytest.mark.parametrize(
    "path", GPU_CONFIGS + CPU_CONFIGS, ids=lambda path: str(path.relative_to(REPOSITORY))
)
def test_config_parses_and_is_named_after_its_folder(path: Path) -> None:
    config = read_config(path)
    folder = path.parent.name if path.name == "config.pbtxt" else path.parents[1].name
    assert config.name == folder
    assert config.max_batch_size > 0
    assert len(config.input) > 0 and len(config.output) > 0


@pytest.mark.parametrize("name", COMPOSING)
def test_gpu_and_cpu_profiles_have_the_same_tensors(name: str) -> None:
    gpu_config, cpu_config = gpu(name), cpu(name)
    assert tensors(gpu_config.input) == tensors(cpu_config.input)
    assert tensors(gpu_config.output) == tensors(cpu_config.output)
    assert [tensor.name for tensor in gpu_config.input] == [tensor.name for tensor in cpu_config.input]
    assert [tensor.name for tensor in gpu_config.output] == [tensor.name for tensor in cpu_config.output]
    assert gpu_config.max_batch_size == cpu_config.max_batch_size


def test_gpu_profile_backends() -> None:
    assert gpu("preprocess").backend == "dali"
    assert gpu("yolo26").platform == "tensorrt_plan"
    postprocess = gpu("postprocess")
    assert postprocess.backend == "python"
    assert [group.kind for group in postprocess.instance_group] == [KIND_GPU]
    assert postprocess.parameters["FORCE_CPU_ONLY_INPUT_TENSORS"].string_value == "no"
    for name in COMPOSING:
        assert all(group.kind == KIND_GPU for group in gpu(name).instance_group), name


@pytest.mark.parametrize("name", COMPOSING)
def test_cpu_profile_is_python_on_cpu(name: str) -> None:
    config = cpu(name)
    assert config.backend == "python"
    assert config.platform == ""
    assert len(config.instance_group) > 0
    assert all(group.kind == KIND_CPU for group in config.instance_group)
    assert "FORCE_CPU_ONLY_INPUT_TENSORS" not in config.parameters
    assert (REPOSITORY / name / "1" / "model.py").is_file()


def test_dali_pipeline_tensor_names_match_the_preprocess_config() -> None:
    """The DALI backend feeds the external source by name and returns the outputs in order."""
    for config in (gpu("preprocess"), cpu("preprocess")):
        assert [tensor.name for tensor in config.input] == [INPUT_NAME]
        assert tuple(tensor.name for tensor in config.output) == OUTPUT_NAMES


def test_preprocess_image_allows_ragged_batches() -> None:
    for config in (gpu("preprocess"), cpu("preprocess")):
        (image,) = config.input
        assert image.name == contract.IMAGE
        assert image.allow_ragged_batch


def test_model_parameters_the_model_py_files_read() -> None:
    for config in (gpu("postprocess"), cpu("postprocess")):
        assert config.parameters["image_size"].string_value == "640"
    assert int(cpu("preprocess").parameters["dali_num_threads"].string_value) >= 1
    assert cpu("preprocess").parameters["image_size"].string_value == "640"
    assert int(cpu("yolo26").parameters["intra_op_num_threads"].string_value) >= 1
    (images,) = gpu("preprocess").output[:1]
    assert list(images.dims) == [3, 640, 640]


def dims_compatible(produced: list[int], consumed: list[int]) -> bool:
    return len(produced) == len(consumed) and all(
        a == b or a == -1 or b == -1 for a, b in zip(produced, consumed, strict=True)
    )


@pytest.mark.parametrize("profile", [gpu, cpu], ids=["gpu", "cpu"])
def test_ensemble_steps_wire_existing_tensors(profile) -> None:  # type: ignore[no-untyped-def]
    ensemble = gpu(ENSEMBLE)
    # Tensors available to the steps: name -> (data_type, dims), starting with the ensemble inputs.
    available = {tensor.name: (tensor.data_type, list(tensor.dims)) for tensor in ensemble.input}
    steps = ensemble.ensemble_scheduling.step
    assert [step.model_name for step in steps] == [*SHARED, *COMPOSING]
    for step in steps:
        assert (REPOSITORY / step.model_name / "config.pbtxt").is_file(), step.model_name
        model = profile(step.model_name)
        inputs = {tensor.name: (tensor.data_type, list(tensor.dims)) for tensor in model.input}
        outputs = {tensor.name: (tensor.data_type, list(tensor.dims)) for tensor in model.output}
        assert set(step.input_map) == set(inputs), step.model_name  # every input fed, no unknown key
        assert set(step.output_map) <= set(outputs), step.model_name
        for model_input, ensemble_tensor in step.input_map.items():
            assert ensemble_tensor in available, (step.model_name, ensemble_tensor)
            produced_type, produced_dims = available[ensemble_tensor]
            assert produced_type == inputs[model_input][0], (step.model_name, model_input)
            assert dims_compatible(produced_dims, inputs[model_input][1]), (step.model_name, model_input)
        for model_output, ensemble_tensor in step.output_map.items():
            assert ensemble_tensor not in available, f"{ensemble_tensor} produced twice"
            available[ensemble_tensor] = outputs[model_output]
    for tensor in ensemble.output:
        assert tensor.name in available, tensor.name
        produced_type, produced_dims = available[tensor.name]
        assert produced_type == tensor.data_type, tensor.name
        assert dims_compatible(produced_dims, list(tensor.dims)), tensor.name


def wire_type(data_type: int) -> str:
    """A config's data type as the wire (and :mod:`yolo26_triton.contract`) names it."""
    name = DataType.Name(data_type).removeprefix("TYPE_")
    return "BYTES" if name == "STRING" else name


def test_ensemble_public_contract() -> None:
    ensemble = gpu(ENSEMBLE)
    assert ensemble.name == contract.ENTRY_POINT and ensemble.platform == "ensemble"
    assert ensemble.max_batch_size == contract.MAX_BATCH_SIZE
    assert {tensor.name: wire_type(tensor.data_type) for tensor in ensemble.input} == contract.ENSEMBLE_INPUTS
    assert [(tensor.name, wire_type(tensor.data_type)) for tensor in ensemble.output] == list(
        contract.ENSEMBLE_OUTPUTS.items()
    )
    assert tensors(ensemble.input) == {contract.IMAGE: (DataType.TYPE_UINT8, [-1], False)}
    shapes = {tensor.name: list(tensor.dims) for tensor in ensemble.output}
    assert shapes == {
        contract.BOXES: [-1, 4],
        contract.SCORES: [-1],
        contract.CLASS_IDS: [-1],
        contract.CLASS_NAMES: [-1],
        contract.MODEL_INFO: [1],
    }


@pytest.mark.parametrize("profile", [gpu, cpu], ids=["gpu", "cpu"])
def test_every_step_uses_the_contracts_tensor_names(profile) -> None:  # type: ignore[no-untyped-def]
    """The configs write the names again (Triton reads them); they are :mod:`yolo26_triton.contract`'s."""
    names = {
        step: (
            [tensor.name for tensor in profile(step).input],
            [tensor.name for tensor in profile(step).output],
        )
        for step in (*SHARED, *COMPOSING)
    }
    assert names == {
        "validate": ([contract.IMAGE], [contract.CHECKED_IMAGE]),
        "preprocess": ([contract.IMAGE], [contract.IMAGES, contract.ORIGINAL_SIZE]),
        "yolo26": ([contract.DETECTOR_INPUT], [contract.DETECTIONS_OUTPUT, contract.DETECTOR_ID_OUTPUT]),
        "postprocess": (
            [contract.DETECTIONS_OUTPUT, contract.ORIGINAL_SIZE, contract.DETECTOR_ID_OUTPUT],
            list(contract.ENSEMBLE_OUTPUTS),
        ),
    }
    assert list(profile("yolo26").input[0].dims) == [3, contract.INPUT_SIZE, contract.INPUT_SIZE]
    assert profile("postprocess").parameters["image_size"].string_value == str(contract.INPUT_SIZE)


def test_ensemble_batching() -> None:
    ensemble = gpu(ENSEMBLE)
    assert not ensemble.HasField("dynamic_batching")
    assert ensemble.max_batch_size > 0
    for name in (*SHARED, *COMPOSING):
        for config in (gpu(name), cpu(name)):
            assert ensemble.max_batch_size <= config.max_batch_size, name
            assert config.HasField("dynamic_batching"), name
            policy = config.dynamic_batching.default_queue_policy
            assert 0 < policy.max_queue_size <= 64, name  # overload is refused, not queued forever
            assert policy.default_timeout_microseconds > 0, name


@pytest.mark.parametrize("profile", [gpu, cpu], ids=["gpu", "cpu"])
def test_detector_instances_hold_a_quota_slot(profile) -> None:  # type: ignore[no-untyped-def]
    """Every detector execution holds one ``detector_slots`` (machine-wide on the CPU, per GPU);
    the steps that hold none schedule first (a larger priority means fewer chances)."""
    detector = profile("yolo26")
    for group in detector.instance_group:
        (resource,) = group.rate_limiter.resources
        assert (resource.name, resource.count) == (DETECTOR_RESOURCE, 1)
        assert getattr(resource, "global") == (profile is cpu)
        assert group.rate_limiter.priority > 1
    cpu_slots = DEFAULT_DETECTOR_SLOTS["cpu"]
    if profile is cpu:  # all instances of one detector model fit the default slots
        assert sum(group.count for group in detector.instance_group) == cpu_slots
    for name in ("validate", "preprocess", "postprocess"):
        assert all(not group.HasField("rate_limiter") for group in profile(name).instance_group), name


def test_validate_runs_on_the_cpu_in_both_profiles() -> None:
    validate = gpu("validate")
    assert cpu("validate") == validate  # no configs/cpu.pbtxt: the CPU profile falls back to it
    assert validate.backend == "python"
    assert [group.kind for group in validate.instance_group] == [KIND_CPU]
    assert validate.input[0].allow_ragged_batch
    assert int(validate.parameters["max_image_pixels"].string_value) < 20000 * 20000
