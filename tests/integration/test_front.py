"""The production front (deploy/front/haproxy.cfg, the file compose and Kubernetes use) in front of the
embedded Triton 2.51: every request that crashes or overloads that release is refused by the front,
which never passes it on; normal traffic goes through unchanged.

The crashing requests are first sent straight to a throwaway server of their own, to show that the
front's refusal is what stands between them and a crash. HAProxy comes from Debian (``.ci/run``
installs it); a test without it fails in CI and is skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from yolo26_triton.contract import ENSEMBLE_OUTPUTS, ENTRY_POINT
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions, free_port

from ..front import FRONT_CONFIG, FRONT_DIR, haproxy_binary
from ..sample_images import SAMPLE_IMAGES

pytestmark = pytest.mark.integration
INFER_PATH = "/v2/models/detect_ensemble/infer"
HEALTHCHECK_REQUEST = Path(__file__).resolve().parents[2] / "container" / "healthcheck-request.json"


@dataclass
class Front:
    """HAProxy running deploy/front/haproxy.cfg, its log in a file."""

    process: subprocess.Popen[bytes]
    log: Path
    http_port: int
    grpc_port: int

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log_line(self, marker: str, timeout: float = 5.0) -> str:
        """The last access-log line of a request whose request line holds ``marker``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in reversed(self.log.read_text(errors="replace").splitlines()):
                if marker in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no log line for {marker}: {self.log.read_text()[-2000:]}")


def start_front(server: EmbeddedServer, log: Path) -> Front:
    http_port, grpc_port = free_port(), free_port()
    environment = {
        **os.environ,
        "YOLO26_FRONT_DIR": str(FRONT_DIR),
        "YOLO26_FRONT_HTTP_BIND": f"127.0.0.1:{http_port}",
        "YOLO26_FRONT_GRPC_BIND": f"127.0.0.1:{grpc_port}",
        "YOLO26_TRITON_HTTP": server.options.http_url,
        "YOLO26_TRITON_GRPC": server.options.grpc_url,
    }
    with log.open("w") as sink:
        process = subprocess.Popen(
            [haproxy_binary(), "-db", "-f", str(FRONT_CONFIG)],
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    front = Front(process, log, http_port, grpc_port)
    ready = b"GET /v2/health/ready HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            if exchange(front.http_port, ready)[0] == 200:
                return front
        time.sleep(0.2)
    process.terminate()
    process.wait(timeout=10)
    raise AssertionError(f"the front did not become ready: {log.read_text()}")


def exchange(port: int, request: bytes, *, timeout: float = 30.0) -> tuple[int, bytes]:
    """Sends raw bytes, returns the status and body of the answer (0 if the connection just closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        with contextlib.suppress(OSError):  # the peer may answer and close before reading everything
            connection.sendall(request)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
                head, _, body = answer.partition(b"\r\n\r\n")
                lengths = [
                    line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
                ]
                if lengths and len(body) >= int(lengths[0].split(b":")[1]):
                    break
        except OSError:
            pass
    if not answer.startswith(b"HTTP/1."):
        return 0, answer
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def post(path: str, body: bytes, headers: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}Connection: close\r\n\r\n"
    ).encode() + body


def json_shape_request(shape: list[int], key: str = '"shape"') -> bytes:
    return (
        f'{{"inputs":[{{"name":"IMAGE",{key}:{json.dumps(shape)},"datatype":"UINT8","data":[1]}}]}}'.encode()
    )


def nested_request(depth: int) -> bytes:
    data = "[" * depth + "1" + "]" * depth
    return f'{{"inputs":[{{"name":"IMAGE","shape":[1,1],"datatype":"UINT8","data":{data}}}]}}'.encode()


def chunked_request(path: str, chunks: int, method: str = "POST") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    return head.encode() + b"1\r\nA\r\n" * chunks + b"0\r\n\r\n"


# Finding 1 of the hardening issue, and what else reaches the same code in Triton 2.51.
ATTACKS: dict[str, Callable[[str], bytes]] = {
    "shape_2_62": lambda path: post(path, json_shape_request([1, 2**62])),
    "shape_2_31": lambda path: post(path, json_shape_request([1, 2**31])),
    "shape_escaped_key": lambda path: post(path, json_shape_request([1, 2**62], key='"sh\\u0061pe"')),
    "nested_1e6": lambda path: post(path, nested_request(1_000_000)),
    "nested_8000_in_binary_header": lambda path: post(
        path, nested_request(8000), f"Inference-Header-Content-Length: {len(nested_request(8000))}\r\n"
    ),
    "gzip_bomb": lambda path: post(path, gzip.compress(bytes(300 << 20)), "Content-Encoding: gzip\r\n"),
    "body_250_mb": lambda path: (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {250 << 20}\r\n\r\n".encode() + bytes(1 << 20)
    ),
    "chunked_600k_chunks": lambda path: chunked_request(path, 600_000),
    # Any endpoint reads a chunked body: a public GET too.
    "chunked_get_health": lambda path: chunked_request(
        "/v2/health/ready" + path[path.index("?") :], 600_000, method="GET"
    ),
    "header_length_out_of_range": lambda path: post(
        path, json_shape_request([1, 1]), "Inference-Header-Content-Length: 99999999999\r\n"
    ),
}
REFUSAL_STATUS = {
    "shape_2_62": 400,
    "shape_2_31": 400,
    "shape_escaped_key": 400,
    "nested_1e6": 413,
    "nested_8000_in_binary_header": 400,
    "gzip_bomb": 415,
    "body_250_mb": 413,
    "chunked_600k_chunks": 411,
    "chunked_get_health": 411,
    "header_length_out_of_range": 400,
}
CRASHES_2_51 = ("shape_2_62", "nested_1e6", "chunked_600k_chunks")
"""Requests that kill the embedded 2.51 outright (SIGABRT or SIGSEGV) when they reach it."""


@pytest.fixture(scope="module")
def fronted(
    repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EmbeddedServer, Front]]:
    """A server of this module's own (the front might fail to protect it) and the front before it."""
    folder = tmp_path_factory.mktemp("front")
    with (
        (folder / "tritonserver.log").open("w") as log,
        EmbeddedServer(ServerOptions.on_free_ports(repository=repository), log_file=log) as server,
    ):
        front = start_front(server, folder / "haproxy.log")
        try:
            yield server, front
        finally:
            front.process.terminate()
            front.process.wait(timeout=10)


@pytest.mark.parametrize("name", CRASHES_2_51)
def test_request_crashes_the_unprotected_server(name: str, tmp_path: Path) -> None:
    """What the front prevents: the request alone kills Triton 2.51 (a throwaway server on loopback)."""
    repository = tmp_path / "repository"
    shutil.copytree(FRONT_DIR.parents[1] / "model_repository" / "validate", repository / "validate")
    options = ServerOptions.on_free_ports(repository=repository, detector_slots=0)
    with (tmp_path / "server.log").open("w") as log, EmbeddedServer(options, log_file=log) as server:
        exchange(options.http_port, ATTACKS[name]("/v2/models/validate/infer"))
        assert server.wait(timeout_s=10) in (-6, -11), "the server survived"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_front_refuses_the_request_before_triton(fronted: tuple[EmbeddedServer, Front], name: str) -> None:
    server, front = fronted
    status, body = exchange(front.http_port, ATTACKS[name](f"{INFER_PATH}?attack={name}"))
    assert status == REFUSAL_STATUS[name], (status, body[:200])
    assert body.startswith(b'{"error":"front: '), body[:200]
    line = front.log_line(f"?attack={name} HTTP/1.1")
    assert " http http/<NOSRV> " in line  # refused in the frontend: no server contacted
    assert server.wait(timeout_s=0.1) is None  # and Triton lives


def test_normal_traffic_goes_through(fronted: tuple[EmbeddedServer, Front]) -> None:
    server, front = fronted
    image = np.frombuffer(SAMPLE_IMAGES[0].read_bytes(), np.uint8)[None]
    results = []
    for module, url in (
        (httpclient, front.http_url),
        (grpcclient, front.grpc_url),
        (httpclient, server.options.http_url),
    ):
        client = module.InferenceServerClient(url)
        try:
            tensor = module.InferInput("IMAGE", list(image.shape), "UINT8")
            tensor.set_data_from_numpy(image)
            outputs = [module.InferRequestedOutput(output) for output in ENSEMBLE_OUTPUTS]
            result = client.infer(ENTRY_POINT, [tensor], outputs=outputs)
            results.append(result.as_numpy("BOXES"))
            assert client.is_model_ready(ENTRY_POINT)
        finally:
            client.close()
    assert len(results[0]) > 0
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[2])
    # The compose healthcheck's JSON-only request (a one-pixel JPEG as a JSON array) fits the JSON limit.
    status, _ = exchange(front.http_port, post(INFER_PATH, HEALTHCHECK_REQUEST.read_bytes()))
    assert status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/repository/index"),
        ("GET", "/v2/logging"),
        ("GET", "/v2/systemsharedmemory/status"),
        ("POST", "/v2/systemsharedmemory/region/x/register"),
        ("GET", "/v2/trace/setting"),
        ("POST", "/v2/models/validate/infer"),
        ("POST", "/v2/models/yolo26/infer"),
    ],
)
def test_front_exposes_only_the_entry_points(
    fronted: tuple[EmbeddedServer, Front], method: str, path: str
) -> None:
    _, front = fronted
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
    )
    assert exchange(front.http_port, request)[0] == 403


