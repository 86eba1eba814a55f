"""The production front's files and the HAProxy binary that runs them in tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

FRONT_DIR = Path(__file__).resolve().parents[1] / "deploy" / "front"
FRONT_CONFIG = FRONT_DIR / "haproxy.cfg"


def haproxy_binary() -> str:
    """The HAProxy binary; CI must have it (``.ci/run`` installs it), elsewhere its absence skips."""
    binary = shutil.which("haproxy")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is missing: .ci/run installs it with apt-get (Debian package haproxy)")
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    return binary
