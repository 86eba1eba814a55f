"""Calls on a running test server that several integration modules make.

A plain tritonclient request to ``detect_ensemble`` (:func:`infer`, without the project's client), the
project client's settings for a server (:func:`client_config`), the compose healthcheck's request
(:func:`healthcheck_status`) and a model's inference count from Triton's statistics.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from yolo26_triton.client import TritonClient, TritonConfig
from yolo26_triton.contract import ENSEMBLE_OUTPUTS, ENTRY_POINT, IMAGE
from yolo26_triton.serving.launcher import EmbeddedServer

PROTOCOLS = {"http": httpclient, "grpc": grpcclient}
HEALTHCHECK_REQUEST = Path(__file__).resolve().parents[2] / "container" / "healthcheck-request.json"


def infer(server: EmbeddedServer, protocol: str, image: bytes, **parameters: Any) -> dict[str, np.ndarray]:
    """One detect_ensemble request with tritonclient's plain synchronous API."""
    module = PROTOCOLS[protocol]
    url = server.options.http_url if protocol == "http" else server.options.grpc_url
    client = module.InferenceServerClient(url)
    try:
        data = np.frombuffer(image, dtype=np.uint8)[None]
        tensor = module.InferInput(IMAGE, list(data.shape), "UINT8")
        tensor.set_data_from_numpy(data)
        outputs = [module.InferRequestedOutput(name) for name in ENSEMBLE_OUTPUTS]
        result = client.infer(ENTRY_POINT, [tensor], outputs=outputs, parameters=parameters or None)
        return {name: result.as_numpy(name)[0] for name in ENSEMBLE_OUTPUTS}
    finally:
        client.close()


def client_config(server: EmbeddedServer, **overrides: object) -> TritonConfig:
    """The project client's settings for ``server`` (gRPC and HTTP), with ``overrides``."""
    return TritonConfig(url=server.options.grpc_url, http_url=server.options.http_url, **overrides)  # type: ignore[arg-type]


def healthcheck_status(server: EmbeddedServer) -> int:
    """What the compose healthcheck's curl sees: the status of a one-pixel JPEG through the ensemble."""
    request = urllib.request.Request(
        f"http://{server.options.http_url}/v2/models/{ENTRY_POINT}/infer",
        data=HEALTHCHECK_REQUEST.read_bytes(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def inference_count(server: EmbeddedServer, model: str) -> int:
    """How many inferences ``model`` (every version) has run, from Triton's statistics."""

    async def read() -> int:
        async with TritonClient(client_config(server)) as client:
            statistics = await client.statistics(model)
        return sum(stats.inference_count for stats in statistics if stats.name == model)

    return asyncio.run(read())
