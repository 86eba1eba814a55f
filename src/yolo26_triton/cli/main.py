"""``triton-detect``: build the model, serve it, and talk to it.

Subcommands: ``build``, ``pin`` and ``serve`` here; ``demo`` (:mod:`yolo26_triton.tools.demo`);
``detect``, ``health``, ``stats`` and ``models`` are thin layers over the client
(:mod:`yolo26_triton.cli.client_commands`); ``perf`` runs perf_analyzer (:mod:`yolo26_triton.tools.perf`);
``compare`` checks the server against in-process Ultralytics (:mod:`yolo26_triton.tools.compare`).

The modules of the other subcommands are imported only when one of them (or the top-level help)
is asked for: ``build``, ``pin`` and ``serve`` import neither the client nor its libraries
(tritonclient, aiohttp, grpc), which the builder image does not hold
(``tests/unit/test_container_imports.py`` runs ``build`` with exactly that image's packages).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from yolo26_triton.export.builder import DEFAULT_WEIGHTS, BuildError, build_repository
from yolo26_triton.export.engine import INT8_MIN_AGREEMENT, EngineError, build_engine
from yolo26_triton.export.repository import (
    TEMPLATE_DETECTOR,
    TEMPLATE_ENTRY_POINT,
    built_versions,
    pin_entry_point,
)
from yolo26_triton.ops.metadata import METADATA_FILENAME, DetectorMetadata
from yolo26_triton.serving.launcher import (
    DEFAULT_DETECTOR_SLOTS,
    DEFAULT_REPOSITORY,
    EmbeddedServer,
    ServerError,
    ServerOptions,
    is_loopback,
)

log = logging.getLogger("triton-detect")

LOCAL_COMMANDS = frozenset({"build", "pin", "serve"})
"""Subcommands defined in this module; running one imports none of :data:`COMMAND_MODULES`."""
COMMAND_MODULES = (
    "yolo26_triton.tools.demo",
    "yolo26_triton.cli.client_commands",
    "yolo26_triton.tools.perf",
    "yolo26_triton.tools.compare",
)
"""Modules whose ``register(subparsers)`` adds the other subcommands."""
WATCHDOG_INTERVAL_S = 0.5
"""How often ``serve`` looks for a dead stub (a scan of /proc, a few milliseconds)."""
STUB_DEATH_STOP_S = 2.0
"""After a stub died, how long the server gets to exit on SIGTERM before SIGKILL: it cannot unload the
dead stub's model and would otherwise wait out its whole exit timeout."""
STOP_GRACE_S = 3.0
"""After SIGTERM, how much longer than its exit timeout the server gets before SIGKILL: ``serve`` stops
within a bounded time, as supervisors expect."""
EXIT_UNHEALTHY = 3
"""Exit code of ``serve`` when a model's stub process died (a supervisor should restart it)."""
EXPOSE_FLAG = "--expose-unpatched-server"
UNPATCHED_BUGS = (
    "the embedded tritonserver is Triton 2.51 (release 24.10), older than NVIDIA's fixes: one HTTP request "
    "with no key crashes it (a JSON input of shape [1, 2**62]; JSON nested 100000 deep; a chunked body of "
    "many small chunks, CVE-2025-23310/23311), gzip bodies inflate without limit, bodies of any size are "
    "read, and the Python backend's shared-memory chain (CVE-2025-23319/23320/23334) and later bulletins "
    "(e.g. CVE-2026-24173) are unfixed (docs/security.md)"
)
"""Known unfixed bugs of the embedded binary, named where a user opts in to exposing it."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``triton-detect`` console script."""
    arguments = sys.argv[1:] if argv is None else argv
    command = next((argument for argument in arguments if not argument.startswith("-")), None)
    parser = _parser(all_commands=command not in LOCAL_COMMANDS)
    args = parser.parse_args(arguments)
    logging.basicConfig(level=logging.INFO, format="triton-detect: %(message)s")
    try:
        exit_code: int = args.func(args)
    except (BuildError, EngineError, ServerError) as error:
        log.error("%s", error)
        return 1
    return exit_code


