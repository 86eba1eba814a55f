"""An OTLP/HTTP trace receiver on loopback: what a collector sees of the spans sent to it.

Both encodings of ``ExportTraceServiceRequest`` arrive: protobuf from the Python SDK's exporter,
JSON from Triton's (opentelemetry-cpp, ``Content-Type: application/json``, ids in hex).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


@dataclass(frozen=True)
class Span:
    """One received span, ids in hex."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP/JSON writes ids in hex, protobuf's JSON mapping expects base64: convert in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Parses an export request in either encoding."""
    if "json" in content_type:
        document = json.loads(body)
        _hex_ids_to_base64(document)
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    return ExportTraceServiceRequest.FromString(body)


def spans_of(request: ExportTraceServiceRequest) -> Iterator[Span]:
    """The spans of one export request."""
    for resource_spans in request.resource_spans:
        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield Span(
                    service=resource.get("service.name", ""),
                    name=span.name,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex(),
                    attributes={
                        a.key: json_format.MessageToDict(a.value).popitem()[1] for a in span.attributes
                    },
                )


class OtlpReceiver:
    """``POST /v1/traces`` on a free loopback port; a context manager."""

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                content_type = self.headers.get("Content-Type", "")
                with receiver._lock:
                    receiver._spans.extend(spans_of(decode(body, content_type)))
                reply = ExportTraceServiceResponse()
                if "json" in content_type:
                    payload, reply_type = json_format.MessageToJson(reply).encode(), "application/json"
                else:
                    payload, reply_type = reply.SerializeToString(), "application/x-protobuf"
                self.send_response(200)
                self.send_header("Content-Type", reply_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The traces endpoint, ``http://127.0.0.1:PORT/v1/traces``."""
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1/traces"

    def spans(self, trace_id: str) -> list[Span]:
        """The spans received so far for one trace."""
        with self._lock:
            return [span for span in self._spans if span.trace_id == trace_id]

    def span_count(self) -> int:
        """Spans received so far, all traces."""
        with self._lock:
            return len(self._spans)

    def wait_for_count(self, count: int, timeout_s: float) -> int:
        """The number of spans received once it reaches ``count``, or at the deadline."""
        deadline = time.monotonic() + timeout_s
        while self.span_count() < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.span_count()

    def wait_for(self, trace_id: str, count: int, timeout_s: float = 60.0) -> list[Span]:
        """The spans of ``trace_id`` once at least ``count`` arrived (or what came by the deadline)."""
        deadline = time.monotonic() + timeout_s
        while len(self.spans(trace_id)) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.spans(trace_id)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.shutdown()
        self._http.server_close()
