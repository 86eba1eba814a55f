"""Security defaults of the launched server: loopback only, restricted APIs closed without the key."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from yolo26_triton.server import ADMIN_KEY_HEADER, EmbeddedServer

from ..conftest import ADMIN_KEY

pytestmark = pytest.mark.integration
RESTRICTED_HTTP = [
    ("POST", "/v2/repository/index"),
    ("GET", "/v2/logging"),
    ("GET", "/v2/trace/setting"),
    ("GET", "/v2/systemsharedmemory/status"),
]


def http_status(server: EmbeddedServer, method: str, path: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        f"http://{server.options.http_url}{path}", method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.parametrize(("method", "path"), RESTRICTED_HTTP)
def test_restricted_http_apis_need_the_key(server: EmbeddedServer, method: str, path: str) -> None:
    assert http_status(server, method, path, {}) >= 400
    assert http_status(server, method, path, {ADMIN_KEY_HEADER: "wrong"}) >= 400
    assert http_status(server, method, path, {ADMIN_KEY_HEADER: ADMIN_KEY}) == 200


def test_open_apis_need_no_key(server: EmbeddedServer) -> None:
    for path in (
        "/v2/health/ready",
        "/v2/models/detect_ensemble",
        "/v2/models/detect_ensemble/config",
        "/v2/models/stats",
    ):
        assert http_status(server, "GET", path, {}) == 200, path


def test_restricted_grpc_protocol_needs_the_key(server: EmbeddedServer) -> None:
    client = grpcclient.InferenceServerClient(server.options.grpc_url)
    try:
        with pytest.raises(InferenceServerException, match="restricted"):
            client.get_model_repository_index()
        index = client.get_model_repository_index(
            headers={f"triton-grpc-protocol-{ADMIN_KEY_HEADER}": ADMIN_KEY}
        )
        assert {model.name for model in index.models} >= {"detect_ensemble", "yolo26"}
    finally:
        client.close()


def test_server_listens_on_loopback_only(server: EmbeddedServer) -> None:
    assert server.options.host == "127.0.0.1"
    command = " ".join(server.command())
    for flag in (
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--exit-on-error=true",
    ):
        assert flag in command
