"""Prometheus metrics of the migration facade, on the application's own ``/metrics``.

Put them beside Triton's (``nv_*`` on port 8002)::

    yolo26_detector_requests_total{backend, role}         requests sent to a side; role "serve" or "shadow"
    yolo26_detector_errors_total{backend, role, error}    failed ones, by error type
    yolo26_detector_latency_seconds{backend, role}        histogram of answered requests, end to end
    yolo26_detector_fallbacks_total{reason}               answered in-process because Triton failed:
                                                          the error type, or "circuit_open"
    yolo26_detector_circuit_open                          1 while the circuit breaker is open
    yolo26_detector_rollout_percent                       the share configured for Triton (0 when disabled)
    yolo26_detector_shadow_agreement                      histogram of per-image agreement, shadow mode
    yolo26_detector_shadow_boxes_total{backend}           boxes each side found on shadowed images
    yolo26_detector_shadow_matched_boxes_total            of which matched: the pooled agreement is
                                                          2 * matched / (local + triton boxes)
    yolo26_detector_shadow_dropped_total                  shadow requests not sent: too many in flight

``backend`` is ``triton`` or ``local``. Serving them:

- FastAPI or Starlette: :func:`mount_metrics` adds a ``/metrics`` route to the app;
- any other ASGI or WSGI app: wrap it with :func:`with_metrics_asgi` or :func:`with_metrics_wsgi`
  (or serve :func:`prometheus_client.make_asgi_app` / ``make_wsgi_app`` on their own).

This module needs ``prometheus_client`` (``pip install 'yolo26-triton[rollout]'``); the facade itself
runs without it when no metrics object is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import make_asgi_app as _make_asgi_app
from prometheus_client import make_wsgi_app as _make_wsgi_app

from yolo26_triton.rollout.agreement import DEFAULT_MATCH_IOU, ImageAgreement

PREFIX = "yolo26_detector"
BACKENDS = ("triton", "local")
SERIES = (("triton", "serve"), ("triton", "shadow"), ("local", "serve"))
"""The (backend, role) pairs that occur: shadow requests only go to Triton."""
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
AGREEMENT_BUCKETS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1.0)
"""Upper bounds of the agreement histogram: 0.999 separates perfect agreement from nearly perfect."""
METRICS_PATH = "/metrics"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RolloutMetrics:
    """The facade's metrics, registered in ``registry``.

    Pass one to :class:`~yolo26_triton.rollout.RolloutDetector`; create one per registry (a second
    in the same registry raises ``ValueError: Duplicated timeseries``).

    Args:
        registry: Where the metrics live; the process-wide default registry when omitted.
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.requests = Counter(
            f"{PREFIX}_requests",
            "Detection requests sent to a side (role: serve answers the caller, shadow only compares).",
            ["backend", "role"],
            registry=registry,
        )
        self.errors = Counter(
            f"{PREFIX}_errors",
            "Detection requests that failed on a side, by error type.",
            ["backend", "role", "error"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_latency_seconds",
            "Seconds from request to answer on a side, answered requests only (Triton: retries included).",
            ["backend", "role"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.fallbacks = Counter(
            f"{PREFIX}_fallbacks",
            "Requests routed to Triton but answered in-process, by reason (error type or circuit_open).",
            ["reason"],
            registry=registry,
        )
        self.circuit_open = Gauge(
            f"{PREFIX}_circuit_open",
            "1 while the circuit breaker in front of Triton is open.",
            registry=registry,
        )
        self.rollout_percent = Gauge(
            f"{PREFIX}_rollout_percent",
            "Share of requests configured for Triton, in percent (0 while TRITON_ENABLED is false).",
            registry=registry,
        )
        self.shadow_agreement = Histogram(
            f"{PREFIX}_shadow_agreement",
            "Per-image box agreement of Triton with the in-process answer, 2*matched/(local+triton boxes).",
            buckets=AGREEMENT_BUCKETS,
            registry=registry,
        )
        self.shadow_boxes = Counter(
            f"{PREFIX}_shadow_boxes",
            "Boxes found by each side on images compared in shadow mode.",
            ["backend"],
            registry=registry,
        )
        self.shadow_matched = Counter(
            f"{PREFIX}_shadow_matched_boxes",
            f"Box pairs matched (same class, IoU >= {DEFAULT_MATCH_IOU}) on images compared in shadow mode.",
            registry=registry,
        )
        self.shadow_dropped = Counter(
            f"{PREFIX}_shadow_dropped",
            "Shadow requests not sent because TRITON_SHADOW_MAX_IN_FLIGHT were in flight.",
            registry=registry,
        )
        for backend in BACKENDS:  # every series exists from the start, so that rate() sees the first one
            self.shadow_boxes.labels(backend)
        for backend, role in SERIES:
            self.requests.labels(backend, role)
            self.latency.labels(backend, role)

    def request(self, backend: str, role: str) -> None:
        """A request was sent to ``backend``."""
        self.requests.labels(backend, role).inc()

    def answer(self, backend: str, role: str, latency_s: float) -> None:
        """``backend`` answered after ``latency_s`` seconds."""
        self.latency.labels(backend, role).observe(latency_s)

    def error(self, backend: str, role: str, error: str) -> None:
        """``backend`` failed with an error of type ``error``."""
        self.errors.labels(backend, role, error).inc()

    def fallback(self, reason: str) -> None:
        """A request for Triton was answered in-process."""
        self.fallbacks.labels(reason).inc()

    def circuit(self, is_open: bool) -> None:
        """The circuit breaker opened (True) or closed or half-opened (False)."""
        self.circuit_open.set(1 if is_open else 0)

    def rollout(self, percent: float) -> None:
        """The share configured for Triton."""
        self.rollout_percent.set(percent)

    def shadow_compared(self, agreement: ImageAgreement) -> None:
        """Triton's shadow answer was compared with the in-process one."""
        self.shadow_agreement.observe(agreement.agreement)
        self.shadow_boxes.labels("local").inc(agreement.reference_count)
        self.shadow_boxes.labels("triton").inc(agreement.candidate_count)
        self.shadow_matched.inc(agreement.matched)

    def shadow_drop(self) -> None:
        """A shadow request was dropped."""
        self.shadow_dropped.inc()


class _Routable(Protocol):
    def add_route(self, path: str, route: Any, *args: Any, **kwargs: Any) -> None: ...


class _AsgiEndpoint:
    """An ASGI app as an object, so that Starlette routes requests to it as they are (a plain function
    would be taken for a ``request -> response`` endpoint)."""

    def __init__(self, app: AsgiApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def mount_metrics(app: _Routable, path: str = METRICS_PATH, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve ``registry`` at ``path`` (exactly, no redirect to ``path/``) in a FastAPI or Starlette app.

    Neither is imported: any app with Starlette's ``add_route(path, endpoint, include_in_schema=...)``
    works. The endpoint is ``prometheus_client.make_asgi_app`` (text or OpenMetrics format, gzip as
    the scraper asks).
    """
    app.add_route(path, _AsgiEndpoint(_make_asgi_app(registry)), include_in_schema=False)


def with_metrics_asgi(
    app: AsgiApp, path: str = METRICS_PATH, registry: CollectorRegistry = REGISTRY
) -> AsgiApp:
    """``app`` with ``registry`` served at ``path``; every other request (and lifespan) goes to ``app``."""
    metrics_app = _make_asgi_app(registry)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == path:
            await metrics_app(scope, receive, send)
        else:
            await app(scope, receive, send)

    return dispatch


def with_metrics_wsgi(
    app: WsgiApp, path: str = METRICS_PATH, registry: CollectorRegistry = REGISTRY
) -> WsgiApp:
    """``app`` with ``registry`` served at ``path``; every other request goes to ``app``."""
    metrics_app = _make_wsgi_app(registry)

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == path:
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        return app(environ, start_response)

    return dispatch
