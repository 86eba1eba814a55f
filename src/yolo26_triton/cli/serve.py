"""``triton-detect serve``: the embedded server in the foreground, watched (:mod:`yolo26_triton.serving`).

The watchdog stops the server when a Python-backend stub dies (Triton 2.51 keeps such a model READY
while every request to it fails) and exits :attr:`~yolo26_triton.cli.app.ExitCode.UNHEALTHY`, so
that a supervisor restarts it; a stop that was asked for (SIGTERM, Ctrl-C) exits 0 within a bounded
time even when idle clients hold connections open.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from yolo26_triton.cli.app import Command, ExitCode, UsageError, log
from yolo26_triton.cli.arguments import add_repository, non_negative_integer
from yolo26_triton.contract import ADMIN_KEY_HEADER, GRPC_ADMIN_KEY_HEADER
from yolo26_triton.export.repository import built_versions
from yolo26_triton.ops.metadata import METADATA_FILENAME, DetectorMetadata
from yolo26_triton.serving.isolation import is_loopback
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import DEFAULT_DETECTOR_SLOTS, ServerOptions

WATCHDOG_INTERVAL_S = 0.5
"""How often ``serve`` looks for a dead stub (a scan of /proc, a few milliseconds)."""
STUB_DEATH_STOP_S = 2.0
"""After a stub died, how long the server gets to exit on SIGTERM before SIGKILL: it cannot unload the
dead stub's model and would otherwise wait out its whole exit timeout."""
STOP_GRACE_S = 3.0
"""After SIGTERM, how much longer than its exit timeout the server gets before SIGKILL: ``serve`` stops
within a bounded time, as supervisors expect."""
EXPOSE_FLAG = "--expose-unpatched-server"
UNPATCHED_BUGS = (
    "the embedded tritonserver is Triton 2.51 (release 24.10), older than NVIDIA's fixes: one HTTP request "
    "with no key crashes it (a JSON input of shape [1, 2**62]; JSON nested 100000 deep; a chunked body of "
    "many small chunks, CVE-2025-23310/23311), gzip bodies inflate without limit, bodies of any size are "
    "read, and the Python backend's shared-memory chain (CVE-2025-23319/23320/23334) and later bulletins "
    "(e.g. CVE-2026-24173) are unfixed (docs/security.md)"
)
"""Known unfixed bugs of the embedded binary, named where a user opts in to exposing it."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``serve``'s arguments."""
    add_repository(parser)
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
        type=non_negative_integer,
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
        type=non_negative_integer,
        default=0,
        metavar="N",
        help="with --trace-url, also trace one in N requests without a traceparent (default 0: none)",
    )


def options_from(args: argparse.Namespace) -> ServerOptions:
    """The launcher's options for ``serve``'s arguments, after the checks that refuse a risky setting.

    Raises:
        UsageError: The gpu profile without an NGC binary, or a non-loopback host without the opt-in.
    """
    if args.profile == "gpu" and args.tritonserver is None:
        raise UsageError(
            "the gpu profile needs Triton's DALI and TensorRT backends, which the embedded binary lacks: "
            "use `docker compose up` (NGC image) or pass --tritonserver"
        )
    if not is_loopback(args.host) and args.tritonserver is None:
        if not args.expose_unpatched_server:
            raise UsageError(
                f"refusing to listen on {args.host}: {UNPATCHED_BUGS}. Serve on loopback behind the front "
                f"(deploy/front), or pass {EXPOSE_FLAG} to accept this"
            )
        log.warning("listening on %s although %s", args.host, UNPATCHED_BUGS)
    if os.environ.get("TRITON_ADMIN_KEY"):
        log.warning(
            "the admin key is on tritonserver's command line, which every local user can read in "
            "/proc/<pid>/cmdline (Triton takes it nowhere else): use it on a single-user host only"
        )
    return ServerOptions(
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


def serve(args: argparse.Namespace) -> ExitCode | int:
    """Runs the server until SIGTERM/Ctrl-C, or until a stub dies (exit 3)."""
    options = options_from(args)
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
            exit_code = server.wait(timeout_s=WATCHDOG_INTERVAL_S)
            if exit_code is None and time.monotonic() > stop_deadline[0]:
                log.warning("the server outlived its exit timeout by %.0f s: killing it", STOP_GRACE_S)
                server.kill()
                exit_code = -signal.SIGKILL
            if exit_code is None and not stopping.is_set() and not stubs <= server.python_stubs():
                log.error(
                    "a Python-backend stub process died: Triton still reports READY but every request to "
                    "that model fails; stopping so that a supervisor restarts the server"
                )
                server.stop(timeout_s=STUB_DEATH_STOP_S)
                return ExitCode.UNHEALTHY
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
        return ExitCode.OK
    if stop_requested and server_exit_code in (1, -signal.SIGKILL):
        log.warning("Triton's exit timeout expired (open client connections or requests were cut)")
        return ExitCode.OK
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


COMMANDS = (
    Command(
        "serve",
        "run the server in the foreground until Ctrl-C/SIGTERM",
        add_arguments,
        serve,
        description="The model-repository, shared-memory, logging and trace APIs need the header "
        f"{ADMIN_KEY_HEADER} (gRPC: {GRPC_ADMIN_KEY_HEADER}) equal to $TRITON_ADMIN_KEY; without that "
        "variable they stay closed. Triton takes the key only on its command line, where every local user "
        "can read it: set it on a single-user host only (docs/security.md). Listens on loopback only unless "
        f"{EXPOSE_FLAG} is given. Exit codes: 0 stopped as asked, 1 the server failed, 2 a refused setting, "
        "3 a Python-backend stub died.",
    ),
)