def _parser(*, all_commands: bool = True) -> argparse.ArgumentParser:
    """The command line; with ``all_commands=False`` only :data:`LOCAL_COMMANDS` are registered."""
    parser = argparse.ArgumentParser(
        prog="triton-detect",
        description="Build the YOLO26 model repository, serve it on Triton, and talk to it.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="export YOLO26 into the model repository")
    build.add_argument(
        "--weights", default=DEFAULT_WEIGHTS, help="yolo26n.pt-style name, a local .pt, or a YAML"
    )
    build.add_argument(
        "--model",
        default=TEMPLATE_DETECTOR,
        help="detector model: yolo26 (default, entry point detect_ensemble) or yolo26_NAME, a further "
        "entry point detect_NAME sharing preprocess and postprocess",
    )
    build.add_argument(
        "--version",
        default="1",
        help="version folder to build (default 1); other versions stay and are served side by side",
    )
    build.add_argument(
        "--head",
        choices=["classic", "nms_free"],
        default="classic",
        help="classic: NMS in postprocess (default export); nms_free: YOLO26's end-to-end head",
    )
    build.add_argument(
        "--force", action="store_true", help="export again even if the repository has this model"
    )
    build.add_argument(
        "--engine",
        action="store_true",
        help="also build <model>/<version>/model.plan (FP16, dynamic batch 1..16) with Ultralytics' "
        "onnx2engine where TensorRT and a GPU are; skipped when model.plan.json says it is up to date "
        "(same ONNX, TensorRT version and GPU)",
    )
    build.add_argument(
        "--int8",
        type=Path,
        metavar="CALIBRATION_DIR",
        help="build an INT8 plan instead, calibrated on the JPEGs in CALIBRATION_DIR (implies --engine); "
        "accepted only if it agrees with the FP32 model (report beside the plan)",
    )
    build.add_argument(
        "--int8-min-agreement",
        type=float,
        default=INT8_MIN_AGREEMENT,
        help=f"least agreement of the INT8 graph's boxes with FP32's (default {INT8_MIN_AGREEMENT})",
    )
    _add_repository(build)
    build.set_defaults(func=_build)

    pin = commands.add_parser(
        "pin",
        help="make an entry point serve one detector version, or the latest",
        description="Edits the entry point's detector step (model_version); the server sees it after a "
        "restart. Each version also has its own route, <entry point>_v<N>, whatever the pin.",
    )
    pin.add_argument("version", help="a built version number, or 'latest'")
    pin.add_argument(
        "--entry-point", default=TEMPLATE_ENTRY_POINT, help="the ensemble to pin (default: detect_ensemble)"
    )
    _add_repository(pin)
    pin.set_defaults(func=_pin)

    serve = commands.add_parser(
        "serve",
        help="run the server in the foreground until Ctrl-C/SIGTERM",
        description="The model-repository, shared-memory, logging and trace APIs need the header "
        "admin-key (gRPC: triton-grpc-protocol-admin-key) equal to $TRITON_ADMIN_KEY; without that "
        "variable they stay closed. Triton takes the key only on its command line, where every local user "
        "can read it: set it on a single-user host only (docs/security.md). Listens on loopback only unless "
        f"{EXPOSE_FLAG} is given.",
    )
    _add_repository(serve)
    _add_server_options(serve)
    serve.set_defaults(func=_serve)

    if all_commands:
        for name in COMMAND_MODULES:
            importlib.import_module(name).register(commands)
    return parser


def _add_repository(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help="model repository folder")


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=["cpu", "gpu"],
        default="cpu",
        help="cpu: embedded server, Python-backend stand-ins (default); gpu: DALI + TensorRT",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help=f"address to listen on (default: loopback only; another address needs {EXPOSE_FLAG})",
    )
    parser.add_argument(
        EXPOSE_FLAG,
        action="store_true",
        help=f"allow a non-loopback --host although {UNPATCHED_BUGS}; put the front of deploy/front in "
        "front of it, or serve the NGC image (docker compose) instead",
    )
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument(
        "--tritonserver",
        type=Path,
        help="a tritonserver binary with the DALI and TensorRT backends (the gpu profile needs one)",
    )
    parser.add_argument(
        "--detector-slots",
        type=_slots,
        metavar="N",
        help="detector executions at once, all detector models together (Triton's rate limiter; per GPU "
        f"on gpu); default {DEFAULT_DETECTOR_SLOTS['cpu']} on cpu, {DEFAULT_DETECTOR_SLOTS['gpu']} on gpu; "
        "0 turns the rate limiter off",
    )
    parser.add_argument(
        "--trace-url",
        metavar="URL",
        help="send Triton's OpenTelemetry spans to this OTLP/HTTP endpoint (e.g. "
        "http://localhost:4318/v1/traces): requests that carry a W3C traceparent are traced",
    )
    parser.add_argument(
        "--trace-rate",
        type=_slots,
        default=0,
        metavar="N",
        help="with --trace-url, also trace one in N requests without a traceparent (default 0: none)",
    )


