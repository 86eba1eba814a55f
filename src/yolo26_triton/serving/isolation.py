"""What keeps the embedded server to its user: the restricted-API key, a private ``/dev/shm``, loopback.

Local isolation (docs/security.md): the Python backend creates its ``/dev/shm`` regions (which carry
the images) with mode 0644 whatever the umask, so the server runs in a private mount namespace with
its own ``/dev/shm``, a tmpfs of mode 0700 that other local users cannot see (``unshare``; as root, or
through an unprivileged user namespace). The regions carry a prefix of each launch; the private tmpfs
goes away with the server's processes, and where no private namespace can be made the regions are
removed when the server stops (found with :func:`processes_naming`).

Triton takes the restricted-API key only on its command line, which every local user can read in
``/proc/<pid>/cmdline``: without a key of the user's, the server gets :func:`unusable_admin_key`
under the gRPC header :data:`UNSENDABLE_GRPC_KEY_HEADER`, which no HTTP or gRPC request can carry.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from yolo26_triton.contract import ADMIN_KEY_HEADER

RESTRICTED_APIS = "model-repository,shared-memory,logging,trace"
"""Closed without the admin key: loading/unloading models, shared-memory regions, log and trace
settings. Health, metadata, model config, statistics and inference stay open."""
UNSENDABLE_GRPC_KEY_HEADER = ADMIN_KEY_HEADER.upper()
"""The gRPC key's header when nobody is to use it: Triton matches metadata names case-sensitively, and
gRPC resets any stream whose header names are not lowercase (HTTP/2), so no request carries it."""
SERVER_UMASK = 0o077
"""File mode mask of the server and its stubs: files they create (trace output, for one) are this
user's only. It does not reach the Python backend's regions: Boost.Interprocess sets their mode
(0644) explicitly, hence the private ``/dev/shm``."""
SHM_FOLDER = Path("/dev/shm")
_PRIVATE_SHM = 'mount -t tmpfs -o mode=0700,nosuid,nodev yolo26-triton-shm /dev/shm && exec "$0" "$@"'
"""Run inside the new mount namespace: a private ``/dev/shm``, then the server in place of the shell."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) reaches this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unusable_admin_key() -> str:
    """A random restricted-API key that no HTTP request can carry.

    Triton reads the key only from its command line, which every local user can read. This one
    holds a CR LF between two random halves, and an HTTP/1 header value ends at the first line break.
    Triton 2.51's gRPC server does accept a CR LF in a metadata value sent as raw HTTP/2, hence
    :data:`UNSENDABLE_GRPC_KEY_HEADER` for gRPC.
    """
    return f"{secrets.token_urlsafe(18)}\r\n{secrets.token_urlsafe(18)}"


def private_shm_prefix() -> list[str] | None:
    """The command prefix that gives a process its own ``/dev/shm``; ``None`` where the host allows none.

    ``unshare --mount`` needs root, or else an unprivileged user namespace (``--map-root-user``);
    ``unshare`` without ``--fork`` execs in place, so the server keeps the launched process's PID.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix.append("--map-root-user")
    prefix += ["--", "sh", "-c", _PRIVATE_SHM]
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    return prefix if probe.returncode == 0 else None


def child_processes(parent: int, *, command_part: str) -> list[int]:
    """Children of ``parent`` whose command line contains ``command_part``, from ``/proc``."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent PID is the 2nd field after the ")" that closes the command name.
            parent_pid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        if parent_pid == parent and command_part in command:
            children.append(int(entry.name))
    return children


def processes_naming(text: str) -> list[int]:
    """Processes whose command line holds ``text``, from ``/proc``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
    return found
