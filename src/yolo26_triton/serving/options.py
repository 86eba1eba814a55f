"""How the embedded server is launched: :class:`ServerOptions`, its defaults, and free ports.

Quotas: the server runs Triton's rate limiter (``--rate-limit=execution_count``). Every detector
instance holds one :data:`DETECTOR_RESOURCE` while it executes, and the server has
:attr:`ServerOptions.detector_slots` of them (``--rate-limit-resource``): all detector models
together never run more executions at once, and among the instances waiting for one, the one with
the fewest executions so far goes next: a flood on one detector model cannot keep another from
running (docs/quotas.md).

Tracing: with :attr:`ServerOptions.trace_url`, Triton runs its OpenTelemetry trace mode and exports
the spans of each traced request (the ensemble, each composing model, their compute) to that
OTLP/HTTP endpoint. Rate 0 (the default) traces only the requests that carry a W3C ``traceparent``
(the client's span becomes the parent); rate N also traces one in N of the others (docs/tracing.md).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Profile = Literal["cpu", "gpu"]
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

DEFAULT_EXIT_TIMEOUT_S = 5
"""``--exit-timeout-secs``: how long Triton waits on SIGTERM for in-flight requests (and, in 2.51, for
open client connections: one idle keep-alive client holds it that long, then it exits with code 1).
Triton's own default is 30 s."""


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
