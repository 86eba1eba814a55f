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

import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from yolo26_triton.server import ADMIN_KEY_HEADER, EmbeddedServer, ServerOptions

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


@pytest.fixture(scope="module")
def keyless_server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server started as ``triton-detect serve`` starts it without $TRITON_ADMIN_KEY."""
    log_path = tmp_path_factory.mktemp("keyless") / "tritonserver.log"
    with (
        log_path.open("w") as log,
        EmbeddedServer(ServerOptions.on_free_ports(repository=repository), log_file=log) as running,
    ):
        yield running


def key_on_command_line(server: EmbeddedServer) -> bytes:
    """What any local user reads in /proc/<pid>/cmdline (hardening issue, finding 2)."""
    arguments = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    (flag,) = [argument for argument in arguments if argument.startswith(b"--http-restricted-api=")]
    return flag.split(f"{ADMIN_KEY_HEADER}=".encode(), 1)[1]


def raw_status(server: EmbeddedServer, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", server.options.http_port), timeout=10) as connection:
        connection.sendall(request)
        answer = connection.recv(65536)
    return int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.") else 0


def test_the_key_on_the_command_line_opens_nothing(keyless_server: EmbeddedServer) -> None:
    """Without a user's key, the one Triton gets is readable by all but cannot be sent."""
    key = key_on_command_line(keyless_server)
    first, _, second = key.partition(b"\r\n")
    assert first and second  # the line break is in the key Triton holds
    # Every way to put those bytes in a header: the value ends at the line break, or the request breaks.
    for value in (key, first, second, key.replace(b"\r\n", b"\n"), first + b"\r\n " + second):
        request = (
            b"POST /v2/systemsharedmemory/region/stub/register HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
            + ADMIN_KEY_HEADER.encode()
            + b": "
            + value
            + b"\r\n\r\n{}"
        )
        assert raw_status(keyless_server, request) in (0, 400, 403), value
    # gRPC metadata values are printable ASCII only: the client will not even send it.
    client = grpcclient.InferenceServerClient(keyless_server.options.grpc_url)
    try:
        with pytest.raises(InferenceServerException, match="Invalid metadata"):
            client.get_system_shared_memory_status(
                headers={f"triton-grpc-protocol-{ADMIN_KEY_HEADER}": key.decode()}
            )
    finally:
        client.close()
    assert len(keyless_server.python_stubs()) == 5  # no stub was reached


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
