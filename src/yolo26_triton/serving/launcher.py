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

Quotas: the server runs Triton's rate limiter (``--rate-limit=execution_count``). Every detector
instance holds one :data:`DETECTOR_RESOURCE` while it executes, and the server has
:attr:`ServerOptions.detector_slots` of them (``--rate-limit-resource``): all detector models
together never run more executions at once, and among the instances waiting for one, the one with
the fewest executions so far goes next: a flood on one detector model cannot keep another from
running (README, "Quotas").

Tracing: with :attr:`ServerOptions.trace_url`, Triton runs its OpenTelemetry trace mode and exports
the spans of each traced request (the ensemble, each composing model, their compute) to that
OTLP/HTTP endpoint. Rate 0 (the default) traces only the requests that carry a W3C ``traceparent``
(the client's span becomes the parent); rate N also traces one in N of the others (docs/tracing.md).

Local isolation (docs/security.md): the Python backend creates its ``/dev/shm`` regions (which carry
the images) with mode 0644 whatever the umask, so the server runs in a private mount namespace with
its own ``/dev/shm``, a tmpfs of mode 0700 that other local users cannot see (``unshare``; as root, or
through an unprivileged user namespace). The regions carry a prefix of this launch
(:attr:`EmbeddedServer.region_prefix`); the private tmpfs goes away with the server's processes, and
where no private namespace can be made the regions are removed when the server stops.

Triton takes the restricted-API key only on its command line, which every local user can read in
``/proc/<pid>/cmdline``: without a key of the user's, the server gets :func:`unusable_admin_key`
under the gRPC header :data:`UNSENDABLE_GRPC_KEY_HEADER`, which no HTTP or gRPC request can carry.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Self

Profile = Literal["cpu", "gpu"]
RESTRICTED_APIS = "model-repository,shared-memory,logging,trace"
"""Closed without the admin key: loading/unloading models, shared-memory regions, log and trace
settings. Health, metadata, model config, statistics and inference stay open."""
ADMIN_KEY_HEADER = "admin-key"
"""HTTP header of the key; gRPC clients send it as ``triton-grpc-protocol-admin-key``."""
UNSENDABLE_GRPC_KEY_HEADER = ADMIN_KEY_HEADER.upper()
"""The gRPC key's header when nobody is to use it: Triton matches metadata names case-sensitively, and
gRPC resets any stream whose header names are not lowercase (HTTP/2), so no request carries it."""
DEFAULT_REPOSITORY = Path("model_repository")
"""The model repository of a checkout, relative to the working folder (the commands run from the
repository root; ``--repository`` points elsewhere)."""


DETECTOR_RESOURCE = "detector_slots"
"""The rate-limiter resource each detector instance needs (``rate_limiter`` in ``yolo26``'s configs):
machine-wide in the CPU profile, per GPU in the GPU profile."""
DEFAULT_DETECTOR_SLOTS: dict[Profile, int] = {"cpu": 2, "gpu": 1}
"""Detector executions at once: CPU, one per core of the 2-core machine the CPU configs are tuned for
(onnxruntime sessions of one thread); GPU, one engine at a time on each GPU."""

TRACE_SERVICE_NAME = "yolo26-triton"
"""``service.name`` of the server's spans (the client's are ``yolo26-triton-client``)."""

STUB_NAME = "triton_python_backend_stub"
SERVER_UMASK = 0o077
"""File mode mask of the server and its stubs: files they create (trace output, for one) are this
user's only. It does not reach the Python backend's regions: Boost.Interprocess sets their mode
(0644) explicitly, hence the private ``/dev/shm``."""
SHM_FOLDER = Path("/dev/shm")
_PRIVATE_SHM = 'mount -t tmpfs -o mode=0700,nosuid,nodev yolo26-triton-shm /dev/shm && exec "$0" "$@"'
"""Run inside the new mount namespace: a private ``/dev/shm``, then the server in place of the shell."""
DEFAULT_EXIT_TIMEOUT_S = 5
"""``--exit-timeout-secs``: how long Triton waits on SIGTERM for in-flight requests (and, in 2.51, for
open client connections: one idle keep-alive client holds it that long, then it exits with code 1).
Triton's own default is 30 s."""
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}
"""glibc settings for the server and its stubs: large blocks (image tensors, batches) are mmapped and
given back when freed, in few arenas. With glibc's adaptive threshold the resident memory of a
30 s soak grew by 678 MiB; with these, by 43 MiB at the same throughput (scripts/soak.py)."""


