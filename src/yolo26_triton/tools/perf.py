"""``triton-detect perf``: Triton's own ``perf_analyzer`` against a running server, with real JPEGs.

``triton-detect perf-analyzer ARGS...`` runs the same binary with any of perf_analyzer's own flags
(:func:`run_perf_analyzer`); ``perf`` is a sweep built on it.

The binary is the one the ``tritonclient==2.51.0`` wheel installs next to this interpreter
(``<venv>/bin/perf_analyzer``, the same release as the embedded server). It needs ``libb64.so.0d``
and ``libcudart.so.12``; the ``nvidia-pytriton`` wheel carries both under hash-renamed names, so
:func:`perf_analyzer_environment` links them under their plain names into a folder that goes on
the subprocess's ``LD_LIBRARY_PATH`` (no GPU is needed: the CUDA runtime is only loaded).

Input data: one ``--input-data`` JSON with one entry per JPEG (mixed sizes), each the file's bytes
as base64 with ``"shape": [bytes]``: for a ``UINT8 dims: [-1]`` input, perf_analyzer 2.51 sends
those bytes as the tensor (batch 1 adds the leading dimension). ``content`` (a list of integers)
works as well but is four times larger. Requests cycle through the entries.

Outputs in ``--out``: ``perf.csv`` (one row per protocol and concurrency: images/s, p50/p90/p95/p99
latency in ms, perf_analyzer's latency breakdown), ``perf.png`` (throughput and p50/p99 latency
against concurrency), and per protocol perf_analyzer's own CSV and log (the log has the
per-composing-model queue and compute times of the ensemble).
"""

from __future__ import annotations

import argparse
import base64
import csv
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

Protocol = Literal["grpc", "http"]
PROTOCOLS: tuple[Protocol, ...] = ("grpc", "http")
DEFAULT_CONCURRENCY = (1, 2, 4, 8)
DEFAULT_MODEL = "detect_ensemble"
INPUT_NAME = "IMAGE"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
LIBRARY_PATTERNS = {"libb64.so.0d": "libb64-*.so.0d*", "libcudart.so.12": "libcudart-*.so.12*"}
"""Plain name perf_analyzer links against -> glob of the hash-renamed copy in ``nvidia_pytriton.libs``."""


class PerfError(RuntimeError):
    """perf_analyzer is missing, failed, or wrote no usable report."""


@dataclass(frozen=True)
class PerfRow:
    """One measurement of perf_analyzer: one protocol at one concurrency.

    Latencies are in milliseconds; ``throughput`` is inferences (= images) per second.
    The ``server_*`` and ``client_*`` columns are perf_analyzer's average breakdown of a request.
    """

    protocol: str
    concurrency: int
    throughput: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    client_send_ms: float
    network_server_ms: float
    server_queue_ms: float
    server_compute_input_ms: float
    server_compute_infer_ms: float
    server_compute_output_ms: float
    client_recv_ms: float


_CSV_COLUMNS_US = {
    "p50_ms": "p50 latency",
    "p90_ms": "p90 latency",
    "p95_ms": "p95 latency",
    "p99_ms": "p99 latency",
    "client_send_ms": "Client Send",
    "network_server_ms": "Network+Server Send/Recv",
    "server_queue_ms": "Server Queue",
    "server_compute_input_ms": "Server Compute Input",
    "server_compute_infer_ms": "Server Compute Infer",
    "server_compute_output_ms": "Server Compute Output",
    "client_recv_ms": "Client Recv",
}
"""Our field -> perf_analyzer 2.51's ``-f`` CSV column (values in microseconds)."""


def parse_perf_csv(text: str, protocol: str) -> list[PerfRow]:
    """Rows of a perf_analyzer ``-f`` report (``Concurrency,Inferences/Second,...,p99 latency``).

    Raises:
        PerfError: If a needed column is missing or the report has no rows.
    """
    reader = csv.DictReader(io.StringIO(text))
    needed = {"Concurrency", "Inferences/Second", *_CSV_COLUMNS_US.values()}
    missing = needed - set(reader.fieldnames or ())
    if missing:
        raise PerfError(f"perf_analyzer report lacks the columns {sorted(missing)}: {reader.fieldnames}")
    rows = [
        PerfRow(
            protocol=protocol,
            concurrency=int(record["Concurrency"]),
            throughput=float(record["Inferences/Second"]),
            **{field: float(record[column]) / 1000.0 for field, column in _CSV_COLUMNS_US.items()},
        )
        for record in reader
        if record.get("Concurrency", "").strip()
    ]
    if not rows:
        raise PerfError("perf_analyzer report has no measurements")
    return rows


