"""``triton-detect serve`` as a user runs it (a subprocess on free ports, its output in a file), and a
crash of one of a server's stub processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from yolo26_triton.serving.isolation import child_processes
from yolo26_triton.serving.options import free_port
from yolo26_triton.serving.wheel import STUB_NAME

READY_MARK = "triton-detect: ready:"
TRITON_DETECT = [sys.executable, "-m", "yolo26_triton.cli"]
"""``triton-detect`` of this environment."""


@dataclass
class ServeProcess:
    """A running ``triton-detect serve`` and where its output goes."""

    process: subprocess.Popen[bytes]
    output: Path
    grpc_port: int
    http_port: int

    def ready_line(self, timeout: float = 120.0) -> str:
        """Waits for the ready line and returns it; fails if the command exits first."""
        deadline = time.monotonic() + timeout
        while READY_MARK not in self.output.read_text():
            assert self.process.poll() is None, self.output.read_text()
            assert time.monotonic() < deadline, "no ready line"
            time.sleep(0.2)
        return next(line for line in self.output.read_text().splitlines() if READY_MARK in line)

    def tritonserver(self) -> int:
        """PID of the ``tritonserver`` that the command launched."""
        (pid,) = child_processes(self.process.pid, command_part="tritonserver")
        return pid

    def kill(self) -> None:
        """Kills the command if it still runs (test cleanup)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_serve(repository: Path, output: Path) -> ServeProcess:
    """Starts ``triton-detect serve`` on three free loopback ports."""
    http, grpc, metrics = (free_port() for _ in range(3))
    command = [
        *TRITON_DETECT,
        "serve",
        "--repository",
        str(repository),
        f"--http-port={http}",
        f"--grpc-port={grpc}",
        f"--metrics-port={metrics}",
    ]
    with output.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    return ServeProcess(process=process, output=output, grpc_port=grpc, http_port=http)


def kill_stub(server_pid: int, model: str) -> None:
    """SIGKILLs one stub process of ``model`` (the first instance), as a crash would."""
    stubs = [
        pid
        for pid in child_processes(server_pid, command_part=STUB_NAME)
        if f"/{model}/" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]
    os.kill(min(stubs), signal.SIGKILL)
