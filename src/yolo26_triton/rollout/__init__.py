"""Migration from in-process Ultralytics to Triton, by environment variables alone.

Example, in a FastAPI service that ran ``YOLO(weights).predict()``::

    from yolo26_triton.rollout import RolloutDetector
    from yolo26_triton.rollout.metrics import RolloutMetrics, mount_metrics

    detector = RolloutDetector.from_env(metrics=RolloutMetrics())
    mount_metrics(app)                                   # GET /metrics

    @app.post("/detect")
    async def detect(request: Request, camera: str) -> dict[str, object]:
        result = await detector.detect(await request.body(), key=camera)
        return {"backend": result.backend, "boxes": result.detections.xyxy.tolist()}

Then ``TRITON_ENABLED``, ``TRITON_ROLLOUT_PERCENT``, ``TRITON_SHADOW`` and ``TRITON_FALLBACK`` move the
traffic (docs/migration.md). Modules: ``config`` (:class:`RolloutConfig`), ``routing`` (the percentage
and the routing key), ``detector`` (:class:`RolloutDetector`), ``types`` (its results), ``breaker``
(the circuit breaker of fallback), ``local`` (the in-process Ultralytics
side), ``agreement`` (box matching, shared with ``triton-detect compare``), ``metrics`` (Prometheus;
needs the ``rollout`` extra), ``errors``.
"""

from yolo26_triton.rollout.config import RolloutConfig
from yolo26_triton.rollout.detector import RolloutDetector
from yolo26_triton.rollout.errors import LocalModelError, RolloutError
from yolo26_triton.rollout.routing import RolloutRouter, key_bucket
from yolo26_triton.rollout.types import CIRCUIT_OPEN, Backend, RolloutObserver, RolloutResult, ShadowRecord

__all__ = [
    "CIRCUIT_OPEN",
    "Backend",
    "LocalModelError",
    "RolloutConfig",
    "RolloutDetector",
    "RolloutError",
    "RolloutObserver",
    "RolloutResult",
    "RolloutRouter",
    "ShadowRecord",
    "key_bucket",
]
