"""An ONNX graph's inputs and outputs against the model configs: names, data types, dimensions.

The build runs :func:`io_problems` on every graph it writes (``model.onnx``) and on every graph it
hands to TensorRT, so a graph that no longer matches ``yolo26/config.pbtxt`` or
``configs/cpu.pbtxt`` fails the build instead of the server's load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
