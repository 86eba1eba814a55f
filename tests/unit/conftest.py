"""Addresses with no Triton server behind them, for the failures a unit test can cause for real
(the client's and the rollout facade's tests)."""

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
def listener() -> Iterator[socket.socket]:
    """A socket listening on a free loopback port that never accepts: connections complete in the
    kernel's backlog, are never answered, and stay visible there (``select`` finds it readable)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(64)
        yield listening


@pytest.fixture
def silent_address(listener: socket.socket) -> str:
    """A local ``host:port`` that accepts TCP connections and never answers (the kernel's backlog)."""
    return f"127.0.0.1:{listener.getsockname()[1]}"
