"""OpenTelemetry on the client side: one span per detection, its W3C ``traceparent`` sent along.

Triton (started with its OpenTelemetry trace mode: ``triton-detect serve --trace-url``, compose, the
Kubernetes manifests) reads the ``traceparent`` header (HTTP) or metadata entry (gRPC) and makes its
request span a child of ours, with one span per composing model of the ensemble beneath it: one
trace from the caller to each step (docs/tracing.md).

The client needs only ``opentelemetry-api``, and works the same without it. Like any instrumented
library it records nothing until the application sets up the OpenTelemetry SDK: then each
:meth:`~yolo26_triton.client.TritonClient.detect` is a ``CLIENT`` span (the child of whatever span is
current, e.g. the web request that asked), and the server's spans join its trace. :func:`configure`
is that setup for scripts and the command line (``pip install 'yolo26-triton[tracing]'``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import propagate, trace
except ImportError:  # the client works without OpenTelemetry
    propagate = None  # type: ignore[assignment]
    trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

TRACER_NAME = "yolo26_triton.client"
CLIENT_SERVICE_NAME = "yolo26-triton-client"
"""``service.name`` of the spans :func:`configure` exports (the server's are ``yolo26-triton``)."""


class RequestTracer:
    """Starts the client's span around a request and gives the headers that carry its context."""

    def __init__(self, tracer_provider: Any = None) -> None:
        """Use ``tracer_provider``, or the global one (set by the application) when ``None``."""
        self._tracer = None
        if trace is not None:
            self._tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)

    @contextlib.contextmanager
    def span(self, name: str, attributes: Mapping[str, str | int]) -> Iterator[dict[str, str]]:
        """A ``CLIENT`` span for the ``with`` block; yields the headers to send (``traceparent``...).

        Without OpenTelemetry, or with only its API (no SDK set up), the headers are empty and
        nothing is recorded. An exception leaving the block marks the span as failed.
        """
        if self._tracer is None or propagate is None:
            yield {}
            return
        kind = trace.SpanKind.CLIENT
        with self._tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes)):
            headers: dict[str, str] = {}
            propagate.inject(headers)
            yield headers


def configure(endpoint: str, *, service_name: str = CLIENT_SERVICE_NAME) -> TracerProvider:
    """Sets up the OpenTelemetry SDK as the global provider, exporting spans to an OTLP/HTTP endpoint.

    Args:
        endpoint: The collector's traces URL, e.g. ``http://localhost:4318/v1/traces`` (Jaeger,
            the OpenTelemetry Collector, the same one the server exports to).
        service_name: The ``service.name`` resource attribute of the client's spans.

    Returns:
        The provider; call its ``shutdown()`` (or ``force_flush()``) before exiting so that the last
        spans leave.

    Raises:
        ImportError: The SDK or the OTLP exporter is not installed (``yolo26-triton[tracing]``).
    """
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider
