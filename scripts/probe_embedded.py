"""What one HTTP request does to the embedded Triton 2.51: the figures of docs/security.md.

    python scripts/probe_embedded.py

Each request goes to a fresh server of its own (only the ``validate`` model, free 127.0.0.1 ports,
stopped afterwards), straight to Triton with no front: the table says how long the server took to
answer and whether it answered or died (SIGABRT, SIGSEGV). Loopback only, one request per server;
about 20 s per case on 2 cores. ``tests/integration/test_front.py`` sends the same requests to the
front (deploy/front/haproxy.cfg), which refuses every one of them.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions

PATH = "/v2/models/validate/infer"


def post(body: bytes, headers: str = "") -> bytes:
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}Connection: close\r\n\r\n"
    ).encode() + body


def shape(dims: list[int], binary: bool = False) -> bytes:
    tensor: dict[str, object] = {"name": "IMAGE", "shape": dims, "datatype": "UINT8"}
    if binary:
        tensor["parameters"] = {"binary_data_size": 4}
        header = json.dumps({"inputs": [tensor]}).encode()
        return post(header + b"\xff\xd8\xff\xd9", f"Inference-Header-Content-Length: {len(header)}\r\n")
    tensor["data"] = [1]
    return post(json.dumps({"inputs": [tensor]}).encode())


def nested(depth: int, where: str = "data") -> bytes:
    deep = "[" * depth + "1" + "]" * depth
    if where == "data":
        return post(
            f'{{"inputs":[{{"name":"IMAGE","shape":[1,1],"datatype":"UINT8","data":{deep}}}]}}'.encode()
        )
    return post(
        f'{{"inputs":[{{"name":"IMAGE","shape":[1,1],"datatype":"UINT8","data":[1]}}],"x":{deep}}}'.encode()
    )


def chunked(chunks: int) -> bytes:
    head = f"POST {PATH} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    return head.encode() + b"1\r\nA\r\n" * chunks + b"0\r\n\r\n"


CASES: dict[str, Callable[[], bytes]] = {
    "JSON shape [1, 2**62]": lambda: shape([1, 2**62]),
    "JSON shape [1, 2**31]": lambda: shape([1, 2**31]),
    "JSON shape [1, 99999999]": lambda: shape([1, 99_999_999]),
    "JSON shape [2**32, 2**32]": lambda: shape([2**32, 2**32]),
    "binary shape [1, 2**62]": lambda: shape([1, 2**62], binary=True),
    "data nested 30000 deep": lambda: nested(30_000),
    "data nested 100000 deep": lambda: nested(100_000),
    "other key nested 100000 deep": lambda: nested(100_000, "x"),
    "other key nested 1000000 deep": lambda: nested(1_000_000, "x"),
    "gzip body inflating to 300 MiB": lambda: post(
        gzip.compress(bytes(300 << 20)), "Content-Encoding: gzip\r\n"
    ),
    "chunked body, 600000 chunks": lambda: chunked(600_000),
}


def send(port: int, request: bytes) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        try:
            connection.sendall(request)
            answer = connection.recv(200)
        except OSError as error:
            return f"connection error ({error.strerror})"
    return answer.split(b"\r\n", 1)[0].decode(errors="replace") if answer else "connection closed"


def main() -> None:
    repository = Path(tempfile.mkdtemp(prefix="probe-repository-"))
    shutil.copytree(
        Path(__file__).resolve().parents[1] / "model_repository" / "validate", repository / "validate"
    )
    print(f"{'request':34s} {'sent':>11s} {'time':>7s}  outcome")
    try:
        for name, make in CASES.items():
            request = make()
            options = ServerOptions.on_free_ports(repository=repository, detector_slots=0)
            log_path = Path(tempfile.gettempdir()) / "probe-tritonserver.log"
            with log_path.open("w") as log, EmbeddedServer(options, log_file=log) as server:
                started = time.monotonic()
                answer = send(options.http_port, request)
                elapsed = time.monotonic() - started
                code = server.wait(timeout_s=2)
            died = (
                f"server died: {signal.Signals(-code).name}"
                if code is not None and code < 0
                else "server lives"
            )
            print(f"{name:34s} {len(request):>9d} B {elapsed:6.2f}s  {answer}; {died}", flush=True)
    finally:
        shutil.rmtree(repository)


if __name__ == "__main__":
    main()
