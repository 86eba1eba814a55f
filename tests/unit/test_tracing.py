"""Tracing without a server: the serve flags, and the client's span and traceparent header."""

from __future__ import annotations

import importlib
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from yolo26_triton.cli.app import parser as _parser
from yolo26_triton.client import tracing
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import TRACE_SERVICE_NAME, ServerOptions


def test_trace_flags_only_with_an_endpoint() -> None:
    assert ServerOptions().trace_args == []
    options = ServerOptions(trace_url="http://collector:4318/v1/traces", trace_rate=100)
    assert options.trace_args == [
        "--trace-config=mode=opentelemetry",
        "--trace-config=level=TIMESTAMPS",
        "--trace-config=rate=100",
        "--trace-config=opentelemetry,url=http://collector:4318/v1/traces",
        f"--trace-config=opentelemetry,resource=service.name={TRACE_SERVICE_NAME}",
    ]
    command = EmbeddedServer(options).command()
    start = command.index(options.trace_args[0])
    assert command[start : start + len(options.trace_args)] == options.trace_args


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"trace_url": "collector:4318"}, "collector:4318"), ({"trace_rate": -1}, "-1")],
)
def test_bad_trace_options_name_the_value(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerOptions(**overrides)  # type: ignore[arg-type]


def test_serve_takes_the_trace_flags() -> None:
    args = _parser().parse_args(
        ["serve", "--trace-url", "http://127.0.0.1:4318/v1/traces", "--trace-rate", "5"]
    )
    assert (args.trace_url, args.trace_rate) == ("http://127.0.0.1:4318/v1/traces", 5)
    assert _parser().parse_args(["serve"]).trace_url is None


def test_span_headers_carry_the_client_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.RequestTracer(provider).span("TritonClient.detect", {"triton.model": "m"}) as headers:
        pass
    (span,) = exporter.get_finished_spans()
    context = span.get_span_context()
    assert headers["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
    assert span.attributes == {"triton.model": "m"}


def test_span_marks_a_failed_request() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with pytest.raises(RuntimeError), tracing.RequestTracer(provider).span("TritonClient.detect", {}):
        raise RuntimeError("refused")
    (span,) = exporter.get_finished_spans()
    assert not span.status.is_ok
    assert span.events[0].name == "exception"


def test_no_headers_without_an_sdk_set_up() -> None:
    """With only the API (the global provider unset), nothing is recorded and nothing is sent."""
    with tracing.RequestTracer().span("TritonClient.detect", {}) as headers:
        assert headers == {}


def test_client_works_without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.startswith("opentelemetry")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails as if not installed
    try:
        without = importlib.reload(tracing)
        with without.RequestTracer().span("TritonClient.detect", {}) as headers:
            assert headers == {}
    finally:
        monkeypatch.undo()
        importlib.reload(tracing)
