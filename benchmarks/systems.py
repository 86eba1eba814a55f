"""The three systems of :mod:`benchmarks.run`, each measured by the closed loop of :mod:`.harness`.

a. ``triton``: ``detect_ensemble`` on the embedded tritonserver (CPU profile), gRPC, the project's
   async client (:class:`~yolo26_triton.client.TritonClient`);
b. ``in-process``: the same decode + letterbox + onnxruntime + NMS in this process, same thread
   budget (:mod:`.baseline`);
c. ``ultralytics``: the path Ultralytics documents for Triton, ``YOLO("http://HOST:PORT/MODEL",
   task="detect")``, pre- and post-processing in the client, against the detector as an Ultralytics
   user serves it: the exported ONNX with its FP32 input (:data:`ULTRALYTICS_DETECTOR`, the same
   graph and the same instance/thread layout as ``yolo26``, whose input the build made UINT8).

Each measurement also reads CPU time at the window's edges: the client's (this process) and, for a
and c, the server's process tree (tritonserver and its Python-backend stubs).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from tritonclient.grpc import model_config_pb2

from yolo26_triton.client import TritonClient, TritonConfig
from yolo26_triton.export.image_input import float_input_copy
from yolo26_triton.export.repository import config_path, read_config, write_config
from yolo26_triton.ops.metadata import METADATA_FILENAME, DetectorMetadata
from yolo26_triton.serving.options import DEFAULT_REPOSITORY, ServerOptions
from yolo26_triton.tools.statistics import StepTimes, step_times

from .configs import copy_repository, set_ultralytics_metadata, ultralytics_metadata
from .harness import CLIENT, CpuClock, Measurement, process_tree_cpu_s, run_async, run_threads

ULTRALYTICS_DETECTOR = "ultralytics_yolo26"
"""c's model: ``yolo26``'s graph with its FP32 input back, served with ``yolo26``'s CPU config."""
SERVER = "server"
SYSTEMS = ("triton", "ultralytics", "in-process")


# ---------------------------------------------------------------------------------------- repository


def prepare_repository(source: Path | None, workdir: Path, *, ultralytics: bool = True) -> Path:
    """A served copy: ``source`` copied, or ``model_repository/`` copied and built with ``yolo26n.yaml``.

    With ``ultralytics``, the copy also serves :data:`ULTRALYTICS_DETECTOR` for system c.
    """
    repository = workdir / "model_repository"
    if source is not None:
        copy_repository(source, repository)
    else:
        from yolo26_triton.export.builder import build_repository
        from yolo26_triton.export.repository import copy_templates

        copy_templates(DEFAULT_REPOSITORY, repository)
        build_repository(repository, "yolo26n.yaml")
    if ultralytics:
        add_ultralytics_detector(repository)
    return repository


def add_ultralytics_detector(repository: Path) -> Path:
    """Adds :data:`ULTRALYTICS_DETECTOR`: what a user of Ultralytics' Triton client deploys.

    Ultralytics' client sends the letterboxed image as FP32 0..1 (it casts to whatever the config
    declares, so a UINT8 input would receive zeros and ones). The model is ``yolo26`` version 1 with
    the normalization the build prepended taken out again (the graph Ultralytics exported), the same
    adapter, and ``yolo26``'s CPU config with an FP32 input and the ``metadata`` parameter that the
    client reads (class names; :func:`benchmarks.configs.ultralytics_metadata`). Same instances,
    threads, batching and detector slots as ``yolo26``: only the input's type differs (and the
    warm-up request at load, one image instead of a full batch).

    Returns:
        The model's folder.
    """
    source = repository / "yolo26"
    target = repository / ULTRALYTICS_DETECTOR
    (target / "1").mkdir(parents=True, exist_ok=True)
    float_input_copy(source / "1" / "model.onnx", target / "1" / "model.onnx")
    shutil.copyfile(source / "1" / "model.py", target / "1" / "model.py")
    metadata = DetectorMetadata.read(source / "1" / METADATA_FILENAME)
    config = read_config(config_path(repository, "yolo26"))
    config.name = ULTRALYTICS_DETECTOR
    config.version_policy.latest.num_versions = 1
    fp32 = model_config_pb2.DataType.TYPE_FP32
    config.input[0].data_type = fp32
    for warmup in config.model_warmup:
        # One image, not yolo26's full batch: onnxruntime's arena then grows during the warm-up
        # window of each level instead of at load, and the server needs about 1 GB less memory.
        warmup.batch_size = 1
        for tensor in warmup.inputs.values():
            tensor.data_type = fp32
    set_ultralytics_metadata(ultralytics_metadata(metadata.names, metadata.input_size))(config)
    write_config(target / "configs" / "cpu.pbtxt", config, "benchmarks/systems.py")
    return target


