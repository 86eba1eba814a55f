"""The server image in a real container, where a Docker engine exists (skipped cleanly elsewhere).

Builds ``container/triton.Dockerfile`` (the NGC tritonserver image plus the ops package), serves the
built repository with the CPU configs (``--model-config-name=cpu``: no GPU needed), and sends the
compose healthcheck's request and a sample JPEG through ``detect_ensemble``: the container path of
the shared ops package and of the model.py files, end to end. Needs a Docker engine and the network
to pull the NGC image; set ``YOLO26_CONTAINER_TESTS=1`` to run it (minutes).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import numpy as np
import pytest
import tritonclient.http as httpclient
from docker.errors import DockerException

from yolo26_triton.contract import ENTRY_POINT
from yolo26_triton.serving.options import free_port

from ..sample_images import SAMPLE_IMAGES
from .server_calls import HEALTHCHECK_REQUEST

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
IMAGE_TAG = "yolo26-triton-server:test"


@pytest.fixture(scope="module")
def engine() -> Any:
    """A Docker client, or a clean skip."""
    if os.environ.get("YOLO26_CONTAINER_TESTS") != "1":
        pytest.skip("container tests are opt-in: YOLO26_CONTAINER_TESTS=1 (needs a Docker engine)")
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as error:
        pytest.skip(f"no Docker engine: {error}")
    return client


@pytest.fixture(scope="module")
def container_url(engine: Any, repository: Path) -> Iterator[str]:
    """The CPU profile served by the project's server image; yields its HTTP host:port."""
    engine.images.build(path=str(ROOT), dockerfile="container/triton.Dockerfile", tag=IMAGE_TAG, rm=True)
    port = free_port()
    container = engine.containers.run(
        IMAGE_TAG,
        ["tritonserver", "--model-repository=/models", "--model-config-name=cpu", "--strict-readiness=true"],
        volumes={str(repository): {"bind": "/models", "mode": "ro"}},
        ports={"8000/tcp": ("127.0.0.1", port)},
        shm_size="1g",
        detach=True,
        remove=True,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        container.stop(timeout=10)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"http://{url}/v2/models/detect_ensemble/infer", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except (urllib.error.HTTPError, urllib.error.URLError, OSError) as error:
        return int(getattr(error, "code", 0))


def test_container_serves_the_ensemble(container_url: str) -> None:
    deadline = time.monotonic() + 300
    healthcheck = HEALTHCHECK_REQUEST.read_bytes()
    while post(container_url, healthcheck, {"Content-Type": "application/json"}) != 200:
        assert time.monotonic() < deadline, "the container never answered the healthcheck request"
        time.sleep(2)
    client = httpclient.InferenceServerClient(container_url)
    try:
        data = np.frombuffer(SAMPLE_IMAGES[0].read_bytes(), np.uint8)[None]
        tensor = httpclient.InferInput("IMAGE", list(data.shape), "UINT8")
        tensor.set_data_from_numpy(data)
        result = client.infer(ENTRY_POINT, [tensor], parameters={"conf_threshold": 0.0})
        assert result.as_numpy("SCORES").shape[1] > 0
    finally:
        client.close()
