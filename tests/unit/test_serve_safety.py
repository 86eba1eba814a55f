"""``serve``'s guards that need no server: the loopback rule, the exit mapping, the unusable key."""

from __future__ import annotations

import signal

import pytest

from yolo26_triton.cli.serve import UNPATCHED_BUGS, exit_status
from yolo26_triton.contract import ADMIN_KEY_HEADER
from yolo26_triton.serving.isolation import UNSENDABLE_GRPC_KEY_HEADER, is_loopback, unusable_admin_key
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import DEFAULT_EXIT_TIMEOUT_S, ServerOptions


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.0.1", "::1", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org", ""])
def test_other_addresses(host: str) -> None:
    assert not is_loopback(host)


def test_a_requested_stop_is_a_clean_exit() -> None:
    assert exit_status(0, stop_requested=True) == 0
    assert exit_status(-signal.SIGTERM, stop_requested=True) == 0
    assert exit_status(1, stop_requested=True) == 0  # Triton 2.51's exit timeout after SIGTERM
    assert exit_status(-signal.SIGKILL, stop_requested=True) == 0  # killed after the grace
    assert exit_status(1, stop_requested=False) == 1  # it failed on its own
    assert exit_status(-signal.SIGKILL, stop_requested=False) == -signal.SIGKILL
    assert exit_status(-signal.SIGSEGV, stop_requested=True) == -signal.SIGSEGV


def test_the_unusable_key_holds_a_line_break_and_differs_each_time() -> None:
    first, second = unusable_admin_key(), unusable_admin_key()
    assert "\r\n" in first and first != second
    assert UNSENDABLE_GRPC_KEY_HEADER.lower() != UNSENDABLE_GRPC_KEY_HEADER


def test_command_without_a_users_key() -> None:
    command = EmbeddedServer(ServerOptions()).command()
    (grpc,) = [flag for flag in command if flag.startswith("--grpc-restricted-protocol=")]
    assert f":{UNSENDABLE_GRPC_KEY_HEADER}=" in grpc and "\r\n" in grpc
    with_key = EmbeddedServer(ServerOptions(admin_key="k")).command()
    assert (
        f"--grpc-restricted-protocol=model-repository,shared-memory,logging,trace:{ADMIN_KEY_HEADER}=k"
        in with_key
    )
    assert any(
        flag.startswith("--backend-config=python,shm-region-prefix-name=yolo26_triton_") for flag in command
    )
    assert f"--exit-timeout-secs={DEFAULT_EXIT_TIMEOUT_S}" in command


def test_the_opt_in_names_the_known_bugs() -> None:
    for bug in ("2.51", "24.10", "2**62", "CVE-2025-23310/23311", "CVE-2025-23319/23320/23334", "gzip"):
        assert bug in UNPATCHED_BUGS