def sample_images() -> list[Path]:
    """The real JPEGs that ship in installed packages: Ultralytics' bus and zidane, Matplotlib's
    grace_hopper (portrait, landscape, small). Found without importing the packages.

    Raises:
        PerfError: If none of the packages is installed.
    """
    candidates: list[Path] = []
    for package, relative in (
        ("ultralytics", ("assets/bus.jpg", "assets/zidane.jpg")),
        ("matplotlib", ("mpl-data/sample_data/grace_hopper.jpg",)),
    ):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        candidates += [root / name for name in relative]
    images = [path for path in candidates if path.is_file()]
    if not images:
        raise PerfError("no sample JPEGs found (ultralytics, matplotlib): pass --images FILE...")
    return images


def write_input_data(images: Sequence[bytes], path: Path, input_name: str = INPUT_NAME) -> Path:
    """Writes a perf_analyzer ``--input-data`` JSON: per image, its bytes as base64, its length as shape."""
    if not images or any(not image for image in images):
        raise PerfError("input data needs at least one image, and no empty one")
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


def _pytriton_libraries() -> Path | None:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))).resolve().parent / "nvidia_pytriton.libs"
    return folder if folder.is_dir() else None


def link_libraries(folder: Path, source: Path | None = None) -> Path:
    """Links ``libb64.so.0d`` and ``libcudart.so.12`` from ``source`` (the nvidia-pytriton wheel's
    ``nvidia_pytriton.libs``) under their plain names into ``folder``.

    Returns:
        ``folder``; a library not found in ``source`` is left out (the system may have it).
    """
    source = source if source is not None else _pytriton_libraries()
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

    url: str
    protocol: Protocol
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


def write_rows(rows: Iterable[PerfRow], path: Path) -> Path:
    """Writes ``rows`` as CSV with a header of :class:`PerfRow`'s field names."""
    names = [field.name for field in fields(PerfRow)]
    with path.open("w", newline="") as sink:
        writer = csv.writer(sink)
        writer.writerow(names)
        for row in rows:
            writer.writerow(
                [
                    f"{value:.3f}" if isinstance(value, float) else value
                    for value in (getattr(row, n) for n in names)
                ]
            )
    return path


