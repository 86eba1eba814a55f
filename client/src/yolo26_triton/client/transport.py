"""One interface over tritonclient's two asyncio clients (gRPC and HTTP).

Both transports return plain data: booleans, JSON-shaped dicts (gRPC replies are asked for
``as_json=True``; its 64-bit integers then arrive as strings) and numpy arrays. Every failure leaves as
a :class:`~yolo26_triton.client.errors.TritonError`.

The tritonclient object is created on first use, inside the running event loop: a gRPC aio channel
and an aiohttp session both belong to the loop they were made in. A transport therefore serves one
event loop; using it from another raises ``RuntimeError``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import tritonclient.grpc.aio as grpcclient
import tritonclient.http.aio as httpclient
from tritonclient.utils import np_to_triton_dtype

from yolo26_triton.client.config import TritonConfig
from yolo26_triton.client.errors import TRANSPORT_ERRORS, ServerError, from_triton_exception
from yolo26_triton.contract import ADMIN_KEY_HEADER, GRPC_ADMIN_KEY_HEADER

JsonDict = dict[str, Any]
ParameterValue = bool | int | float | str


class Transport(Protocol):
    """What the client needs from a Triton connection, whatever the protocol."""

    async def is_server_live(self) -> bool:
        """Whether the server answers its liveness probe."""
        ...

    async def is_server_ready(self) -> bool:
        """Whether the server is ready for inference."""
        ...

    async def is_model_ready(self, model: str, version: str = "") -> bool:
        """Whether ``model`` (the given version, else the one its policy serves) is ready."""
        ...

    async def model_metadata(self, model: str) -> JsonDict:
        """The model's metadata: ``name``, ``versions``, ``platform``, ``inputs``, ``outputs``."""
        ...

    async def repository_index(self) -> list[JsonDict]:
        """One dict per model version in the repository: ``name``, ``version``, ``state``, ``reason``."""
        ...

    async def model_config(self, model: str) -> JsonDict:
        """The model's configuration, as JSON (``config.pbtxt`` fields)."""
        ...

    async def inference_statistics(self, model: str = "") -> JsonDict:
        """The statistics extension's reply, ``{"model_stats": [...]}``; every model when ``model`` is ""."""
        ...

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, npt.NDArray[Any]],
        outputs: Sequence[str],
        *,
        parameters: Mapping[str, ParameterValue],
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, npt.NDArray[Any]]:
        """Run one inference request and return the named outputs; ``headers`` go with it (HTTP
        headers, gRPC metadata), e.g. the W3C ``traceparent``."""
        ...

    async def close(self) -> None:
        """Release the connection; the transport may be used again afterwards (it reconnects)."""
        ...


def create_transport(config: TritonConfig) -> Transport:
    """The transport for ``config.protocol``, aimed at ``config.endpoint``."""
    if config.protocol == "grpc":
        return GrpcTransport(config.endpoint, timeout_s=config.timeout_s, admin_key=config.admin_key)
    return HttpTransport(config.endpoint, timeout_s=config.timeout_s, admin_key=config.admin_key)


