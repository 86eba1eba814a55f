"""from_triton_exception: every status and message tritonclient produces maps to one error type."""

import aiohttp
import grpc
import pytest
from tritonclient.utils import InferenceServerException

from yolo26_triton.client import (
    AccessDeniedError,
    InferenceTimeoutError,
    InvalidInputError,
    ModelNotReadyError,
    ServerError,
    ServerUnavailableError,
    TritonError,
)
from yolo26_triton.client.errors import from_triton_exception


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        # gRPC: tritonclient formats the status as str(grpc.StatusCode.X)
        ("StatusCode.INVALID_ARGUMENT", "unable to decode the image: not a JPEG", InvalidInputError),
        ("StatusCode.OUT_OF_RANGE", "max_detections out of range", InvalidInputError),
        ("StatusCode.NOT_FOUND", "no such model", ModelNotReadyError),
        ("StatusCode.UNAVAILABLE", "Server is shutting down", ServerUnavailableError),
        ("StatusCode.UNAVAILABLE", "Exceeds maximum queue size", ServerUnavailableError),
        ("StatusCode.RESOURCE_EXHAUSTED", "rate limit exceeded", ServerUnavailableError),
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", InferenceTimeoutError),
        ("StatusCode.INTERNAL", "Failed to process the request(s) for model 'detect_ensemble'", ServerError),
        ("StatusCode.UNKNOWN", "Exception calling application", ServerError),
        ("StatusCode.CANCELLED", "Locally cancelled by application!", ServerError),
        ("StatusCode.UNIMPLEMENTED", "unsupported", ServerError),
        # HTTP: tritonclient formats the status as str(response.status)
        ("400", "unable to decode the image: not a JPEG", InvalidInputError),
        ("404", "no such model", ModelNotReadyError),
        ("411", "front: a request body needs a Content-Length", InvalidInputError),
        ("413", "front: request body too large", InvalidInputError),
        ("415", "front: compressed request bodies are not accepted", InvalidInputError),
        ("429", "too many requests", ServerUnavailableError),
        ("502", "bad gateway", ServerUnavailableError),
        ("503", "Exceeds maximum queue size", ServerUnavailableError),
        ("408", "request timeout", InferenceTimeoutError),
        ("504", "gateway timeout", InferenceTimeoutError),
        ("500", "Failed to process the request(s)", ServerError),
        ("409", "conflict", ServerError),
    ],
)
def test_status_codes(status: str, message: str, expected: type[TritonError]) -> None:
    error = from_triton_exception(InferenceServerException(msg=message, status=status))
    assert type(error) is expected
    assert error.status == status
    assert error.message == message


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("StatusCode.NOT_FOUND", "Request for unknown model: 'detect_ensemble' is not found"),
        ("StatusCode.UNAVAILABLE", "Request for unknown model: 'detect_ensemble' has no available versions"),
        ("StatusCode.INVALID_ARGUMENT", "Request for unknown model: 'yolo27' is not found"),
        ("400", "Request for unknown model: 'detect_ensemble' version 1 is not at ready state"),
        ("503", "model 'yolo26' is not ready"),
        (None, "Request for unknown model: 'x' is not found"),
    ],
)
def test_model_not_ready_messages_win_over_the_status(status: str | None, message: str) -> None:
    error = from_triton_exception(InferenceServerException(msg=message, status=status))
    assert type(error) is ModelNotReadyError
    assert not error.is_transient


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("failed to connect to all addresses; last error: Connection refused", ServerUnavailableError),
        ("unable to connect: Connection refused", ServerUnavailableError),
        ("Socket closed", ServerUnavailableError),
        ("Deadline Exceeded", InferenceTimeoutError),
        ("the request timed out", InferenceTimeoutError),
        ("url should not include the scheme", ServerError),
    ],
)
def test_messages_without_status(message: str, expected: type[TritonError]) -> None:
    error = from_triton_exception(InferenceServerException(msg=message))
    assert type(error) is expected
    assert error.status is None


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (TimeoutError(), InferenceTimeoutError),
        (TimeoutError(), InferenceTimeoutError),
        (aiohttp.ServerTimeoutError("read timed out"), InferenceTimeoutError),
        (aiohttp.ServerDisconnectedError(), ServerUnavailableError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), ServerUnavailableError),
        (ConnectionRefusedError(111, "Connection refused"), ServerUnavailableError),
        (ConnectionResetError(), ServerUnavailableError),
        (aiohttp.ClientPayloadError("truncated body"), ServerError),
        (ValueError("something unexpected"), ServerError),
    ],
)
def test_errors_escaping_tritonclient(cause: Exception, expected: type[TritonError]) -> None:
    error = from_triton_exception(cause)
    assert type(error) is expected
    assert error.status is None
    assert error.message.startswith(type(cause).__name__)


def test_aiohttp_response_error_uses_its_http_status() -> None:
    cause = aiohttp.ClientResponseError(None, (), status=503, message="Service Unavailable")  # type: ignore[arg-type]
    error = from_triton_exception(cause)
    assert type(error) is ServerUnavailableError
    assert error.status == "503"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, ServerUnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, InferenceTimeoutError),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidInputError),
        (grpc.StatusCode.INTERNAL, ServerError),
    ],
)
def test_grpc_aio_errors_escaping_tritonclient(code: grpc.StatusCode, expected: type[TritonError]) -> None:
    cause = grpc.aio.AioRpcError(
        code=code, initial_metadata=grpc.aio.Metadata(), trailing_metadata=grpc.aio.Metadata(), details="boom"
    )
    error = from_triton_exception(cause)
    assert type(error) is expected
    assert (error.status, error.message) == (str(code), "boom")


@pytest.mark.parametrize(
    ("error_type", "transient"),
    [
        (ServerUnavailableError, True),
        (InferenceTimeoutError, True),
        (InvalidInputError, False),
        (ModelNotReadyError, False),
        (ServerError, False),
        (TritonError, False),
    ],
)
def test_only_unavailable_and_timeout_are_transient(error_type: type[TritonError], transient: bool) -> None:
    assert error_type("x").is_transient is transient


def test_str_shows_status_and_message() -> None:
    assert str(InvalidInputError("bad image", status="400")) == "[400] bad image"
    assert str(ServerError("boom")) == "boom"


def test_one_hierarchy() -> None:
    for error_type in (
        InvalidInputError,
        ModelNotReadyError,
        ServerUnavailableError,
        InferenceTimeoutError,
        ServerError,
    ):
        assert issubclass(error_type, TritonError)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        # Triton's own words, seen on the embedded server with restricted APIs (see test_security.py)
        (
            "StatusCode.UNAVAILABLE",
            "This protocol is restricted, expecting header 'triton-grpc-protocol-admin-key'",
        ),
        ("400", "This API is restricted, expecting header 'admin-key'"),
        ("StatusCode.PERMISSION_DENIED", "denied"),
        ("403", "forbidden"),
    ],
)
def test_restricted_api_refusals_are_final_access_denied(status: str, message: str) -> None:
    error = from_triton_exception(InferenceServerException(msg=message, status=status))
    assert type(error) is AccessDeniedError
    assert not error.is_transient
