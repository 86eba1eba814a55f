"""NVIDIA's ``perf_analyzer`` against a running server: the binary, its libraries, a sweep of real JPEGs.

``triton-detect perf-analyzer ARGS...`` runs the binary with any of its own flags
(:func:`run_perf_analyzer`); ``triton-detect perf`` is the sweep (:func:`sweep`).

The binary is the one the ``tritonclient==2.51.0`` wheel installs next to this interpreter
(``<venv>/bin/perf_analyzer``, the same release as the embedded server). It needs ``libb64.so.0d``
and ``libcudart.so.12``; the ``nvidia-pytriton`` wheel carries both under hash-renamed names, so
:func:`perf_analyzer_environment` links them under their plain names into a folder that goes on
the subprocess's ``LD_LIBRARY_PATH`` (no GPU is needed: the CUDA runtime is only loaded).

Input data: one ``--input-data`` JSON with one entry per JPEG (mixed sizes), each the file's bytes
as base64 with ``"shape": [bytes]``: for a ``UINT8 dims: [-1]`` input, perf_analyzer 2.51 sends
those bytes as the tensor (batch 1 adds the leading dimension). ``content`` (a list of integers)
works as well but is four times larger. Requests cycle through the entries.

Outputs in the sweep's folder: ``perf.csv`` (one row per protocol and concurrency: images/s, p50/p90/p95/p99
latency in ms, perf_analyzer's latency breakdown), ``perf.png`` (throughput and p50/p99 latency
against concurrency), and per protocol perf_analyzer's own CSV and log (the log has the
per-composing-model queue and compute times of the ensemble).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from yolo26_triton.contract import ENTRY_POINT, IMAGE
from yolo26_triton.serving.wheel import wheel_libraries
from yolo26_triton.tools.errors import PerfError, ToolInputError
from yolo26_triton.tools.perf.results import PerfRow, parse_perf_csv, plot_rows, write_rows

Protocol = Literal["grpc", "http"]
PROTOCOLS: tuple[Protocol, ...] = ("grpc", "http")
DEFAULT_CONCURRENCY = (1, 2, 4, 8)
DEFAULT_MODEL = ENTRY_POINT
INPUT_NAME = IMAGE
LIBRARY_PATTERNS = {"libb64.so.0d": "libb64-*.so.0d*", "libcudart.so.12": "libcudart-*.so.12*"}
"""Plain name perf_analyzer links against -> glob of the hash-renamed copy in ``nvidia_pytriton.libs``."""


def write_input_data(images: Sequence[bytes], path: Path, input_name: str = INPUT_NAME) -> Path:
    """Writes a perf_analyzer ``--input-data`` JSON: per image, its bytes as base64, its length as shape."""
    if not images or any(not image for image in images):
        raise ToolInputError("input data needs at least one image, and no empty one")
    data = [
        {input_name: {"b64": base64.b64encode(image).decode("ascii"), "shape": [len(image)]}}
        for image in images
    ]
    path.write_text(json.dumps({"data": data}))
    return path


def perf_analyzer_binary() -> Path:
    """``perf_analyzer`` next to this interpreter (tritonclient 2.51's wheel), else on ``PATH``.

    Raises:
        PerfError: If there is none.
    """
    beside = Path(sys.executable).parent / "perf_analyzer"
    if beside.is_file():
        return beside
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / "perf_analyzer"
        if folder and candidate.is_file():
            return candidate
    raise PerfError("perf_analyzer not found: pip install tritonclient==2.51.0 (its wheel carries it)")


def link_libraries(folder: Path, source: Path | None = None) -> Path:
    """Links ``libb64.so.0d`` and ``libcudart.so.12`` from ``source`` (the nvidia-pytriton wheel's
    ``nvidia_pytriton.libs``) under their plain names into ``folder``.

    Returns:
        ``folder``; a library not found in ``source`` is left out (the system may have it).
    """
    source = source if source is not None else wheel_libraries()
    folder.mkdir(parents=True, exist_ok=True)
    if source is None:
        return folder
    for plain, pattern in LIBRARY_PATTERNS.items():
        matches = sorted(source.glob(pattern))
        link = folder / plain
        if matches and not link.exists():
            link.symlink_to(matches[0])
    return folder


def perf_analyzer_environment(library_folder: Path) -> dict[str, str]:
    """This process's environment with ``library_folder`` first on ``LD_LIBRARY_PATH``."""
    environment = dict(os.environ)
    parts = [str(library_folder), environment.get("LD_LIBRARY_PATH", "")]
    environment["LD_LIBRARY_PATH"] = os.pathsep.join(part for part in parts if part)
    return environment


@dataclass(frozen=True)
class PerfSettings:
    """One perf_analyzer sweep.

    Attributes:
        url: ``host:port`` of the protocol's endpoint.
        protocol: ``grpc`` or ``http``.
        model: The model to load.
        concurrency: Concurrency levels, measured in this order.
        measurement_interval_ms: Length of one measurement window.
        stability_percentage: Allowed spread of the last three windows (perf_analyzer's ``-s``).
        max_trials: Windows per level before perf_analyzer gives up (``-r``).
    """

    url: str = "localhost:8001"
    protocol: Protocol = "grpc"
    model: str = DEFAULT_MODEL
    concurrency: tuple[int, ...] = DEFAULT_CONCURRENCY
    measurement_interval_ms: int = 5000
    stability_percentage: float = 25.0
    max_trials: int = 10


def warm_up(
    protocol: Protocol, url: str, model: str, images: Sequence[bytes], timeout_s: float = 120.0
) -> None:
    """Sends each image once (first requests of a fresh server load sessions and buffers).

    Raises:
        PerfError: If the server does not answer or rejects an image.
    """
    import numpy as np

    try:
        if protocol == "grpc":
            import tritonclient.grpc as triton
        else:
            import tritonclient.http as triton  # type: ignore[no-redef]
        client = triton.InferenceServerClient(url=url)
        try:
            for image in images:
                tensor = triton.InferInput(INPUT_NAME, [1, len(image)], "UINT8")
                tensor.set_data_from_numpy(np.frombuffer(image, dtype=np.uint8)[None])
                if protocol == "grpc":
                    client.infer(model, [tensor], client_timeout=timeout_s)
                else:
                    client.infer(model, [tensor])  # network_timeout: the client's 60 s default
        finally:
            client.close()
    except Exception as error:  # tritonclient raises its own and socket errors
        raise PerfError(f"{model} at {url} ({protocol}) did not answer a warm-up request: {error}") from error


def perf_analyzer_command(
    binary: Path, settings: PerfSettings, input_data: Path, report: Path, *, concurrency: int
) -> list[str]:
    """The perf_analyzer command line for one concurrency level."""
    return [
        str(binary),
        "-m",
        settings.model,
        "-u",
        settings.url,
        "-i",
        settings.protocol,
        "--input-data",
        str(input_data),
        "--concurrency-range",
        f"{concurrency}:{concurrency}",
        "--measurement-interval",
        str(settings.measurement_interval_ms),
        "--stability-percentage",
        f"{settings.stability_percentage:g}",
        "--max-trials",
        str(settings.max_trials),
        "-f",
        str(report),
    ]


def run_sweep(settings: PerfSettings, input_data: Path, out: Path, library_folder: Path) -> list[PerfRow]:
    """Runs perf_analyzer once per concurrency level and gathers the rows.

    One process per level (rather than one ``--concurrency-range``) so that a level that does not
    stabilize costs only itself. Reports and logs go to ``out``:
    ``perf_analyzer_<protocol>_c<N>.csv`` and ``perf_analyzer_<protocol>.log``.

    Raises:
        PerfError: If perf_analyzer fails at any level (its output's tail is in the message).
    """
    binary = perf_analyzer_binary()
    environment = perf_analyzer_environment(library_folder)
    rows: list[PerfRow] = []
    log_path = out / f"perf_analyzer_{settings.protocol}.log"
    with log_path.open("w") as log:
        for level in settings.concurrency:
            report = out / f"perf_analyzer_{settings.protocol}_c{level}.csv"
            command = perf_analyzer_command(binary, settings, input_data, report, concurrency=level)
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            completed = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
            log.write(completed.stdout + completed.stderr)
            log.flush()
            if completed.returncode != 0 or not report.is_file():
                tail = (completed.stdout + completed.stderr).strip().splitlines()[-5:]
                raise PerfError(
                    f"perf_analyzer failed ({settings.protocol}, concurrency {level}, "
                    f"exit {completed.returncode}): " + " | ".join(tail)
                )
            rows += parse_perf_csv(report.read_text(), settings.protocol)
    return rows


def run_perf_analyzer(arguments: Sequence[str]) -> int:
    """Runs NVIDIA's perf_analyzer (tritonclient 2.51's binary) with ``arguments``, its libraries
    found (:func:`link_libraries`); returns its exit code.

    Raises:
        PerfError: If there is no perf_analyzer binary.
    """
    binary = perf_analyzer_binary()
    with tempfile.TemporaryDirectory(prefix="perf-analyzer-libs-") as libraries:
        environment = perf_analyzer_environment(link_libraries(Path(libraries)))
        return subprocess.run([str(binary), *arguments], env=environment, check=False).returncode


def sweep(
    endpoints: Mapping[Protocol, str],
    images: Sequence[tuple[str, bytes]],
    out: Path,
    settings: PerfSettings,
    *,
    progress: Callable[[str], None] = print,
) -> tuple[list[PerfRow], Path, Path]:
    """Warms up, then measures each protocol's endpoint at each concurrency; writes ``perf.csv``,
    ``perf.png`` and perf_analyzer's own reports and logs into ``out``.

    Args:
        endpoints: ``host:port`` per protocol, measured in this order.
        images: ``(name, JPEG bytes)`` of the images to send, cycled through.
        out: Output folder (created).
        settings: The sweep's settings (``url`` and ``protocol`` are set per endpoint).
        progress: Receives one line per protocol and per measured level.

    Returns:
        ``(rows, csv_path, png_path)``.

    Raises:
        PerfError: A server did not answer the warm-up, or perf_analyzer failed.
    """
    out.mkdir(parents=True, exist_ok=True)
    input_data = write_input_data([image for _, image in images], out / "input_data.json")
    rows: list[PerfRow] = []
    with tempfile.TemporaryDirectory(prefix="perf-analyzer-libs-") as libraries:
        library_folder = link_libraries(Path(libraries))
        for protocol, url in endpoints.items():
            measured_settings = replace(settings, url=url, protocol=protocol)
            progress(
                f"perf: {protocol} {url} model {settings.model}, concurrency {list(settings.concurrency)}"
            )
            warm_up(protocol, url, settings.model, [image for _, image in images])
            measured = run_sweep(measured_settings, input_data, out, library_folder)
            for row in measured:
                progress(
                    f"  {row.protocol:4} c={row.concurrency:<3} {row.throughput:8.2f} img/s  "
                    f"p50 {row.p50_ms:8.1f} ms  p99 {row.p99_ms:8.1f} ms"
                )
            rows += measured
    sizes = ", ".join(f"{name} {len(image) // 1024} KiB" for name, image in images)
    csv_path = write_rows(rows, out / "perf.csv")
    png_path = plot_rows(rows, out / "perf.png", f"{settings.model}: perf_analyzer, real JPEGs ({sizes})")
    return rows, csv_path, png_path
