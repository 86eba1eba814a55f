"""One traced request: the client's span and Triton's (the request, the ensemble, each composing
model) reach an OTLP endpoint on loopback, linked in one trace (the real embedded server)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from yolo26_triton.client import TritonClient
from yolo26_triton.client.tracing import CLIENT_SERVICE_NAME
from yolo26_triton.contract import ENTRY_POINT
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import TRACE_SERVICE_NAME

from ..otlp_receiver import OtlpReceiver, Span
from ..sample_images import SAMPLE_IMAGES
from .server_calls import client_config

pytestmark = pytest.mark.integration


def ensemble_steps(server: EmbeddedServer) -> list[str]:
    """The composing models, read from the served ensemble's config."""
    path = server.options.repository / ENTRY_POINT / "config.pbtxt"
    return [line.split('"')[1] for line in path.read_text().splitlines() if "model_name:" in line]


ATTEMPTS = 3
"""Seen with Triton 2.51: the server exported no span at all for some traced requests (always the
first one after start in one setup, now and then a later one), while the client's spans arrived; a
test tries up to three traced requests and needs one complete trace (docs/tracing.md)."""


def complete_trace(
    traced_request: Callable[[], str], receiver: OtlpReceiver, count: int
) -> tuple[list[Span], int]:
    """Sends traced requests until one's trace has ``count`` spans; its spans and the attempts."""
    spans: list[Span] = []
    for attempt in range(1, ATTEMPTS + 1):
        spans = receiver.wait_for(traced_request(), count=count, timeout_s=15)
        if len(spans) >= count:
            return spans, attempt
    return spans, ATTEMPTS


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_one_request_is_one_trace_from_client_to_each_step(
    server: EmbeddedServer, otlp_receiver: OtlpReceiver, protocol: str
) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": CLIENT_SERVICE_NAME}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=otlp_receiver.url)))

    async def detect() -> int:
        config = client_config(server, protocol=protocol, model=ENTRY_POINT)
        async with TritonClient(config, tracer_provider=provider) as client:
            with provider.get_tracer("test").start_as_current_span("caller") as caller:
                await client.detect(SAMPLE_IMAGES[0].read_bytes())
                return caller.get_span_context().trace_id

    steps = ensemble_steps(server)
    # caller, client, Triton's request span, the ensemble, and a model and a compute span per step
    expected = 4 + 2 * len(steps)
    spans, attempts = complete_trace(lambda: f"{asyncio.run(detect()):032x}", otlp_receiver, expected)
    provider.shutdown()
    assert len(spans) == expected, f"{attempts} traced requests, none complete"
    described = json.dumps([(s.service, s.name, s.parent_id) for s in spans], indent=1)

    def one(predicate: Callable[[Span], bool], what: str) -> Span:
        found = [span for span in spans if predicate(span)]
        assert len(found) == 1, f"{what}: {described}"
        return found[0]

    caller = one(lambda s: s.name == "caller", "the caller's span")
    client = one(lambda s: s.service == CLIENT_SERVICE_NAME and s.name == "TritonClient.detect", "client")
    assert client.parent_id == caller.span_id
    assert client.attributes["triton.model"] == ENTRY_POINT
    assert client.attributes["triton.protocol"] == protocol
    request = one(lambda s: s.service == TRACE_SERVICE_NAME and s.parent_id == client.span_id, "request")
    ensemble = one(lambda s: s.attributes.get("triton.model_name") == ENTRY_POINT, "the ensemble's span")
    assert ensemble.parent_id == request.span_id
    for step in steps:
        model = one(lambda s, step=step: s.attributes.get("triton.model_name") == step, step)
        assert model.parent_id == ensemble.span_id, step
        one(lambda s, model=model: s.name == "compute" and s.parent_id == model.span_id, f"{step}'s compute")


def test_untraced_requests_stay_untraced(server: EmbeddedServer, otlp_receiver: OtlpReceiver) -> None:
    """Rate 0: a request without a traceparent costs no span (the client without an SDK sends none)."""

    async def detect() -> None:
        async with TritonClient(client_config(server)) as client:
            await client.detect(SAMPLE_IMAGES[1].read_bytes())

    before = otlp_receiver.span_count()
    asyncio.run(detect())
    assert otlp_receiver.wait_for_count(before + 1, timeout_s=1.5) == before


def test_detect_command_traces_its_run(server: EmbeddedServer, otlp_receiver: OtlpReceiver) -> None:
    """``triton-detect detect --trace-url``: the run's trace id on stderr, its spans and the server's."""

    def run() -> str:
        finished = subprocess.run(
            [
                *(sys.executable, "-m", "yolo26_triton.cli", "detect", str(SAMPLE_IMAGES[0]), "--json"),
                *("--url", server.options.grpc_url, "--trace-url", otlp_receiver.url),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert finished.returncode == 0, finished.stderr
        (trace_id,) = re.findall(r"^trace ([0-9a-f]{32})$", finished.stderr, flags=re.MULTILINE)
        return str(trace_id)

    # run span, client span, Triton's request span, the ensemble, a model and a compute span per step
    spans, _ = complete_trace(run, otlp_receiver, count=4 + 2 * len(ensemble_steps(server)))
    names = {(span.service, span.name) for span in spans}
    assert {
        (CLIENT_SERVICE_NAME, "triton-detect detect"),
        (CLIENT_SERVICE_NAME, "TritonClient.detect"),
    } <= names
    assert (TRACE_SERVICE_NAME, ENTRY_POINT) in names