def thread_budget(repository: Path) -> tuple[int, int]:
    """``(DALI threads, onnxruntime threads)`` the server's CPU configs use in all, for the baseline.

    onnxruntime threads are the most that yolo26's instances run at once: intra-op threads times
    instances, or the "alone" layout's threads if larger. The in-process baseline runs one session
    with that many threads.
    """
    dali = read_config(config_path(repository, "preprocess")).parameters["dali_num_threads"].string_value
    detector = read_config(config_path(repository, "yolo26"))
    instances = sum(group.count or 1 for group in detector.instance_group) or 1

    def threads(key: str) -> int:
        return int(detector.parameters[key].string_value) if key in detector.parameters else 0

    return int(dali), max(threads("intra_op_num_threads") * instances, threads("alone_intra_op_num_threads"))


# ---------------------------------------------------------------------------------------- statistics


@contextlib.asynccontextmanager
async def statistics_window(client: TritonClient, into: list[StepTimes]) -> AsyncIterator[None]:
    """Collects the :class:`StepTimes` of ``client``'s model and of its ensemble steps over the block
    (the client's :meth:`~yolo26_triton.client.TritonClient.statistics`, read before and after)."""
    before = await client.statistics(client.config.model)
    yield
    after = await client.statistics(client.config.model)
    into.extend(step_times(first, last) for first, last in zip(before, after, strict=True))


# ---------------------------------------------------------------------------------------- systems


def cpu_clocks(server_pid: int | None) -> dict[str, CpuClock]:
    """This process (the client) and, when given, the server's process tree."""
    import time

    clocks: dict[str, CpuClock] = {CLIENT: time.process_time}
    if server_pid is not None:
        clocks[SERVER] = lambda: process_tree_cpu_s(server_pid)
    return clocks


Progress = Callable[[Measurement], None]


def measure_triton(
    options: ServerOptions,
    images: Sequence[bytes],
    levels: Sequence[int],
    warmup_s: float,
    duration_s: float,
    *,
    server_pid: int | None = None,
    progress: Progress | None = None,
) -> tuple[list[Measurement], dict[int, list[StepTimes]]]:
    """System a: the ensemble over gRPC with the project's async client."""
    config = TritonConfig(
        url=options.grpc_url,
        protocol="grpc",
        timeout_s=120.0,
        max_retries=0,
        confidence_threshold=0.25,
        max_concurrency=max(levels),
    )
    results: list[Measurement] = []
    breakdown: dict[int, list[StepTimes]] = {}

    async def sweep() -> None:
        async with TritonClient(config) as client:
            for image in images:  # connect and warm every composing model once
                await client.detect(image)
            for level in levels:
                steps: list[StepTimes] = []
                async with statistics_window(client, steps):
                    results.append(
                        await run_async(
                            "triton",
                            client.detect,
                            images,
                            level,
                            warmup_s=warmup_s,
                            duration_s=duration_s,
                            cpu_clocks=cpu_clocks(server_pid),
                        )
                    )
                breakdown[level] = steps
                if progress:
                    progress(results[-1])

    asyncio.run(sweep())
    return results, breakdown