def _slots(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def _build(args: argparse.Namespace) -> int:
    result = build_repository(
        args.repository,
        args.weights,
        model=args.model,
        version=args.version,
        head=args.head,
        force=args.force,
    )
    metadata = result.metadata
    state = "reused" if result.reused else "exported"
    log.info(
        "%s %s (%s head, %d classes) -> %s",
        state,
        metadata.source,
        metadata.head,
        len(metadata.names),
        result.onnx_path,
    )
    log.info(
        "%s serves %s (latest unless pinned); pinned routes: %s",
        result.entry_point,
        metadata.model,
        ", ".join(result.routes),
    )
    if metadata.untrained:
        log.warning("UNTRAINED model (%s): its boxes mean nothing", metadata.source)
    if args.engine or args.int8:
        plan = build_engine(
            result.onnx_path,
            precision="int8" if args.int8 else "fp16",
            calibration=args.int8,
            min_agreement=args.int8_min_agreement,
            force=args.force,
        )
        log.info("TensorRT engine -> %s", plan)
    else:
        log.info("TensorRT engine for the GPU profile: `triton-detect build --engine` where TensorRT is")
    return 0


def _pin(args: argparse.Namespace) -> int:
    version = None if args.version == "latest" else args.version
    try:
        detector = pin_entry_point(args.repository, args.entry_point, version)
    except ValueError as error:
        log.error("%s", error)
        return 2
    log.info(
        "%s now serves %s %s; restart the server to apply it",
        args.entry_point,
        detector,
        "(latest version)" if version is None else f"version {version}",
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.profile == "gpu" and args.tritonserver is None:
        raise ServerError(
            "the gpu profile needs Triton's DALI and TensorRT backends, which the embedded binary lacks: "
            "use `docker compose up` (NGC image) or pass --tritonserver"
        )
    if not is_loopback(args.host) and args.tritonserver is None:
        if not args.expose_unpatched_server:
            raise ServerError(
                f"refusing to listen on {args.host}: {UNPATCHED_BUGS}. Serve on loopback behind the front "
                f"(deploy/front), or pass {EXPOSE_FLAG} to accept this"
            )
        log.warning("listening on %s although %s", args.host, UNPATCHED_BUGS)
    if os.environ.get("TRITON_ADMIN_KEY"):
        log.warning(
            "the admin key is on tritonserver's command line, which every local user can read in "
            "/proc/<pid>/cmdline (Triton takes it nowhere else): use it on a single-user host only"
        )
    options = ServerOptions(
        repository=args.repository.resolve(),
        profile=args.profile,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        tritonserver=args.tritonserver,
        admin_key=os.environ.get("TRITON_ADMIN_KEY") or None,
        detector_slots=args.detector_slots,
        trace_url=args.trace_url,
        trace_rate=args.trace_rate,
    )
    server = EmbeddedServer(options)
    stopping = threading.Event()

    stop_deadline = [float("inf")]

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping the server", signal.Signals(signum).name)
        stopping.set()
        stop_deadline[0] = time.monotonic() + options.exit_timeout_s + STOP_GRACE_S
        server.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.start()
        stubs = server.python_stubs()
        log.info(
            "ready: HTTP %s, gRPC %s, metrics %s (profile %s, %s; %s%s)",
            options.http_url,
            options.grpc_url,
            options.metrics_url,
            options.profile,
            describe_detector(options.repository),
            describe_quota(options),
            f"; traces to {options.trace_url}" if options.trace_url else "",
        )
        exit_code = None
        while exit_code is None:
            exit_code = server.wait(timeout=WATCHDOG_INTERVAL_S)
            if exit_code is None and time.monotonic() > stop_deadline[0]:
                log.warning("the server outlived its exit timeout by %.0f s: killing it", STOP_GRACE_S)
                server.kill()
                exit_code = -signal.SIGKILL
            if exit_code is None and not stopping.is_set() and not stubs <= server.python_stubs():
                log.error(
                    "a Python-backend stub process died: Triton still reports READY but every request to "
                    "that model fails; stopping so that a supervisor restarts the server"
                )
                server.stop(timeout=STUB_DEATH_STOP_S)
                return EXIT_UNHEALTHY
    finally:
        server.close()
    return exit_status(exit_code, stop_requested=stopping.is_set())


def exit_status(server_exit_code: int, *, stop_requested: bool) -> int:
    """``serve``'s exit code for the server's: 0 for a stop that was asked for.

    After SIGTERM, Triton 2.51 exits with 1 when its exit timeout expired, which one idle keep-alive
    HTTP client is enough to cause, and ``serve`` kills it when it overruns that timeout by
    :data:`STOP_GRACE_S`: either way the stop was the one asked for.
    """
    if server_exit_code in (0, -signal.SIGTERM):
        return 0
    if stop_requested and server_exit_code in (1, -signal.SIGKILL):
        log.warning("Triton's exit timeout expired (open client connections or requests were cut)")
        return 0
    return server_exit_code


def describe_quota(options: ServerOptions) -> str:
    """One phrase on the detector quota the rate limiter enforces."""
    slots = options.detector_slot_count
    if slots == 0:
        return "rate limiter off: no detector quota"
    return f"at most {slots} detector executions at once{' per GPU' if options.profile == 'gpu' else ''}"


def describe_detector(repository: Path) -> str:
    """One phrase on each built detector version, loudly marking an untrained one."""
    phrases = []
    for model_folder in sorted(path.parent for path in repository.glob("*/config.pbtxt")):
        for version in built_versions(repository, model_folder.name):
            try:
                metadata = DetectorMetadata.read(model_folder / version / METADATA_FILENAME)
            except ValueError as error:
                phrases.append(str(error))
                continue
            marker = "UNTRAINED, boxes mean nothing" if metadata.untrained else "trained"
            phrases.append(f"{metadata.model} v{metadata.version} from {metadata.source}, {marker}")
    return "; ".join(phrases) or "detector not built: run `triton-detect build`"


if __name__ == "__main__":
    sys.exit(main())