def outputs_as_numpy(result: Any, names: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
    """Read ``names`` out of a tritonclient ``InferResult`` (either protocol).

    Raises:
        ServerError: The response lacks one of the outputs.
    """
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name in names:
        array = result.as_numpy(name)
        if array is None:
            raise ServerError(f"the response has no output {name!r}")
        arrays[name] = array
    return arrays


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except TRANSPORT_ERRORS as error:
        raise from_triton_exception(error) from error


class _LoopBoundClient(abc.ABC):
    """Creates the tritonclient object lazily and keeps it to the event loop it was made in."""

    admin_key_header: str
    """Header that carries the key of Triton's restricted APIs for this protocol."""

    def __init__(self, url: str, timeout_s: float, admin_key: str | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._admin_headers = {self.admin_key_header: admin_key} if admin_key else None
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @abc.abstractmethod
    def _connect(self) -> Any:
        """Create the tritonclient ``InferenceServerClient`` (called inside the running loop)."""

    def client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None:
            self._client = self._connect()
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                f"this Triton connection to {self.url} was opened in another event loop; "
                "create one client per event loop"
            )
        return self._client

    async def close(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            with _mapped_errors():
                await client.close()


class GrpcTransport(_LoopBoundClient):
    """Triton over gRPC (``tritonclient.grpc.aio``); deadlines travel to the server."""

    admin_key_header = GRPC_ADMIN_KEY_HEADER

    def _connect(self) -> Any:
        return grpcclient.InferenceServerClient(url=self.url)

    async def is_server_live(self) -> bool:
        with _mapped_errors():
            return bool(await self.client().is_server_live(client_timeout=self.timeout_s))

    async def is_server_ready(self) -> bool:
        with _mapped_errors():
            return bool(await self.client().is_server_ready(client_timeout=self.timeout_s))

    async def is_model_ready(self, model: str, version: str = "") -> bool:
        with _mapped_errors():
            return bool(await self.client().is_model_ready(model, version, client_timeout=self.timeout_s))

    async def model_metadata(self, model: str) -> JsonDict:
        with _mapped_errors():
            return dict(
                await self.client().get_model_metadata(model, as_json=True, client_timeout=self.timeout_s)
            )

    async def repository_index(self) -> list[JsonDict]:
        with _mapped_errors():
            reply = await self.client().get_model_repository_index(
                headers=self._admin_headers, as_json=True, client_timeout=self.timeout_s
            )
        return list(reply.get("models", []))

    async def model_config(self, model: str) -> JsonDict:
        with _mapped_errors():
            reply = await self.client().get_model_config(model, as_json=True, client_timeout=self.timeout_s)
        return dict(reply.get("config", {}))

    async def inference_statistics(self, model: str = "") -> JsonDict:
        with _mapped_errors():
            return dict(
                await self.client().get_inference_statistics(
                    model, as_json=True, client_timeout=self.timeout_s
                )
            )

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, npt.NDArray[Any]],
        outputs: Sequence[str],
        *,
        parameters: Mapping[str, ParameterValue],
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, npt.NDArray[Any]]:
        infer_inputs = [_infer_input(grpcclient.InferInput, name, array) for name, array in inputs.items()]
        with _mapped_errors():
            result = await self.client().infer(
                model,
                infer_inputs,
                outputs=[grpcclient.InferRequestedOutput(name) for name in outputs],
                parameters=dict(parameters),
                headers=dict(headers) if headers else None,
                client_timeout=timeout_s,
            )
        return outputs_as_numpy(result, outputs)


class HttpTransport(_LoopBoundClient):
    """Triton over HTTP/REST (``tritonclient.http.aio``, aiohttp); tensors travel as binary data."""

    admin_key_header = ADMIN_KEY_HEADER

    def _connect(self) -> Any:
        return httpclient.InferenceServerClient(url=self.url, conn_timeout=self.timeout_s)

    async def is_server_live(self) -> bool:
        with _mapped_errors():
            async with asyncio.timeout(self.timeout_s):
                return bool(await self.client().is_server_live())

    async def is_server_ready(self) -> bool:
        with _mapped_errors():
            async with asyncio.timeout(self.timeout_s):
                return bool(await self.client().is_server_ready())

    async def is_model_ready(self, model: str, version: str = "") -> bool:
        with _mapped_errors():
            async with asyncio.timeout(self.timeout_s):
                return bool(await self.client().is_model_ready(model, version))

    async def model_metadata(self, model: str) -> JsonDict:
        with _mapped_errors():
            async with asyncio.timeout(self.timeout_s):
                return dict(await self.client().get_model_metadata(model))

    async def repository_index(self) -> list[JsonDict]:
        with _mapped_errors():
            async with asyncio.timeout(self.timeout_s):
                return list(await self.client().get_model_repository_index(headers=self._admin_headers))

    async def model_config(self, model: str) -> JsonDict:
        with _mapped_errors():
            async with asyncio.timeout(self.timeout_s):
                return dict(await self.client().get_model_config(model))

    async def inference_statistics(self, model: str = "") -> JsonDict:
        with _mapped_errors():
            async with asyncio.timeout(self.timeout_s):
                return dict(await self.client().get_inference_statistics(model))

    async def infer(
        self,
        model: str,
        inputs: Mapping[str, npt.NDArray[Any]],
        outputs: Sequence[str],
        *,
        parameters: Mapping[str, ParameterValue],
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, npt.NDArray[Any]]:
        infer_inputs = [_infer_input(httpclient.InferInput, name, array) for name, array in inputs.items()]
        with _mapped_errors():
            async with asyncio.timeout(timeout_s):
                result = await self.client().infer(
                    model,
                    infer_inputs,
                    outputs=[httpclient.InferRequestedOutput(name) for name in outputs],
                    parameters=dict(parameters),
                    headers=dict(headers) if headers else None,
                )
        return outputs_as_numpy(result, outputs)


def _infer_input(input_type: Any, name: str, array: npt.NDArray[Any]) -> Any:
    infer_input = input_type(name, list(array.shape), np_to_triton_dtype(array.dtype))
    infer_input.set_data_from_numpy(np.ascontiguousarray(array))
    return infer_input