class ServerError(RuntimeError):
    """The server could not be found, started or made ready."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) reaches this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unusable_admin_key() -> str:
    """A random restricted-API key that no HTTP request can carry.

    Triton reads the key only from its command line, which every local user can read. This one
    holds a CR LF between two random halves, and an HTTP/1 header value ends at the first line break.
    Triton 2.51's gRPC server does accept a CR LF in a metadata value sent as raw HTTP/2, hence
    :data:`UNSENDABLE_GRPC_KEY_HEADER` for gRPC.
    """
    return f"{secrets.token_urlsafe(18)}\r\n{secrets.token_urlsafe(18)}"


def private_shm_prefix() -> list[str] | None:
    """The command prefix that gives a process its own ``/dev/shm``; ``None`` where the host allows none.

    ``unshare --mount`` needs root, or else an unprivileged user namespace (``--map-root-user``);
    ``unshare`` without ``--fork`` execs in place, so the server keeps the launched process's PID.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix.append("--map-root-user")
    prefix += ["--", "sh", "-c", _PRIVATE_SHM]
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    return prefix if probe.returncode == 0 else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServerOptions:
    """How to launch the server.

    Attributes:
        repository: The model repository folder.
        profile: ``cpu`` (embedded, Python-backend stand-ins) or ``gpu`` (DALI + TensorRT).
        host: Address all endpoints bind to; loopback unless told otherwise.
        http_port: HTTP/REST port.
        grpc_port: gRPC port.
        metrics_port: Prometheus metrics port.
        tritonserver: A ``tritonserver`` binary to use instead of the wheel's.
        admin_key: Key that unlocks the restricted APIs (:data:`RESTRICTED_APIS`); a random one,
            known to nobody, when ``None``: the APIs are then closed.
        detector_slots: Detector executions that may run at once, all detector models together
            (per GPU in the GPU profile); ``None`` for the profile's default
            (:data:`DEFAULT_DETECTOR_SLOTS`), ``0`` to turn the rate limiter off.
        trace_url: OTLP/HTTP endpoint (``http://host:4318/v1/traces``) for Triton's OpenTelemetry
            spans; ``None``: no tracing.
        trace_rate: With :attr:`trace_url`, also trace one in ``trace_rate`` requests that carry no
            ``traceparent``; 0 (default): only those that do.
        exit_timeout_s: ``--exit-timeout-secs`` (:data:`DEFAULT_EXIT_TIMEOUT_S`).
        extra_args: More ``tritonserver`` flags, appended last.
    """

    repository: Path = DEFAULT_REPOSITORY
    profile: Profile = "cpu"
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    tritonserver: Path | None = None
    admin_key: str | None = field(default=None, repr=False)
    detector_slots: int | None = None
    trace_url: str | None = None
    trace_rate: int = 0
    exit_timeout_s: int = DEFAULT_EXIT_TIMEOUT_S
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.detector_slots is not None and self.detector_slots < 0:
            raise ValueError(f"detector_slots must be >= 0, got {self.detector_slots}")
        if self.trace_url is not None and not self.trace_url.startswith(("http://", "https://")):
            raise ValueError(f"trace_url must be an http(s):// OTLP/HTTP endpoint, got {self.trace_url!r}")
        if self.trace_rate < 0:
            raise ValueError(f"trace_rate must be >= 0, got {self.trace_rate}")

    @classmethod
    def on_free_ports(cls, **overrides: object) -> ServerOptions:
        """Options with three free ports (tests, the demo)."""
        ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
        return cls(**{**ports, **overrides})  # type: ignore[arg-type]

    @property
    def detector_slot_count(self) -> int:
        """:attr:`detector_slots`, or the profile's default; 0 when the rate limiter is off."""
        return DEFAULT_DETECTOR_SLOTS[self.profile] if self.detector_slots is None else self.detector_slots

    @property
    def rate_limit_args(self) -> list[str]:
        """The rate limiter's flags: the mode and the number of detector slots.

        With ``--rate-limit=off`` Triton ignores the configs' ``rate_limiter``; with
        ``execution_count`` but no ``--rate-limit-resource``, a resource's count is the largest any
        instance asks for (1 here), which would run one detector execution at a time.
        """
        slots = self.detector_slot_count
        if slots == 0:
            return ["--rate-limit=off"]
        return ["--rate-limit=execution_count", f"--rate-limit-resource={DETECTOR_RESOURCE}:{slots}"]

    @property
    def trace_args(self) -> list[str]:
        """Triton's OpenTelemetry trace flags for :attr:`trace_url`; none without it.

        Triton traces every request that propagates a context whatever the rate, and one in
        ``rate`` of the others (0: none of them).
        """
        if self.trace_url is None:
            return []
        return [
            "--trace-config=mode=opentelemetry",
            "--trace-config=level=TIMESTAMPS",
            f"--trace-config=rate={self.trace_rate}",
            f"--trace-config=opentelemetry,url={self.trace_url}",
            f"--trace-config=opentelemetry,resource=service.name={TRACE_SERVICE_NAME}",
        ]

    @property
    def http_url(self) -> str:
        """``host:port`` of the HTTP endpoint."""
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC endpoint."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        """URL of the Prometheus metrics."""
        return f"http://{self.host}:{self.metrics_port}/metrics"


@dataclass(frozen=True)
class _WheelLayout:
    """Where the ``nvidia-pytriton`` wheel keeps the server's files."""

    tritonserver: Path
    python_backend: Path
    stub: Path
    libraries: Path

    @classmethod
    def find(cls) -> _WheelLayout:
        # Located, not imported: the package's __init__ imports its client and tritonclient, which a
        # machine that only runs the server (scripts/gpu_check.sh on a lent GPU) does not hold.
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise ServerError(
                "the embedded server needs the nvidia-pytriton wheel: pip install 'yolo26-triton[server]'"
            )
        root = Path(next(iter(spec.submodule_search_locations))).resolve() / "tritonserver"
        python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
        layout = cls(
            tritonserver=root / "bin" / "tritonserver",
            python_backend=root / "backends" / "python",
            stub=root / "python_backend_stubs" / python_version / "triton_python_backend_stub",
            libraries=root.parents[1] / "nvidia_pytriton.libs",
        )
        for path in (layout.tritonserver, layout.python_backend, layout.stub, layout.libraries):
            if not path.exists():
                raise ServerError(
                    f"{path} is missing from the nvidia-pytriton wheel (Python {python_version})"
                )
        return layout


