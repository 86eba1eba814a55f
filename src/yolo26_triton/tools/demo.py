"""``triton-detect demo``: the whole journey in one command.

Builds the model (if the repository does not hold it yet), starts the embedded server on free
loopback ports, sends sample JPEGs through ``detect_ensemble`` with the client, prints the
detections, writes annotated copies, and stops the server.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from yolo26_triton.export.builder import DEFAULT_WEIGHTS, build_repository
from yolo26_triton.serving.launcher import DEFAULT_REPOSITORY, EmbeddedServer, ServerOptions

log = logging.getLogger("triton-detect")

UNTRAINED_CONFIDENCE = 0.0
UNTRAINED_MAX_DETECTIONS = 5


def sample_images() -> list[Path]:
    """JPEGs that ship inside the Ultralytics package (no download)."""
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    return [assets / "bus.jpg", assets / "zidane.jpg"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the ``demo`` subcommand."""
    demo = subparsers.add_parser(
        "demo", help="build, serve, detect sample JPEGs, write annotated copies, stop"
    )
    demo.add_argument("images", nargs="*", type=Path, help="JPEG files (default: Ultralytics' sample images)")
    demo.add_argument(
        "--weights", default=DEFAULT_WEIGHTS, help="yolo26n.pt-style name, a local .pt, or a YAML"
    )
    demo.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY, help="model repository folder")
    demo.add_argument("--out", type=Path, default=Path("out"), help="folder for the annotated images")
    demo.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    demo.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Runs the demo; returns the exit code of the detect step."""
    from yolo26_triton.cli.main import main as cli_main

    built = build_repository(args.repository, args.weights)
    log.info(
        "model: %s (%s head)%s",
        built.metadata.source,
        built.metadata.head,
        ", UNTRAINED" if built.metadata.untrained else "",
    )
    options = ServerOptions.on_free_ports(
        repository=args.repository.resolve(), extra_args=("--exit-timeout-secs=5",)
    )
    server_log = args.out / "tritonserver.log"
    args.out.mkdir(parents=True, exist_ok=True)
    with server_log.open("w") as log_file, EmbeddedServer(options, log_file=log_file):
        log.info("server ready: HTTP %s, gRPC %s (log: %s)", options.http_url, options.grpc_url, server_log)
        url = options.grpc_url if args.protocol == "grpc" else options.http_url
        detect = [
            "detect",
            *map(str, args.images or sample_images()),
            "--protocol",
            args.protocol,
            "--url",
            url,
            "--annotate",
            str(args.out),
        ]
        if built.metadata.untrained:
            log.warning(
                "the model is UNTRAINED (no weights could be downloaded): showing its %d highest-scoring "
                "boxes at confidence %.1f to show the pipeline works; they mean nothing",
                UNTRAINED_MAX_DETECTIONS,
                UNTRAINED_CONFIDENCE,
            )
            detect += ["--conf", str(UNTRAINED_CONFIDENCE), "--max-det", str(UNTRAINED_MAX_DETECTIONS)]
        exit_code = cli_main(detect)
    log.info("annotated images in %s/; server stopped", args.out)
    return exit_code
