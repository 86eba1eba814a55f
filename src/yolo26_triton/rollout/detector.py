"""The migration facade: one detector that answers from Triton or in-process, as the environment says.

A service that runs ``YOLO(weights).predict()`` today swaps it for :class:`RolloutDetector` once, then
moves to Triton by changing variables alone (:class:`~yolo26_triton.rollout.RolloutConfig`)::

    detector = RolloutDetector.from_env(metrics=RolloutMetrics())
    result = await detector.detect(jpeg_bytes, key=camera_id)
    result.backend        # "triton" or "local": who answered
    result.detections     # the same Detections type either way

How one request goes:

1. The router (:mod:`~yolo26_triton.rollout.routing`) picks Triton for ``TRITON_ROLLOUT_PERCENT`` of
   the requests (by key, or at random); never while ``TRITON_ENABLED`` is false.
2. Triton: the client's ``detect`` with its retries; behind a circuit breaker when
   ``TRITON_FALLBACK`` is true. If it fails for any reason but bad input, or the breaker is open, the
   in-process side answers and ``result.fallback`` says why. Bad input (``InvalidInputError``) is the
   caller's error on either side and is never tried on the other.
3. In-process: Ultralytics on its own thread (:mod:`~yolo26_triton.rollout.local`), loaded on the
   first request that needs it; never loaded when no request can reach it (100 % Triton without
   fallback). With ``TRITON_SHADOW`` the same image then goes to Triton in the background, at most
   ``TRITON_SHADOW_MAX_IN_FLIGHT`` at once (more are dropped and counted), and the two answers are
   compared as ``triton-detect compare`` does; the caller has its answer before Triton is asked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from yolo26_triton.client import DetectionResult, InvalidInputError, TritonClient, TritonError
from yolo26_triton.client.codec import request_parameters
from yolo26_triton.contract import DEFAULT_MAX_DETECTIONS
from yolo26_triton.rollout.agreement import DEFAULT_MATCH_IOU, image_agreement
from yolo26_triton.rollout.breaker import CircuitBreaker, CircuitOpenError
from yolo26_triton.rollout.config import RolloutConfig
from yolo26_triton.rollout.errors import LocalModelError
from yolo26_triton.rollout.local import LocalDetector, predict_options
from yolo26_triton.rollout.routing import RolloutRouter
from yolo26_triton.rollout.types import (
    CIRCUIT_OPEN,
    Role,
    RolloutObserver,
    RolloutResult,
    ShadowRecord,
    Unobserved,
)

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class RolloutDetector:
    """Detects objects with Triton, in-process Ultralytics, or both, as :class:`RolloutConfig` says.

    Use it from one event loop (the Triton client's connection belongs to it), as an async context
    manager or with :meth:`close`.

    Args:
        config: Which side answers and how.
        metrics: Where to count requests, errors, latencies, fallbacks and shadow agreement
            (:class:`~yolo26_triton.rollout.metrics.RolloutMetrics`); None counts nothing.
        rng: The random source of unkeyed requests' routing; seed one to replay a sequence.
    """

    def __init__(
        self,
        config: RolloutConfig,
        *,
        metrics: RolloutObserver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._observer: RolloutObserver = metrics if metrics is not None else Unobserved()
        self._router = RolloutRouter(config.triton_percent, rng)
        # TRITON_ENABLED=false: no client at all, so nothing can connect.
        self._client = TritonClient(config.triton) if config.triton_reachable else None
        self._local = LocalDetector(config.weights, self._local_options()) if config.local_reachable else None
        self._breaker = (
            CircuitBreaker(config.breaker_failures, config.breaker_reset_s, self._observer.circuit)
            if config.fallback and config.triton_percent > 0
            else None
        )
        self._shadowing = config.shadow and self._client is not None and config.triton_percent < 100
        self._shadow_tasks: set[asyncio.Task[ShadowRecord]] = set()
        self._observer.rollout(config.triton_percent)
        self._observer.circuit(False)
        for variable, unused in (
            ("TRITON_SHADOW", config.shadow and not self._shadowing),
            ("TRITON_FALLBACK", config.fallback and self._breaker is None),
        ):
            if unused:
                log.warning(
                    "%s=true has no effect with TRITON_ENABLED=%s and TRITON_ROLLOUT_PERCENT=%g",
                    variable,
                    str(config.triton_enabled).lower(),
                    config.rollout_percent,
                )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        metrics: RolloutObserver | None = None,
        rng: random.Random | None = None,
    ) -> RolloutDetector:
        """A detector configured by :meth:`RolloutConfig.from_env`.

        Raises:
            ValueError: A variable does not parse or is out of range; the message names it.
        """
        return cls(RolloutConfig.from_env(environ), metrics=metrics, rng=rng)

    def _local_options(self) -> dict[str, Any]:
        triton = self.config.triton
        return predict_options(
            conf=triton.confidence_threshold,
            iou=triton.iou_threshold,
            max_det=DEFAULT_MAX_DETECTIONS,
            letterbox=self.config.letterbox,
            head=self.config.head,
            device=self.config.device,
        )

    @property
    def local_loaded(self) -> bool:
        """Whether the in-process model has been loaded."""
        return self._local is not None and self._local.loaded

    async def warm_up(self) -> None:
        """Load the in-process model now, if some request can reach it (else nothing happens).

        Call it at start-up so that the first in-process request does not wait for the load.

        Raises:
            LocalModelError: ``YOLO_WEIGHTS`` cannot be loaded; the message names it.
        """
        if self._local is not None:
            await self._local_call(self._local.load())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel shadow requests still in flight, close the Triton connection, stop the local thread."""
        for task in list(self._shadow_tasks):
            task.cancel()
        await asyncio.gather(*self._shadow_tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        if self._local is not None:
            self._local.close()

    async def drain(self) -> None:
        """Wait until every shadow request sent so far has ended."""
        while self._shadow_tasks:
            await asyncio.gather(*self._shadow_tasks, return_exceptions=True)

    async def detect(
        self, image: bytes, key: str | None = None, *, max_detections: int | None = None
    ) -> RolloutResult:
        """Detect objects in one encoded JPEG image.

        Args:
            image: The bytes of a JPEG file.
            key: Routing key (a camera, a user): the same key goes to the same side at a given
                percentage. None: a random draw per request.
            max_detections: At most this many boxes (1..300); 300 when None, on both sides.

        Raises:
            InvalidInputError: The image or ``max_detections`` is bad (on whichever side judged it).
            TritonError: Triton failed and ``TRITON_FALLBACK`` is off.
            LocalModelError: The in-process model is needed and cannot be loaded.
        """
        triton = self.config.triton
        request_parameters(triton.confidence_threshold, triton.iou_threshold, max_detections)  # both sides
        if self._client is not None and self._router.to_triton(key):
            return await self._serve_from_triton(image, max_detections)
        result = await self._detect_local(image, max_detections)
        if self._shadowing:
            result = dataclasses.replace(result, shadow=self._start_shadow(image, result, max_detections))
        return result

    async def detect_batch(
        self,
        images: Sequence[bytes],
        keys: Sequence[str | None] | None = None,
        *,
        max_detections: int | None = None,
        return_exceptions: bool = False,
    ) -> list[RolloutResult] | list[RolloutResult | Exception]:
        """Detect objects in many images, ``TRITON_MAX_CONCURRENCY`` requests at once, each routed alone.

        Args:
            images: The bytes of JPEG files.
            keys: One routing key per image, or None for none.
            max_detections: As in :meth:`detect`.
            return_exceptions: When True, a failed image yields its exception in its place; when
                False, the first failure in input order is raised once all requests have ended.

        Returns:
            One entry per image, in input order.
        """
        if keys is not None and len(keys) != len(images):
            raise ValueError(f"{len(keys)} keys for {len(images)} images")
        slots = asyncio.Semaphore(self.config.triton.max_concurrency)

        async def detect_one(image: bytes, key: str | None) -> RolloutResult:
            async with slots:
                return await self.detect(image, key, max_detections=max_detections)

        outcomes = await asyncio.gather(
            *(
                detect_one(image, key)
                for image, key in zip(images, keys or [None] * len(images), strict=True)
            ),
            return_exceptions=True,
        )
        results: list[RolloutResult | Exception] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
            results.append(outcome)
        if not return_exceptions:
            for outcome in results:
                if isinstance(outcome, Exception):
                    raise outcome
        return results

    async def _serve_from_triton(self, image: bytes, max_detections: int | None) -> RolloutResult:
        try:
            if self._breaker is None:
                answer = await self._detect_triton(image, max_detections, "serve")
            else:
                answer = await self._breaker.call(lambda: self._detect_triton(image, max_detections, "serve"))
        except InvalidInputError:
            raise
        except (TritonError, CircuitOpenError) as error:
            if self._breaker is None:
                raise
            reason = CIRCUIT_OPEN if isinstance(error, CircuitOpenError) else type(error).__name__
            self._observer.fallback(reason)
            log.debug("Triton did not answer (%s: %s): answering in-process", reason, error)
            return dataclasses.replace(await self._detect_local(image, max_detections), fallback=reason)
        return RolloutResult(
            detections=answer.detections,
            backend="triton",
            latency_s=answer.latency_s,
            model_info=answer.model_info,
            route=answer.route,
        )

    async def _detect_triton(self, image: bytes, max_detections: int | None, role: Role) -> DetectionResult:
        assert self._client is not None
        self._observer.request("triton", role)
        try:
            answer = await self._client.detect(image, max_detections=max_detections)
        except Exception as error:
            self._observer.error("triton", role, type(error).__name__)
            raise
        self._observer.answer("triton", role, answer.latency_s)
        return answer

    async def _detect_local(self, image: bytes, max_detections: int | None) -> RolloutResult:
        assert self._local is not None, "no request can reach the in-process side in this configuration"
        self._observer.request("local", "serve")
        started = time.monotonic()
        try:
            detections = await self._local_call(
                self._local.detect(image, max_detections or DEFAULT_MAX_DETECTIONS)
            )
        except Exception as error:
            self._observer.error("local", "serve", type(error).__name__)
            raise
        latency_s = time.monotonic() - started
        self._observer.answer("local", "serve", latency_s)
        return RolloutResult(
            detections=detections, backend="local", latency_s=latency_s, model_info=self._local.model_info
        )

    async def _local_call(self, call: Awaitable[_T]) -> _T:
        try:
            return await call
        except LocalModelError as error:
            raise LocalModelError(f"YOLO_WEIGHTS={error}") from error

    def _start_shadow(
        self, image: bytes, local: RolloutResult, max_detections: int | None
    ) -> asyncio.Future[ShadowRecord]:
        if len(self._shadow_tasks) >= self.config.shadow_max_in_flight:
            self._observer.shadow_drop()
            dropped: asyncio.Future[ShadowRecord] = asyncio.get_running_loop().create_future()
            dropped.set_result(ShadowRecord(status="dropped", local_latency_s=local.latency_s))
            return dropped
        task = asyncio.create_task(self._shadow(image, local, max_detections))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)
        return task

    async def _shadow(self, image: bytes, local: RolloutResult, max_detections: int | None) -> ShadowRecord:
        try:
            answer = await self._detect_triton(image, max_detections, "shadow")
        except Exception as error:  # the caller has its answer; a shadow failure is only recorded
            return ShadowRecord(
                status="failed", local_latency_s=local.latency_s, error=f"{type(error).__name__}: {error}"
            )
        agreement = image_agreement(local.detections, answer.detections, DEFAULT_MATCH_IOU)
        self._observer.shadow_compared(agreement)
        return ShadowRecord(
            status="compared",
            local_latency_s=local.latency_s,
            triton_latency_s=answer.latency_s,
            agreement=agreement,
        )
