"""Shared fixtures: a model repository built from the spread-score fixture model, and the real
embedded ``tritonserver`` serving it on free ports (started once per test session)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from yolo26_triton.builder import BuildResult, build_repository
from yolo26_triton.server import EmbeddedServer, ServerOptions

from .model_fixture import make_spread_score_weights

PROJECT_REPOSITORY = Path(__file__).resolve().parents[1] / "model_repository"
FAST_EXIT = ("--exit-timeout-secs=5",)
ADMIN_KEY = "test-admin-key"


@pytest.fixture(scope="session")
def fixture_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spread-score fixture model as a ``.pt`` (what the session's repository is built from)."""
    return make_spread_score_weights(tmp_path_factory.mktemp("weights") / "yolo26n-spread.pt")


@pytest.fixture(scope="session")
def built_repository(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path) -> BuildResult:
    """A copy of the model repository with the spread-score model exported into it."""
    repository = tmp_path_factory.mktemp("repository") / "model_repository"
    shutil.copytree(
        PROJECT_REPOSITORY, repository, ignore=shutil.ignore_patterns("*.onnx", "*.dali", "*.json")
    )
    return build_repository(repository, str(fixture_weights))


@pytest.fixture(scope="session")
def repository(built_repository: BuildResult) -> Path:
    """The built repository folder."""
    return built_repository.onnx_path.parents[2]


@pytest.fixture(scope="session")
def server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """The real embedded tritonserver, CPU profile, on free loopback ports."""
    log_path = tmp_path_factory.mktemp("server") / "tritonserver.log"
    with (
        log_path.open("w") as log,
        EmbeddedServer(
            ServerOptions.on_free_ports(repository=repository, admin_key=ADMIN_KEY, extra_args=FAST_EXIT),
            log_file=log,
        ) as running,
    ):
        yield running