def test_front_grpc_refuses_private_methods_and_large_messages(fronted: tuple[EmbeddedServer, Front]) -> None:
    _, front = fronted
    client = grpcclient.InferenceServerClient(front.grpc_url)
    try:
        with pytest.raises(InferenceServerException):
            client.get_model_repository_index()
        with pytest.raises(InferenceServerException):
            client.get_system_shared_memory_status()
        large = np.zeros((1, 21 << 20), np.uint8)
        tensor = grpcclient.InferInput("IMAGE", list(large.shape), "UINT8")
        tensor.set_data_from_numpy(large)
        with pytest.raises(InferenceServerException, match="status: 413"):
            client.infer(ENTRY_POINT, [tensor])
        assert client.is_server_ready()
    finally:
        client.close()
    assert " grpc grpc/<NOSRV> " in front.log_line("/ModelInfer")


def test_front_closes_idle_and_slow_clients(fronted: tuple[EmbeddedServer, Front]) -> None:
    """Idle keep-alive connections close after 5 s; headers not complete after 10 s get 408."""
    _, front = fronted
    idle = socket.create_connection(("127.0.0.1", front.http_port), timeout=20)
    slow = socket.create_connection(("127.0.0.1", front.http_port), timeout=20)
    try:
        idle.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: t\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        slow.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
        started = time.monotonic()
        assert idle.recv(65536) == b""  # closed by the front
        idle_closed = time.monotonic() - started
        answer = slow.recv(65536)
        slow_closed = time.monotonic() - started
    finally:
        idle.close()
        slow.close()
    assert 4 <= idle_closed <= 8
    assert answer.startswith(b"HTTP/1.1 408") and 9 <= slow_closed <= 13


def test_front_speaks_http1_with_bounded_headers_on_the_http_port(
    fronted: tuple[EmbeddedServer, Front],
) -> None:
    _, front = fronted
    large = b"GET /v2/health/ready HTTP/1.1\r\nHost: t\r\nX-Large: " + bytes(40_000).replace(b"\0", b"a")
    assert exchange(front.http_port, large + b"\r\nConnection: close\r\n\r\n")[0] == 400
    with socket.create_connection(("127.0.0.1", front.http_port), timeout=10) as connection:
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        client.initiate_connection()
        request = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/v2/health/ready"),
            (":authority", "t"),
        ]
        client.send_headers(1, request, end_stream=True)
        connection.sendall(client.data_to_send())
        status = None
        while status is None and (data := connection.recv(65536)):
            for event in client.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[b":status"]
    assert status == b"400"
