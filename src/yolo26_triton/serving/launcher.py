"""The embedded server: the real ``tritonserver`` binary carried by the ``nvidia-pytriton`` wheel.

Nothing of PyTriton is used but its files: Triton 2.51's ``tritonserver``, ``libtritonserver.so``,
the Python backend and its stubs. :class:`EmbeddedServer` lays out a backend folder with the stub
that matches this interpreter, puts this environment's ``bin/`` first on ``PATH`` (the stub's
embedded Python finds this environment's site-packages through it; it ignores ``PYTHONPATH``)
and the interpreter's ``LIBDIR`` first on ``LD_LIBRARY_PATH``, then launches the binary with the
hardened flags below.

Profiles: ``cpu`` loads each model's ``configs/cpu.pbtxt`` (``--model-config-name=cpu``); ``gpu``
loads the ``config.pbtxt`` files, which need Triton's DALI and TensorRT backends: a
``tritonserver`` from the NGC image (``--tritonserver``), not this wheel's.

The folder ``serving/``, in the order its modules depend on each other::

    errors.py     LaunchError, the serving layer's one error (the command line: exit code 1)
    options.py    ServerOptions: ports, profile, rate limiter (quotas), tracing, exit timeout
    isolation.py  the restricted-API key, the private /dev/shm, loopback checks, the server's processes
    wheel.py      where the nvidia-pytriton wheel keeps tritonserver, the Python backend, its stubs
    trace.py      reading the trace files Triton writes (quota tests and benchmarks)
    launcher.py   EmbeddedServer: lays those out, launches, waits until ready, stops
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import IO, Self

from yolo26_triton.contract import ADMIN_KEY_HEADER
from yolo26_triton.serving.errors import LaunchError
from yolo26_triton.serving.isolation import (
    RESTRICTED_APIS,
    SERVER_UMASK,
    SHM_FOLDER,
    UNSENDABLE_GRPC_KEY_HEADER,
    child_processes,
    private_shm_prefix,
    processes_naming,
    unusable_admin_key,
)
from yolo26_triton.serving.options import ServerOptions
from yolo26_triton.serving.wheel import STUB_NAME, WheelLayout

STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}
"""glibc settings for the server and its stubs: large blocks (image tensors, batches) are mmapped and
given back when freed, in few arenas. With glibc's adaptive threshold the resident memory of a
30 s soak grew by 678 MiB; with these, by 43 MiB at the same throughput (scripts/soak.py)."""


class EmbeddedServer:
    """A ``tritonserver`` process for the CPU (or, with an NGC binary, GPU) profile.

    Use as a context manager: the server is ready on entry and stopped on exit.
    """

    def __init__(self, options: ServerOptions, *, log_file: IO[str] | None = None) -> None:
        self.options = options
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        # The wheel's files, looked up once; None when an external tritonserver is used.
        self._wheel = WheelLayout.find() if options.tritonserver is None else None
        self._backends = tempfile.TemporaryDirectory(prefix="yolo26-triton-backends-")
        self._admin_key = options.admin_key or unusable_admin_key()
        self._grpc_key_header = ADMIN_KEY_HEADER if options.admin_key else UNSENDABLE_GRPC_KEY_HEADER
        self.region_prefix = f"yolo26_triton_{secrets.token_hex(8)}_"
        """Prefix of this server's Python-backend shared-memory regions."""
        self._private_shm: list[str] | None = None

    def command(self) -> list[str]:
        """The ``tritonserver`` command line."""
        options = self.options
        binary = self._wheel.tritonserver if self._wheel else options.tritonserver
        command = [
            str(binary),
            f"--model-repository={options.repository.resolve()}",
            f"--http-address={options.host}",
            f"--http-port={options.http_port}",
            f"--grpc-address={options.host}",
            f"--grpc-port={options.grpc_port}",
            f"--metrics-address={options.host}",
            f"--metrics-port={options.metrics_port}",
            "--model-control-mode=none",
            "--strict-readiness=true",
            "--exit-on-error=true",
            "--log-verbose=0",
            f"--exit-timeout-secs={options.exit_timeout_s}",
            f"--backend-config=python,shm-region-prefix-name={self.region_prefix}",
            f"--http-restricted-api={RESTRICTED_APIS}:{ADMIN_KEY_HEADER}={self._admin_key}",
            f"--grpc-restricted-protocol={RESTRICTED_APIS}:{self._grpc_key_header}={self._admin_key}",
            # p50/p99 latency per model for the dashboards (nv_inference_request_summary_us).
            "--metrics-config=summary_latencies=true",
            *options.rate_limit_args,
            *options.trace_args,
        ]
        if self._wheel:
            command.append(f"--backend-directory={self._backends.name}")
        if options.profile == "cpu":
            command += [
                "--model-config-name=cpu",
                "--allow-gpu-metrics=false",
                "--pinned-memory-pool-byte-size=0",
                "--cuda-memory-pool-byte-size=0:0",
            ]
        return command + list(options.extra_args)

    def environment(self) -> dict[str, str]:
        """The server's environment: this interpreter's ``bin/`` and ``LIBDIR`` first."""
        # The key reaches the server on its command line only (Triton offers no other way).
        environment = {name: value for name, value in os.environ.items() if name != "TRITON_ADMIN_KEY"}
        for variable, value in STEADY_MALLOC.items():
            environment.setdefault(variable, value)
        environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
        libraries = [sysconfig.get_config_var("LIBDIR") or ""]
        if self._wheel:
            libraries.append(str(self._wheel.libraries))
        libraries.append(environment.get("LD_LIBRARY_PATH", ""))
        environment["LD_LIBRARY_PATH"] = os.pathsep.join(part for part in libraries if part)
        return environment

    def start(self, *, timeout_s: float = 120.0) -> None:
        """Launches the server and waits until it and all its models are ready.

        Raises:
            LaunchError: If the process exits or is not ready within ``timeout_s`` seconds.
        """
        repository = self.options.repository
        if not any(repository.glob("*/config.pbtxt")):
            raise LaunchError(
                f"no model repository at {repository.resolve()}: run from the project folder (its "
                "model_repository/), or pass --repository FOLDER; `triton-detect build` fills it"
            )
        if self._wheel:
            self._lay_out_python_backend(self._wheel)
        output = self._log_file if self._log_file is not None else None
        self._private_shm = private_shm_prefix()
        if self._private_shm is None:
            warnings.warn(
                "no private /dev/shm for the server (unshare --mount is not allowed here): other local users "
                "can read the Python backend's shared-memory regions, which hold the images",
                stacklevel=2,
            )
        self._process = subprocess.Popen(
            [*(self._private_shm or []), *self.command()],
            env=self.environment(),
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            umask=SERVER_UMASK,
        )
        self.wait_until_ready(timeout_s=timeout_s)

    def wait_until_ready(self, *, timeout_s: float) -> None:
        """Polls ``/v2/health/ready`` until it answers 200 (strict readiness: all models ready)."""
        deadline = time.monotonic() + timeout_s
        url = f"http://{self.options.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise LaunchError(
                    f"tritonserver exited with code {self._process.returncode} before it was ready"
                )
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(url, timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.2)
        raise LaunchError(f"tritonserver was not ready within {timeout_s:.0f} s ({url})")

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Blocks until the server process ends and returns its exit code; ``None`` after ``timeout_s``."""
        if self._process is None:
            raise LaunchError("the server was not started")
        try:
            return self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def python_stubs(self) -> frozenset[int]:
        """PIDs of the server's Python-backend stub processes (one per model instance; Linux).

        Triton 2.51 keeps reporting a model READY after its stub process died, while every request
        to it fails with "Stub process ... is not healthy": watch this set to notice.
        """
        if self._process is None:
            return frozenset()
        return frozenset(child_processes(self._process.pid, command_part=STUB_NAME))

    @property
    def pid(self) -> int | None:
        """Process ID of the running ``tritonserver``."""
        return self._process.pid if self._process is not None else None

    def terminate(self) -> None:
        """Sends SIGTERM and returns at once (safe in a signal handler; :meth:`wait` sees the exit)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    @property
    def shm_folder(self) -> Path:
        """The ``/dev/shm`` the server's processes see: their private one while the server runs."""
        if self._private_shm is not None and self._process is not None:
            return Path(f"/proc/{self._process.pid}/root") / SHM_FOLDER.relative_to("/")
        return SHM_FOLDER

    def shared_memory_regions(self) -> list[Path]:
        """This server's Python-backend regions (one per stub), in the ``/dev/shm`` its processes see."""
        with contextlib.suppress(OSError):
            return sorted(self.shm_folder.glob(f"{self.region_prefix}*"))
        return []

    def kill(self) -> None:
        """Kills the server with SIGKILL, as a crash would; :meth:`start` may launch it again."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._end_stubs()

    def _end_stubs(self) -> None:
        """Kills the stubs that outlived their server, then removes what regions are left.

        A stub whose server died can live on as an orphan (seen after crashes under memory pressure),
        holding its region and, in a private ``/dev/shm``, the whole tmpfs. This launch's stubs are
        the processes whose command line names :attr:`region_prefix`.
        """
        for pid in processes_naming(self.region_prefix):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self._remove_regions()

    def _remove_regions(self) -> None:
        """Removes the regions a stopped server left in the host's ``/dev/shm`` (a dead stub leaves its
        own); a private ``/dev/shm`` goes away by itself with the server's last process."""
        for region in SHM_FOLDER.glob(f"{self.region_prefix}*"):
            region.unlink(missing_ok=True)

    def stop(self, *, timeout_s: float = 45.0) -> int | None:
        """Stops the server with SIGTERM, SIGKILL after ``timeout_s`` seconds.

        On SIGTERM Triton finishes in-flight requests and waits for open client connections up to
        its ``--exit-timeout-secs`` (:attr:`ServerOptions.exit_timeout_s`). The server's
        shared-memory regions are removed once it has exited.
        """
        process, self._process = self._process, None
        if process is None:
            self._end_stubs()
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._end_stubs()
        return process.returncode

    def close(self) -> None:
        """Stops the server and removes the backend folder."""
        self.stop()
        self._backends.cleanup()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _lay_out_python_backend(self, layout: WheelLayout) -> None:
        """Links the wheel's Python backend and this Python's stub into one backend folder."""
        python_dir = Path(self._backends.name) / "python"
        python_dir.mkdir(exist_ok=True)
        for source in [*layout.python_backend.iterdir(), layout.stub]:
            target = python_dir / source.name
            if source.name != "__pycache__" and not target.exists():
                target.symlink_to(source)
