"""A 1 Gbit/s network link on one machine: server and clients in a private network namespace.

Loopback charges nothing for bytes, which hides what the ensemble saves: about 0.1 MB of JPEG per
image instead of 4.9 MB of FP32 tensor up and 2.8 MB of raw detections down for Ultralytics'
client. :func:`measure_over_link` re-runs this module inside ``unshare -n`` (root or
CAP_SYS_ADMIN; ``ip`` and ``tc`` from iproute2), where it brings ``lo`` up and shapes it like a
full-duplex link: an HTB qdisc with one class per direction, each at :data:`RATE` (traffic from the
server's ports is "down", everything else "up"), then serves the repository on 127.0.0.1 inside
the namespace and measures systems a and c. Before the server starts it measures the link
itself: one TCP stream each way at the same time (:func:`probe`).

Where the namespace cannot be made, :func:`namespace_problem` says why in one line and the
benchmark reports the link as skipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RATE = "1gbit"
RATE_BITS_PER_S = 1e9
BURST = "256kb"
"""Token-bucket burst of each direction: above the 64 KiB segments of loopback, small against
the 0.6 MB that pass in a millisecond at 1 Gbit/s."""
PROBE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LinkProbe:
    """What one TCP stream each way, at the same time, got through the shaped loopback."""

    up_gbit_s: float
    down_gbit_s: float


def namespace_problem() -> str | None:
    """None if a private network namespace with a shaped ``lo`` can be made here, else why not."""
    for tool in ("unshare", "ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found (util-linux / iproute2)"
    script = f"ip link set lo up && tc qdisc add dev lo root handle 1: htb default 20 && echo ok-{RATE}"
    try:
        completed = subprocess.run(
            ["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`unshare -n` failed: {error}"
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit {completed.returncode}"
        return f"`unshare -n` + tc failed (needs root or CAP_SYS_ADMIN): {last}"
    return None


def shaping_commands(down_ports: Sequence[int]) -> list[list[str]]:
    """``ip``/``tc`` commands that make ``lo`` a full-duplex link of :data:`RATE` each way.

    Packets whose source port is one of ``down_ports`` (the server's) take class 1:10 ("down");
    all others take the default class 1:20 ("up"). Both classes hang off the root, so each has the
    whole rate to itself.
    """
    commands = [
        ["ip", "link", "set", "lo", "up"],
        ["tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "20"],
    ]
    for classid in ("1:10", "1:20"):
        shape = ["rate", RATE, "ceil", RATE, "burst", BURST, "cburst", BURST]
        commands.append(
            ["tc", "class", "add", "dev", "lo", "parent", "1:", "classid", classid, "htb", *shape]
        )
    for port in down_ports:
        match = ["match", "ip", "sport", str(port), "0xffff", "flowid", "1:10"]
        commands.append(
            ["tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32", *match]
        )
    return commands


def shape_loopback(down_ports: Sequence[int]) -> None:
    """Runs :func:`shaping_commands` (inside the namespace).

    Raises:
        RuntimeError: If a command fails.
    """
    for command in shaping_commands(down_ports):
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {completed.stderr.strip()}")


def probe(port: int, size: int = PROBE_BYTES) -> LinkProbe:
    """Sends ``size`` bytes up (to ``port``) and down (from ``port``) at the same time over 127.0.0.1.

    ``port`` must be one of the "down" ports of :func:`shaping_commands`.
    """
    listener = socket.create_server(("127.0.0.1", port))
    chunk = bytes(1 << 20)
    seconds: dict[str, float] = {}

    def receive(connection: socket.socket, name: str) -> None:
        started, left = time.perf_counter(), size
        while left > 0:
            data = connection.recv(min(left, 1 << 20))
            if not data:
                break
            left -= len(data)
        seconds[name] = time.perf_counter() - started

    def send(connection: socket.socket) -> None:
        for _ in range(size // len(chunk)):
            connection.sendall(chunk)

    with listener, socket.create_connection(("127.0.0.1", port)) as client:
        server_side, _ = listener.accept()
        with server_side:
            threads = [
                threading.Thread(target=send, args=(client,)),  # up: client -> server port
                threading.Thread(target=receive, args=(server_side, "up")),
                threading.Thread(target=send, args=(server_side,)),  # down: from the server port
                threading.Thread(target=receive, args=(client, "down")),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    bits = size * 8 / 1e9
    return LinkProbe(up_gbit_s=bits / seconds["up"], down_gbit_s=bits / seconds["down"])


# ---------------------------------------------------------------------------------------- parent side


@dataclass(frozen=True)
class LinkRun:
    """The link part of a benchmark run: measurements (as dicts), the probe, or why it was skipped."""

    measurements: list[dict[str, Any]]
    probe: LinkProbe | None
    skipped: str | None


def measure_over_link(
    repository: Path,
    images: Sequence[Path],
    levels: Sequence[int],
    warmup_s: float,
    duration_s: float,
    workdir: Path,
) -> LinkRun:
    """Runs :func:`child_main` in a new network namespace and reads back what it measured."""
    problem = namespace_problem()
    if problem is not None:
        return LinkRun([], None, problem)
    out = workdir / "link.json"
    command = [
        "unshare",
        "-n",
        sys.executable,
        "-m",
        "benchmarks.link",
        "--repository",
        str(repository),
        "--concurrency",
        ",".join(str(level) for level in levels),
        "--warmup",
        f"{warmup_s:g}",
        "--duration",
        f"{duration_s:g}",
        "--out",
        str(out),
        "--images",
        *(str(path) for path in images),
    ]
    completed = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], check=False)
    if completed.returncode != 0 or not out.is_file():
        return LinkRun([], None, f"the run inside the namespace failed (exit {completed.returncode})")
    record = json.loads(out.read_text())
    return LinkRun(record["measurements"], LinkProbe(**record["probe"]), None)


# ---------------------------------------------------------------------------------------- child side


def child_main(argv: Sequence[str] | None = None) -> int:
    """Inside the namespace: shape ``lo``, probe it, serve the repository, measure a and c."""
    from yolo26_triton.serving.launcher import EmbeddedServer
    from yolo26_triton.serving.options import ServerOptions, free_port

    from .systems import measure_served

    parser = argparse.ArgumentParser(prog="python -m benchmarks.link")
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--concurrency", required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--images", type=Path, nargs="+", required=True)
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.concurrency.split(",")]
    images = [path.read_bytes() for path in args.images]

    options = ServerOptions.on_free_ports(repository=args.repository)
    probe_port = free_port()
    shape_loopback([options.http_port, options.grpc_port, options.metrics_port, probe_port])
    measured_link = probe(probe_port)
    print(
        f"link: {RATE} each way; measured {measured_link.up_gbit_s:.2f} Gbit/s up and "
        f"{measured_link.down_gbit_s:.2f} Gbit/s down at the same time",
        flush=True,
    )
    log_path = args.out.with_suffix(".tritonserver.log")
    with log_path.open("w") as log, EmbeddedServer(options, log_file=log) as server:
        measured, _ = measure_served(
            options, server.pid, ("triton", "ultralytics"), images, levels, args.warmup, args.duration
        )
    args.out.write_text(
        json.dumps({"measurements": [asdict(m) for m in measured], "probe": asdict(measured_link)}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
