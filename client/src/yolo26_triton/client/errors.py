"""The one exception hierarchy of the client, and the one place that maps Triton failures onto it.

::

    TritonError                     base; .status (e.g. "StatusCode.UNAVAILABLE", "400") and .message
    ├── InvalidInputError           INVALID_ARGUMENT / 400: bad image bytes, bad parameters
    ├── ModelNotReadyError          NOT_FOUND / 404, "unknown model", "is not ready"
    ├── AccessDeniedError           a restricted API called without the right key (TRITON_ADMIN_KEY);
    │                               Triton answers UNAVAILABLE for it over gRPC, yet it is final
    ├── ServerUnavailableError      transient: UNAVAILABLE / 503, RESOURCE_EXHAUSTED / 429,
    │                               queue full, connection refused or reset
    ├── InferenceTimeoutError       transient: DEADLINE_EXCEEDED / 504, client-side timeouts
    └── ServerError                 INTERNAL / 500 and everything else

Only :class:`ServerUnavailableError` and :class:`InferenceTimeoutError` are ``is_transient``; the retry
policy retries nothing else. Callers map with ``raise from_triton_exception(e) from e``.
"""

from __future__ import annotations

from typing import ClassVar

import aiohttp
import grpc
from tritonclient.utils import InferenceServerException

__all__ = [
    "TRANSPORT_ERRORS",
    "AccessDeniedError",
    "InferenceTimeoutError",
    "InvalidInputError",
    "ModelNotReadyError",
    "ServerError",
    "ServerUnavailableError",
    "TritonError",
    "from_triton_exception",
]


class TritonError(Exception):
    """A call to the Triton server failed.

    Attributes:
        message: The server's (or the transport's) own words.
        status: The status as tritonclient reports it: ``"StatusCode.<NAME>"`` over gRPC, the HTTP
            status code as a string over HTTP, ``None`` when the failure never reached the server.
        is_transient: Whether trying again later may succeed.
    """

    is_transient: ClassVar[bool] = False

    def __init__(self, message: str, *, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"[{self.status}] {self.message}" if self.status else self.message


class InvalidInputError(TritonError):
    """The request was rejected as malformed: bad image bytes, out-of-range parameters."""


class ModelNotReadyError(TritonError):
    """The model is unknown to the server, or not loaded and ready."""


class AccessDeniedError(TritonError):
    """A restricted API (model repository, logging, trace, shared memory) was called without its key."""


class ServerUnavailableError(TritonError):
    """The server cannot take the request now: unreachable, shutting down or its queue is full."""

    is_transient: ClassVar[bool] = True


class InferenceTimeoutError(TritonError):
    """No answer arrived within the deadline."""

    is_transient: ClassVar[bool] = True


class ServerError(TritonError):
    """The server failed while handling a valid request, or failed in a way not classified above."""


# What can escape a tritonclient aio call besides programming errors. ``TimeoutError`` is also
# ``asyncio.TimeoutError``; ``OSError`` covers ``ConnectionError`` and aiohttp's socket errors.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    InferenceServerException,
    grpc.RpcError,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
)

_BY_STATUS: dict[str, type[TritonError]] = {
    "StatusCode.INVALID_ARGUMENT": InvalidInputError,
    "StatusCode.OUT_OF_RANGE": InvalidInputError,
    "StatusCode.NOT_FOUND": ModelNotReadyError,
    "StatusCode.UNAVAILABLE": ServerUnavailableError,
    "StatusCode.RESOURCE_EXHAUSTED": ServerUnavailableError,
    "StatusCode.DEADLINE_EXCEEDED": InferenceTimeoutError,
    "StatusCode.PERMISSION_DENIED": AccessDeniedError,
    "StatusCode.UNAUTHENTICATED": AccessDeniedError,
    "401": AccessDeniedError,
    "403": AccessDeniedError,
    "400": InvalidInputError,
    # The front's refusals of a request itself (deploy/front): no body length, too large, compressed.
    "411": InvalidInputError,
    "413": InvalidInputError,
    "415": InvalidInputError,
    "404": ModelNotReadyError,
    "429": ServerUnavailableError,
    "502": ServerUnavailableError,
    "503": ServerUnavailableError,
    "408": InferenceTimeoutError,
    "504": InferenceTimeoutError,
}

# Triton words these the same over both protocols, whatever status it attaches.
_MODEL_NOT_READY_PHRASES = (
    "unknown model",
    "is not ready",
    "not at ready state",
    "has no available versions",
)
# Triton's answer to a restricted API called without the key (HTTP 4xx, gRPC UNAVAILABLE).
_ACCESS_DENIED_PHRASES = ("is restricted, expecting header",)
# For failures that carry no status (raised on the client side before or without a response).
_UNAVAILABLE_PHRASES = (
    "failed to connect",
    "connect failed",
    "connection refused",
    "connection reset",
    "socket closed",
    "exceeds maximum queue size",
)
_TIMEOUT_PHRASES = ("deadline exceeded", "timed out")


def from_triton_exception(error: Exception) -> TritonError:
    """Map a failure of a tritonclient call onto the client's exception hierarchy.

    Args:
        error: An :class:`~tritonclient.utils.InferenceServerException`, or an error that escaped
            tritonclient: ``grpc.RpcError``, ``aiohttp.ClientError``, ``TimeoutError``, ``OSError``.
            Anything else becomes a :class:`ServerError`.

    Returns:
        The mapped error, to be raised ``from error``.
    """
    if isinstance(error, InferenceServerException):
        return _classify(str(error.message() or ""), error.status())
    if isinstance(error, grpc.aio.AioRpcError):
        return _classify(str(error.details() or ""), str(error.code()))
    if isinstance(error, TimeoutError):
        return InferenceTimeoutError(_describe(error, "no response before the client timeout"))
    if isinstance(error, aiohttp.ClientResponseError):
        return _classify(error.message, str(error.status))
    if isinstance(error, aiohttp.ClientConnectionError | ConnectionError):
        return ServerUnavailableError(_describe(error, "connection failed"))
    return ServerError(_describe(error, "unexpected failure"))


def _classify(message: str, status: str | None) -> TritonError:
    lowered = message.lower()
    error_type: type[TritonError]
    if any(phrase in lowered for phrase in _ACCESS_DENIED_PHRASES):
        error_type = AccessDeniedError
    elif any(phrase in lowered for phrase in _MODEL_NOT_READY_PHRASES):
        error_type = ModelNotReadyError
    elif status in _BY_STATUS:
        error_type = _BY_STATUS[status]
    elif any(phrase in lowered for phrase in _UNAVAILABLE_PHRASES):
        error_type = ServerUnavailableError
    elif any(phrase in lowered for phrase in _TIMEOUT_PHRASES):
        error_type = InferenceTimeoutError
    else:
        error_type = ServerError
    return error_type(message, status=status)


def _describe(error: Exception, fallback: str) -> str:
    detail = str(error) or fallback
    return f"{type(error).__name__}: {detail}"