def measure_ultralytics(
    options: ServerOptions,
    images: Sequence[bytes],
    levels: Sequence[int],
    warmup_s: float,
    duration_s: float,
    *,
    server_pid: int | None = None,
    progress: Progress | None = None,
) -> list[Measurement]:
    """System c: Ultralytics' Triton client (HTTP) on :data:`ULTRALYTICS_DETECTOR`, one YOLO per thread.

    Each call decodes the JPEG bytes with OpenCV (as Ultralytics does for a file) and runs
    ``predict()``: letterbox, HTTP request with the float tensor, NMS, boxes scaled back.
    """
    import cv2
    import numpy as np
    from ultralytics import YOLO

    url = f"http://{options.http_url}/{ULTRALYTICS_DETECTOR}"

    def decode(image: bytes) -> Any:
        return cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_COLOR)

    def setup(_index: int) -> Any:
        # tritonclient.http's sync client runs on gevent, whose hub belongs to the creating thread:
        # each worker thread makes (and warms) its own YOLO object.
        model = YOLO(url, task="detect")
        model.predict(decode(images[0]), verbose=False)
        return model

    def call(model: Any, image: bytes) -> object:
        return model.predict(decode(image), verbose=False, conf=0.25)

    results = []
    for level in levels:
        results.append(
            run_threads(
                "ultralytics",
                call,
                images,
                level,
                warmup_s=warmup_s,
                duration_s=duration_s,
                setup=setup,
                cpu_clocks=cpu_clocks(server_pid),
            )
        )
        if progress:
            progress(results[-1])
    return results


def measure_served(
    options: ServerOptions,
    server_pid: int | None,
    systems: Sequence[str],
    images: Sequence[bytes],
    levels: Sequence[int],
    warmup_s: float,
    duration_s: float,
) -> tuple[list[Measurement], dict[int, list[StepTimes]]]:
    """Systems a and/or c (in the order of ``systems``) against one running server, printing each
    measurement; a's per-step statistics come back beside them."""
    measurements: list[Measurement] = []
    breakdown: dict[int, list[StepTimes]] = {}
    for system in systems:
        if system == "triton":
            measured, breakdown = measure_triton(
                options, images, levels, warmup_s, duration_s, server_pid=server_pid, progress=print_progress
            )
            measurements += measured
        elif system == "ultralytics":
            measurements += measure_ultralytics(
                options, images, levels, warmup_s, duration_s, server_pid=server_pid, progress=print_progress
            )
    return measurements, breakdown


def measure_in_process(
    repository: Path,
    images: Sequence[bytes],
    levels: Sequence[int],
    warmup_s: float,
    duration_s: float,
    threads: tuple[int, int],
    *,
    progress: Progress | None = None,
) -> list[Measurement]:
    """System b: the same math in this process (:class:`benchmarks.baseline.InProcessDetector`)."""
    from .baseline import InProcessDetector

    detector = InProcessDetector(
        repository / "yolo26" / "1" / "model.onnx", dali_threads=threads[0], onnx_threads=threads[1]
    )
    try:
        for image in images:
            detector.detect(image)
        results = []
        for level in levels:
            results.append(
                run_threads(
                    "in-process",
                    lambda _index, image: detector.detect(image),
                    images,
                    level,
                    warmup_s=warmup_s,
                    duration_s=duration_s,
                )
            )
            if progress:
                progress(results[-1])
        return results
    finally:
        detector.close()


def print_progress(measurement: Measurement) -> None:
    """One line per measurement, as it finishes."""
    client = measurement.cpu_ms_per_image(CLIENT)
    server = measurement.cpu_ms_per_image(SERVER)
    cpu = f"  CPU/img client {client:5.1f} ms" if client is not None else ""
    cpu += f" server {server:5.1f} ms" if server is not None else ""
    print(
        f"  {measurement.system:12} c={measurement.concurrency:<2} {measurement.throughput:7.2f} img/s  "
        f"p50 {measurement.p50_ms:7.1f} ms  p99 {measurement.p99_ms:7.1f} ms  "
        f"errors {measurement.errors}{cpu}",
        flush=True,
    )
