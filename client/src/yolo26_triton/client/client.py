"""The async client: health, model status, statistics and detection on a Triton server."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal, Self, overload

import numpy.typing as npt

from yolo26_triton.client.codec import OUTPUTS, decode_detections, encode_image, request_parameters
from yolo26_triton.client.config import TritonConfig
from yolo26_triton.client.errors import InvalidInputError, TritonError
from yolo26_triton.client.retry import retry_policy
from yolo26_triton.client.routing import VersionPicker, is_version, route_name
from yolo26_triton.client.tracing import RequestTracer
from yolo26_triton.client.transport import Transport, create_transport
from yolo26_triton.client.types import (
    DetectionResult,
    ModelStatistics,
    ModelStatus,
    ModelVersionState,
    parse_statistics,
)


class TritonClient:
    """Talks to the YOLO26 models on one Triton server, over gRPC or HTTP as ``config.protocol`` says.

    Nothing connects until the first call; the connection then belongs to that call's event loop (use
    one client per loop). Use it as an async context manager, or call :meth:`close`::

        async with TritonClient(TritonConfig.from_env()) as client:
            result = await client.detect(jpeg_bytes)

    Only :meth:`detect` and :meth:`detect_batch` retry (transient errors, within ``config.timeout_s``);
    the other calls report the first failure.

    Versions: ``detect(..., model_version="2")`` (or ``config.model_version``) sends to that
    version's route; ``config.ab_split`` picks a route per request by weight
    (:mod:`~yolo26_triton.client.routing`). Either way ``result.model_version`` is the version
    that answered.

    Tracing: where the OpenTelemetry SDK is set up, each :meth:`detect` is a span whose W3C
    ``traceparent`` goes to the server, so that Triton's spans of the ensemble's steps join its trace
    (:mod:`~yolo26_triton.client.tracing`).
    """

    def __init__(
        self, config: TritonConfig, *, rng: random.Random | None = None, tracer_provider: Any = None
    ) -> None:
        """Prepare a client for ``config``; no connection is opened yet.

        Args:
            config: Where the server is and how to talk to it.
            rng: Random source of the A/B split (``config.ab_split``); seed one to replay a sequence.
            tracer_provider: OpenTelemetry ``TracerProvider`` of the client's spans; the global one
                (what the application set up, if anything) when ``None``.
        """
        self.config = config
        self._tracer = RequestTracer(tracer_provider)
        self._transport: Transport = create_transport(config)
        self._batch_slots = asyncio.Semaphore(config.max_concurrency)
        self._picker = VersionPicker(config.ab_split, rng) if config.ab_split else None

    @property
    def routes(self) -> tuple[str, ...]:
        """The Triton models :meth:`detect` sends to without a per-call version."""
        if self.config.ab_split:
            return tuple(route_name(self.config.model, version) for version, _ in self.config.ab_split)
        return (self._route(None),)

    def _route(self, model_version: str | None) -> str:
        version = model_version or self.config.model_version
        if version is None and self._picker is not None:
            version = self._picker.pick()
        return self.config.model if version is None else route_name(self.config.model, version)

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
        """Close the connection; a later call opens a new one."""
        await self._transport.close()

    async def is_healthy(self) -> bool:
        """Whether the server is live and ready and every model in :attr:`routes` is ready; never
        raises a TritonError."""
        try:
            return (
                await self._transport.is_server_live()
                and await self._transport.is_server_ready()
                and all([await self._transport.is_model_ready(route) for route in self.routes])
            )
        except TritonError:
            return False

    async def repository_index(self) -> tuple[ModelVersionState, ...]:
        """Every model (version) in the server's repository, with its state."""
        entries = await self._transport.repository_index()
        return tuple(ModelVersionState.from_json(entry) for entry in entries)

    async def model_status(self, model: str | None = None) -> ModelStatus:
        """Readiness and per-version state of ``model`` (default: ``config.model``).

        Uses the open metadata and readiness APIs, not the repository index, which a hardened
        server restricts to holders of the admin key.

        Raises:
            ModelNotReadyError: The server does not know the model.
        """
        name = model or self.config.model
        metadata = await self._transport.model_metadata(name)
        numbers = [str(version) for version in metadata.get("versions", [])]
        states = await asyncio.gather(*(self._transport.is_model_ready(name, number) for number in numbers))
        versions = tuple(
            ModelVersionState(name=name, version=number, state="READY" if ready else "UNAVAILABLE")
            for number, ready in zip(numbers, states, strict=True)
        )
        return ModelStatus(name=name, ready=await self._transport.is_model_ready(name), versions=versions)

    async def statistics(self, model: str | None = None) -> tuple[ModelStatistics, ...]:
        """Inference statistics of ``model`` and, for an ensemble, of the models its steps call.

        Args:
            model: A model name; ``None`` for every model the server has loaded.
        """
        if model is None:
            return parse_statistics(await self._transport.inference_statistics())
        config = await self._transport.model_config(model)
        steps = config.get("ensemble_scheduling", {}).get("step", [])
        names = dict.fromkeys([model, *(str(step["model_name"]) for step in steps)])
        replies = await asyncio.gather(*(self._transport.inference_statistics(name) for name in names))
        return tuple(stats for reply in replies for stats in parse_statistics(reply))

    async def detect(
        self,
        image: bytes,
        *,
        conf_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        model_version: str | None = None,
    ) -> DetectionResult:
        """Detect objects in one encoded JPEG image.

        The thresholds travel as request parameters; the server applies them and the client keeps
        every detection it returns.

        Args:
            image: The bytes of a JPEG file.
            conf_threshold: Minimum confidence; ``config.confidence_threshold`` when ``None``.
            iou_threshold: NMS overlap threshold; ``config.iou_threshold`` when ``None``.
            max_detections: At most this many boxes (1..300); the server's default (300) when ``None``.
            model_version: Detector version to ask (its route); ``None``: ``config.model_version``,
                else an A/B pick (``config.ab_split``), else the entry point ``config.model``.

        Raises:
            InvalidInputError: Empty ``image`` or bad parameters (before sending), or the server
                rejected the image.
            TritonError: The subclass matching the failure, after retries for transient ones.
        """
        inputs = encode_image(image)
        parameters = request_parameters(
            self.config.confidence_threshold if conf_threshold is None else conf_threshold,
            self.config.iou_threshold if iou_threshold is None else iou_threshold,
            max_detections,
        )
        if model_version is not None and not is_version(model_version):
            raise InvalidInputError(f"model_version={model_version!r}: expected a positive integer")
        route = self._route(model_version)  # retries stay on it: an A/B pick holds for the request
        started = time.monotonic()
        deadline = started + self.config.timeout_s

        attributes: dict[str, str | int] = {
            "triton.model": route,
            "triton.protocol": self.config.protocol,
            "image.bytes": len(image),
        }
        with self._tracer.span("TritonClient.detect", attributes) as headers:

            async def attempt() -> dict[str, npt.NDArray[Any]]:
                return await self._transport.infer(
                    route,
                    inputs,
                    OUTPUTS,
                    parameters=parameters,
                    timeout_s=deadline - time.monotonic(),
                    headers=headers,
                )

            outputs: dict[str, npt.NDArray[Any]] = await retry_policy(
                self.config.max_retries, self.config.timeout_s
            )(attempt)
        detections, model_info = decode_detections(outputs)
        return DetectionResult(
            detections=detections, model_info=model_info, latency_s=time.monotonic() - started, route=route
        )

    @overload
    async def detect_batch(
        self,
        images: Sequence[bytes],
        *,
        return_exceptions: Literal[False] = False,
        conf_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        model_version: str | None = None,
    ) -> list[DetectionResult]: ...

    @overload
    async def detect_batch(
        self,
        images: Sequence[bytes],
        *,
        return_exceptions: Literal[True],
        conf_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        model_version: str | None = None,
    ) -> list[DetectionResult | TritonError]: ...

    async def detect_batch(
        self,
        images: Sequence[bytes],
        *,
        return_exceptions: bool = False,
        conf_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        model_version: str | None = None,
    ) -> list[DetectionResult] | list[DetectionResult | TritonError]:
        """Detect objects in many images with concurrent requests, which Triton's dynamic batcher groups.

        At most ``config.max_concurrency`` requests of this client's batches are in flight at once.
        Every request runs to its end (with its own retries) whatever happens to the others.

        Args:
            images: The bytes of JPEG files.
            return_exceptions: When True, a failed image yields its :class:`TritonError` in its place.
                When False, the first failure in input order is raised once all requests have ended.
            conf_threshold: As in :meth:`detect`.
            iou_threshold: As in :meth:`detect`.
            max_detections: As in :meth:`detect`.
            model_version: As in :meth:`detect`; without it each image gets its own A/B pick.

        Returns:
            One entry per image, in input order.
        """

        async def detect_one(image: bytes) -> DetectionResult:
            async with self._batch_slots:
                return await self.detect(
                    image,
                    conf_threshold=conf_threshold,
                    iou_threshold=iou_threshold,
                    max_detections=max_detections,
                    model_version=model_version,
                )

        outcomes = await asyncio.gather(*(detect_one(image) for image in images), return_exceptions=True)
        results: list[DetectionResult | TritonError] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, TritonError):
                raise outcome
            results.append(outcome)
        if not return_exceptions:
            first_error = next((result for result in results if isinstance(result, TritonError)), None)
            if first_error is not None:
                raise first_error
        return results
