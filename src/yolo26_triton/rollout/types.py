"""What the migration facade returns and reports: results, shadow records, the observer protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from yolo26_triton.client import Detections
from yolo26_triton.rollout.agreement import ImageAgreement

Backend = Literal["triton", "local"]
Role = Literal["serve", "shadow"]
ShadowStatus = Literal["compared", "failed", "dropped"]
CIRCUIT_OPEN = "circuit_open"
"""``RolloutResult.fallback`` (and the fallback metric's reason) while the circuit breaker is open."""


@dataclass(frozen=True)
class ShadowRecord:
    """What shadow mode found for one request answered in-process.

    Attributes:
        status: ``compared`` (Triton answered), ``failed`` (it did not) or ``dropped`` (not sent:
            too many shadow requests in flight).
        local_latency_s: The in-process answer's latency.
        triton_latency_s: Triton's latency, when it answered.
        agreement: Triton's boxes matched against the in-process ones, when it answered.
        error: ``"ErrorType: message"`` when Triton failed.
    """

    status: ShadowStatus
    local_latency_s: float
    triton_latency_s: float | None = None
    agreement: ImageAgreement | None = None
    error: str | None = None


@dataclass(frozen=True)
class RolloutResult:
    """The answer to one request, from whichever side answered.

    Attributes:
        detections: What was found, in pixels of the original image.
        backend: ``triton`` or ``local`` (in-process Ultralytics).
        latency_s: Seconds the answering side took (Triton: retries included; a fallback: the
            in-process call only).
        model_info: Triton's ``MODEL_INFO``, or the in-process model's weights and settings.
        route: The Triton model that answered (``detect_ensemble``, ``detect_ensemble_v2``), or None.
        fallback: Why a request routed to Triton was answered in-process: the Triton error's type, or
            ``circuit_open``; None when it was not.
        shadow: In shadow mode, for an in-process answer: a future of the comparison with Triton,
            done when Triton has answered (await it, or ignore it). None otherwise.
    """

    detections: Detections
    backend: Backend
    latency_s: float
    model_info: Mapping[str, Any]
    route: str | None = None
    fallback: str | None = None
    shadow: asyncio.Future[ShadowRecord] | None = None

    @property
    def model_version(self) -> str | None:
        """The Triton detector version that answered; None in-process."""
        return self.detections.model_version


class RolloutObserver(Protocol):
    """What the detector reports as it goes; :class:`~yolo26_triton.rollout.metrics.RolloutMetrics`
    turns it into Prometheus metrics."""

    def request(self, backend: str, role: str) -> None: ...
    def answer(self, backend: str, role: str, latency_s: float) -> None: ...
    def error(self, backend: str, role: str, error: str) -> None: ...
    def fallback(self, reason: str) -> None: ...
    def circuit(self, is_open: bool) -> None: ...
    def rollout(self, percent: float) -> None: ...
    def shadow_compared(self, agreement: ImageAgreement) -> None: ...
    def shadow_drop(self) -> None: ...


class Unobserved:
    """The observer when no metrics are wanted (the command line)."""

    def request(self, backend: str, role: str) -> None:
        pass

    def answer(self, backend: str, role: str, latency_s: float) -> None:
        pass

    def error(self, backend: str, role: str, error: str) -> None:
        pass

    def fallback(self, reason: str) -> None:
        pass

    def circuit(self, is_open: bool) -> None:
        pass

    def rollout(self, percent: float) -> None:
        pass

    def shadow_compared(self, agreement: ImageAgreement) -> None:
        pass

    def shadow_drop(self) -> None:
        pass
