"""Metrics read back as Prometheus reads them: from a real ``/metrics`` over HTTP, parsed by
``prometheus_client``'s own text parser."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from yolo26_triton.rollout.metrics import with_metrics_wsgi

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def not_found(environ: dict[str, object], start_response: object) -> list[bytes]:
    """A WSGI app that answers 404 to everything: what the wrapped application is in these tests."""
    start_response("404 Not Found", [("Content-Type", "text/plain")])  # type: ignore[operator]
    return [b"the application"]


@contextmanager
def metrics_server(registry: CollectorRegistry) -> Iterator[str]:
    """Serve ``registry`` at ``/metrics`` of a WSGI app on a free loopback port; yields the base URL."""
    server: WSGIServer = make_server(
        "127.0.0.1", 0, with_metrics_wsgi(not_found, registry=registry), handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def parse_samples(text: str) -> Samples:
    """Every sample of a metrics page: ``(name, labels) -> value``."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    """GET ``url`` (a ``/metrics`` page) and parse it."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return parse_samples(response.read().decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    """The value of one sample; 0 when the page does not have it (a labelled counter never touched)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
