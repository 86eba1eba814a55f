"""Addresses with no Triton server behind them, for the failures a unit test can cause for real."""

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def closed_address() -> str:
    """A local ``host:port`` that refuses connections (bound to find a free port, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def silent_address() -> Iterator[str]:
    """A local ``host:port`` that accepts TCP connections and never answers (the kernel's backlog)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"127.0.0.1:{listener.getsockname()[1]}"
