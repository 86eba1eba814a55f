"""Security defaults of the launched server: loopback only, restricted APIs closed without the key, a
key on the command line that opens nothing, shared-memory regions other local users cannot see."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from yolo26_triton.contract import ADMIN_KEY_HEADER, ENTRY_POINT
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions

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
        f"/v2/models/{ENTRY_POINT}",
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
        assert {model.name for model in index.models} >= {ENTRY_POINT, "yolo26"}
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


@pytest.fixture(scope="module")
def keyless_server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server started as ``triton-detect serve`` starts it without $TRITON_ADMIN_KEY."""
    log_path = tmp_path_factory.mktemp("keyless") / "tritonserver.log"
    with (
        log_path.open("w") as log,
        EmbeddedServer(ServerOptions.on_free_ports(repository=repository), log_file=log) as running,
    ):
        yield running


def restricted_flags(server: EmbeddedServer) -> dict[str, bytes]:
    """The restricted-API flags any local user reads in /proc/<pid>/cmdline (issue finding 2)."""
    arguments = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    flags = {}
    for flag in (b"--http-restricted-api=", b"--grpc-restricted-protocol="):
        (argument,) = [argument for argument in arguments if argument.startswith(flag)]
        flags[flag.decode().strip("-=")] = argument[len(flag) :].split(b":", 1)[1]  # header=key
    return flags


def raw_status(server: EmbeddedServer, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", server.options.http_port), timeout=10) as connection:
        connection.sendall(request)
        answer = connection.recv(65536)
    return int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.") else 0


def raw_grpc_status(server: EmbeddedServer, header: tuple[bytes, bytes]) -> str:
    """What an attacker's own HTTP/2 client gets for SystemSharedMemoryStatus with ``header``."""
    with socket.create_connection(("127.0.0.1", server.options.grpc_port), timeout=10) as connection:
        config = h2.config.H2Configuration(
            client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False
        )
        client = h2.connection.H2Connection(config)
        client.initiate_connection()
        path = b"/inference.GRPCInferenceService/SystemSharedMemoryStatus"
        request = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", path), (b":authority", b"t")]
        client.send_headers(
            1, [*request, (b"content-type", b"application/grpc"), (b"te", b"trailers"), header]
        )
        client.send_data(1, bytes(5), end_stream=True)  # an empty request message
        connection.sendall(client.data_to_send())
        while data := connection.recv(65536):
            for event in client.receive_data(data):
                if isinstance(event, h2.events.StreamReset):
                    return "reset"
                if isinstance(event, h2.events.TrailersReceived | h2.events.ResponseReceived):
                    status = dict(event.headers).get(b"grpc-status")
                    if status is not None:
                        return status.decode()
            connection.sendall(client.data_to_send())
    return "closed"


def test_the_key_on_the_command_line_opens_nothing(keyless_server: EmbeddedServer) -> None:
    """Without a user's key, the one Triton gets is readable by all but no request can carry it."""
    flags = restricted_flags(keyless_server)
    header, _, key = flags["http-restricted-api"].partition(b"=")
    assert header == ADMIN_KEY_HEADER.encode()
    first, _, second = key.partition(b"\r\n")
    assert first and second  # the line break is in the key Triton holds
    # Every way to put those bytes in an HTTP header: the value ends at the line break, or the request breaks.
    for value in (key, first, second, key.replace(b"\r\n", b"\n"), first + b"\r\n " + second):
        request = (
            b"POST /v2/systemsharedmemory/region/stub/register HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
            + header
            + b": "
            + value
            + b"\r\n\r\n{}"
        )
        assert raw_status(keyless_server, request) in (0, 400, 403), value
    # gRPC: the name holds capitals, which HTTP/2 forbids (the stream is reset), and Triton compares
    # names case-sensitively (lowercase is refused). Triton 2.51 would take the CR LF value itself.
    grpc_header, _, grpc_key = flags["grpc-restricted-protocol"].partition(b"=")
    assert grpc_key == key and grpc_header != grpc_header.lower()
    name = b"triton-grpc-protocol-" + grpc_header
    assert raw_grpc_status(keyless_server, (name, key)) == "reset"
    assert raw_grpc_status(keyless_server, (name.lower(), key)) == "14"  # UNAVAILABLE: restricted
    assert len(keyless_server.python_stubs()) == 5  # no stub was reached


def test_a_users_key_is_readable_by_every_local_user(server: EmbeddedServer) -> None:
    """What stays open (docs/security.md): Triton takes a user's key on its command line only, so any
    local user can read it and use it; serve warns, and the docs limit it to single-user hosts."""
    header, _, key = restricted_flags(server)["grpc-restricted-protocol"].partition(b"=")
    assert key == ADMIN_KEY.encode()
    assert raw_grpc_status(server, (b"triton-grpc-protocol-" + header, key)) == "0"  # OK


def other_user() -> str:
    """A second local account for the isolation checks (created when running as root)."""
    name = "yolo26-probe"
    with contextlib.suppress(KeyError):
        pwd.getpwnam(name)
        return name
    if os.geteuid() == 0 and shutil.which("useradd"):
        subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], check=True)
        return name
    if os.environ.get("CI") == "true":
        pytest.fail("CI runs as root and must create a second user with useradd")
    pytest.skip("needs root (to create a second local user) for the isolation check")


def test_shared_memory_regions_are_invisible_to_other_users(keyless_server: EmbeddedServer) -> None:
    """The Python backend's regions (the images) are mode 0644, but in a /dev/shm of the server's own."""
    regions = keyless_server.shared_memory_regions()
    assert len(regions) == 5
    assert {region.stat().st_mode & 0o777 for region in regions} == {0o644}  # Triton's mode, not ours
    assert not list(Path("/dev/shm").glob(f"{keyless_server.region_prefix}*"))
    user = other_user()
    for command in (["ls", "/dev/shm"], ["cat", str(regions[0])], ["ls", str(regions[0].parent)]):
        result = subprocess.run(command, user=user, capture_output=True, text=True, timeout=30, check=False)
        assert keyless_server.region_prefix not in result.stdout, command
        if command[0] == "cat" or command[1] != "/dev/shm":
            assert result.returncode != 0 and "Permission denied" in result.stderr, command