class EmbeddedServer:
    """A ``tritonserver`` process for the CPU (or, with an NGC binary, GPU) profile.

    Use as a context manager: the server is ready on entry and stopped on exit.
    """

    def __init__(self, options: ServerOptions, *, log_file: IO[str] | None = None) -> None:
        self.options = options
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        # The wheel's files, looked up once; None when an external tritonserver is used.
        self._wheel = _WheelLayout.find() if options.tritonserver is None else None
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

    def start(self, *, timeout: float = 120.0) -> None:
        """Launches the server and waits until it and all its models are ready.

        Raises:
            ServerError: If the process exits or is not ready within ``timeout`` seconds.
        """
        repository = self.options.repository
        if not any(repository.glob("*/config.pbtxt")):
            raise ServerError(
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
        self.wait_until_ready(timeout=timeout)

    def wait_until_ready(self, *, timeout: float) -> None:
        """Polls ``/v2/health/ready`` until it answers 200 (strict readiness: all models ready)."""
        deadline = time.monotonic() + timeout
        url = f"http://{self.options.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ServerError(
                    f"tritonserver exited with code {self._process.returncode} before it was ready"
                )
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(url, timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.2)
        raise ServerError(f"tritonserver was not ready within {timeout:.0f} s ({url})")

    def wait(self, timeout: float | None = None) -> int | None:
        """Blocks until the server process ends and returns its exit code; ``None`` after ``timeout``."""
        if self._process is None:
            raise ServerError("the server was not started")
        try:
            return self._process.wait(timeout)
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

    def stop(self, *, timeout: float = 45.0) -> int | None:
        """Stops the server with SIGTERM, SIGKILL after ``timeout`` seconds.

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
                process.wait(timeout=timeout)
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

    def _lay_out_python_backend(self, layout: _WheelLayout) -> None:
        """Links the wheel's Python backend and this Python's stub into one backend folder."""
        python_dir = Path(self._backends.name) / "python"
        python_dir.mkdir(exist_ok=True)
        for source in [*layout.python_backend.iterdir(), layout.stub]:
            target = python_dir / source.name
            if source.name != "__pycache__" and not target.exists():
                target.symlink_to(source)


def child_processes(parent: int, *, command_part: str) -> list[int]:
    """Children of ``parent`` whose command line contains ``command_part``, from ``/proc``."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent PID is the 2nd field after the ")" that closes the command name.
            parent_pid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if parent_pid == parent and command_part in command:
            children.append(int(entry.name))
    return children


def processes_naming(text: str) -> list[int]:
    """Processes whose command line holds ``text``, from ``/proc``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
    return found
