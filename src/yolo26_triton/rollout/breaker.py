"""The circuit breaker in front of Triton (``purgatory``), for ``TRITON_FALLBACK``.

Opens after ``failures`` failed calls in a row (bad input, :class:`InvalidInputError`, does not
count); while open, calls fail at once with :class:`CircuitOpenError`, without reaching Triton;
``reset_s`` seconds later the next calls go through (half-open): a success closes it, a failure opens
it again. The state lives in this process.

``purgatory`` (the ``rollout`` extra) is imported when a breaker is created, so that a configuration
without fallback does not need it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from yolo26_triton.client import InvalidInputError
from yolo26_triton.rollout.errors import RolloutError

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class CircuitOpenError(RolloutError):
    """The breaker refused to call Triton (the facade answers in-process; callers never see it)."""


class CircuitBreaker:
    """Calls Triton through the breaker and tells ``on_change`` whether it is open.

    Args:
        failures: Failed calls in a row that open it.
        reset_s: Seconds it stays open.
        on_change: Called with True when it opens, False when it half-opens or closes.

    Raises:
        RolloutError: ``purgatory`` is not installed.
    """

    _NAME = "triton"

    def __init__(self, failures: int, reset_s: float, on_change: Callable[[bool], None]) -> None:
        try:
            from purgatory import AsyncCircuitBreakerFactory
            from purgatory.domain.model import OpenedState
        except ImportError as error:
            raise RolloutError(
                "TRITON_FALLBACK=true needs the circuit breaker: "
                f"pip install 'yolo26-triton[rollout]' ({error})"
            ) from error
        self._opened_state = OpenedState
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=failures, default_ttl=reset_s, exclude=[InvalidInputError]
        )
        self._failures = failures
        self._on_change = on_change
        self._factory.add_listener(self._on_event)

    def _on_event(self, name: str, event_type: str, event: Any) -> None:
        if event_type == "state_changed":
            self._on_change(event.state == "opened")
            if event.state == "opened":
                log.warning("Triton failed %d times in a row: circuit breaker open", self._failures)
            else:
                log.info("circuit breaker %s", event.state)

    async def call(self, function: Callable[[], Awaitable[_T]]) -> _T:
        """``await function()`` unless the breaker is open.

        Raises:
            CircuitOpenError: The breaker is open; ``function`` was not called.
        """
        breaker = await self._factory.get_breaker(self._NAME)
        try:
            async with breaker:
                return await function()
        except self._opened_state as error:
            raise CircuitOpenError(str(error)) from error