def plot_rows(rows: Sequence[PerfRow], path: Path, title: str) -> Path:
    """Plots throughput and p50/p99 latency against concurrency, one line per protocol, to a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    throughput_axes, latency_axes = figure.subplots(1, 2)
    for protocol in dict.fromkeys(row.protocol for row in rows):
        mine = sorted((row for row in rows if row.protocol == protocol), key=lambda row: row.concurrency)
        levels = [row.concurrency for row in mine]
        throughput_axes.plot(levels, [row.throughput for row in mine], marker="o", label=protocol)
        latency_axes.plot(levels, [row.p50_ms for row in mine], marker="o", label=f"{protocol} p50")
        latency_axes.plot(
            levels, [row.p99_ms for row in mine], marker="^", linestyle="--", label=f"{protocol} p99"
        )
    throughput_axes.set(xlabel="concurrency", ylabel="images / s", title="throughput")
    latency_axes.set(xlabel="concurrency", ylabel="ms", title="latency")
    for axes in (throughput_axes, latency_axes):
        axes.set_xscale("log", base=2)
        axes.set_xticks(sorted({row.concurrency for row in rows}))
        axes.get_xaxis().set_major_formatter("{x:.0f}")
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
    return path


def parse_concurrency(text: str) -> tuple[int, ...]:
    """``"1,2,4,8"`` -> ``(1, 2, 4, 8)``; each level an integer >= 1."""
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return levels


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


def _perf_analyzer(args: argparse.Namespace) -> int:
    """NVIDIA's perf_analyzer with any of its own flags, e.g. ``triton-detect perf-analyzer -m
    detect_ensemble -u 127.0.0.1:8001 -i grpc --input-data perf-results/input_data.json
    --concurrency-range 1:8:2`` (``-h``: its own help). Exit code: perf_analyzer's; 1 without it."""
    arguments = list(args.arguments)
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    try:
        return run_perf_analyzer(arguments)
    except PerfError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the ``perf`` and ``perf-analyzer`` subcommands."""
    # Every argument after the command goes to perf_analyzer unread: the parser takes no "-" options.
    analyzer = subparsers.add_parser(
        "perf-analyzer",
        prefix_chars="+",
        add_help=False,
        help="NVIDIA's perf_analyzer with any of its own flags (its libraries found for it)",
        description=_perf_analyzer.__doc__,
    )
    analyzer.add_argument("arguments", nargs=argparse.REMAINDER, help="perf_analyzer's flags")
    analyzer.set_defaults(func=_perf_analyzer)

    perf = subparsers.add_parser(
        "perf",
        help="perf_analyzer sweep against a running server, real JPEGs: CSV + PNG",
        description=run.__doc__,
    )
    perf.add_argument(
        "--protocol", choices=("grpc", "http", "both"), default="both", help="default: both, gRPC first"
    )
    perf.add_argument(
        "--url",
        help="host:port of the chosen protocol (with both: of gRPC); default TRITON_URL / TRITON_HTTP_URL "
        "or localhost:8001 / localhost:8000",
    )
    perf.add_argument("--http-url", help="with --protocol both: host:port of HTTP")
    perf.add_argument(
        "--concurrency",
        type=parse_concurrency,
        default=DEFAULT_CONCURRENCY,
        help="comma-separated levels (default: 1,2,4,8)",
    )
    perf.add_argument(
        "--measurement-interval-ms", type=int, default=5000, help="one measurement window (default: 5000)"
    )
    perf.add_argument(
        "--stability-percentage",
        type=float,
        default=25.0,
        help="allowed spread of three windows (perf_analyzer -s; default 25, loose for small CPU hosts)",
    )
    perf.add_argument("--max-trials", type=int, default=10, help="windows per level before giving up")
    perf.add_argument("--out", type=Path, default=Path("perf-results"), help="output folder (created)")
    perf.add_argument("--model", default=DEFAULT_MODEL, help="model taking JPEG bytes as IMAGE")
    perf.add_argument(
        "--images", type=Path, nargs="+", help="JPEG files to send (default: the sample JPEGs in packages)"
    )
    perf.set_defaults(func=run)


def _endpoints(args: argparse.Namespace, environ: dict[str, str]) -> dict[Protocol, str]:
    grpc_url = environ.get("TRITON_URL", "").strip() or "localhost:8001"
    http_url = environ.get("TRITON_HTTP_URL", "").strip() or "localhost:8000"
    if args.protocol == "grpc":
        return {"grpc": args.url or grpc_url}
    if args.protocol == "http":
        return {"http": args.url or args.http_url or http_url}
    return {"grpc": args.url or grpc_url, "http": args.http_url or http_url}


def run(args: argparse.Namespace) -> int:
    """Measure detect_ensemble with Triton's perf_analyzer, sending real JPEGs of mixed sizes over
    gRPC and/or HTTP at each concurrency level; write perf.csv and perf.png into --out.
    Exit codes: 0 done, 1 perf_analyzer failed, 2 bad arguments or files."""
    if args.measurement_interval_ms < 100 or args.max_trials < 1:
        print("error: --measurement-interval-ms must be >= 100 and --max-trials >= 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        paths = list(args.images) if args.images else sample_images()
        images = [path.read_bytes() for path in paths]
    except (OSError, PerfError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    try:
        input_data = write_input_data(images, out / "input_data.json")
    except PerfError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    rows: list[PerfRow] = []
    with tempfile.TemporaryDirectory(prefix="perf-analyzer-libs-") as libraries:
        library_folder = link_libraries(Path(libraries))
        for protocol, url in _endpoints(args, dict(os.environ)).items():
            settings = PerfSettings(
                url=url,
                protocol=protocol,
                model=args.model,
                concurrency=tuple(args.concurrency),
                measurement_interval_ms=args.measurement_interval_ms,
                stability_percentage=args.stability_percentage,
                max_trials=args.max_trials,
            )
            print(f"perf: {protocol} {url} model {args.model}, concurrency {list(settings.concurrency)}")
            try:
                warm_up(protocol, url, args.model, images)
                measured = run_sweep(settings, input_data, out, library_folder)
            except PerfError as error:
                print(f"error: {error}", file=sys.stderr)
                return EXIT_FAILED
            for row in measured:
                print(
                    f"  {row.protocol:4} c={row.concurrency:<3} {row.throughput:8.2f} img/s  "
                    f"p50 {row.p50_ms:8.1f} ms  p99 {row.p99_ms:8.1f} ms"
                )
            rows += measured
    csv_path = write_rows(rows, out / "perf.csv")
    sizes = ", ".join(
        f"{path.name} {len(image) // 1024} KiB" for path, image in zip(paths, images, strict=True)
    )
    png_path = plot_rows(rows, out / "perf.png", f"{args.model}: perf_analyzer, real JPEGs ({sizes})")
    print(f"perf: wrote {csv_path} and {png_path}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """``python -m yolo26_triton.tools.perf ...``: the ``perf`` subcommand on its own."""
    parser = argparse.ArgumentParser(prog="triton-detect")
    register(parser.add_subparsers(required=True, metavar="COMMAND"))
    args = parser.parse_args(["perf", *(sys.argv[1:] if argv is None else argv)])
    exit_code: int = args.func(args)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
