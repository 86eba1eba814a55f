"""The front's limits (deploy/front/haproxy.cfg) agree with validate's and Triton's, and the file parses."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from yolo26_triton.export.repository import read_config

from ..front import FRONT_CONFIG, FRONT_DIR, haproxy_binary

ROOT = Path(__file__).resolve().parents[2]
JSON_HEADER_ALLOWANCE = 16384
"""Largest JSON part of a request the front inspects and passes (16 KiB)."""


def front_variable(name: str) -> list[int]:
    text = FRONT_CONFIG.read_text()
    return [int(value) for value in re.findall(rf"set-var\(txn\.{name}\) int\((\d+)\)", text)]


def max_image_bytes() -> int:
    config = read_config(ROOT / "model_repository" / "validate" / "config.pbtxt")
    return int(config.parameters["max_image_bytes"].string_value)


def test_body_limit_is_validates_image_limit_plus_the_json_header() -> None:
    assert front_variable("max_json") == [JSON_HEADER_ALLOWANCE]
    assert front_variable("max_body") == [max_image_bytes() + JSON_HEADER_ALLOWANCE] * 2  # HTTP, gRPC
    compose = (ROOT / "docker-compose.yml").read_text()
    limits = re.findall(r"--http-max-input-size=(\d+)", compose)
    assert limits == [str(max_image_bytes() + JSON_HEADER_ALLOWANCE)] * 2  # triton, triton-cpu


def test_the_buffer_holds_headers_and_the_inspected_json() -> None:
    text = FRONT_CONFIG.read_text()
    buffer = int(re.search(r"tune\.bufsize (\d+)", text)[1])  # type: ignore[index]
    assert buffer >= 2 * JSON_HEADER_ALLOWANCE


def test_the_file_is_valid_haproxy_configuration() -> None:
    checked = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(FRONT_CONFIG)],
        env={**os.environ, "YOLO26_FRONT_DIR": str(FRONT_DIR)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
