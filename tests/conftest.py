"""Shared fixtures: a model repository built from the spread-score fixture model, and the real
embedded ``tritonserver`` serving it on free ports (started once per test session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from yolo26_triton.builder import BuildResult, build_repository
from yolo26_triton.repository import copy_templates, pin_entry_point
from yolo26_triton.server import EmbeddedServer, ServerOptions

from .model_fixture import make_spread_score_weights

PROJECT_REPOSITORY = Path(__file__).resolve().parents[1] / "model_repository"
FAST_EXIT = ("--exit-timeout-secs=5",)
ADMIN_KEY = "test-admin-key"


SECOND_VERSION = "2"
END_TO_END_MODEL = "yolo26_end2end"
END_TO_END_ENTRY_POINT = "detect_end2end"


@pytest.fixture(scope="session")
def fixture_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spread-score model as a ``.pt``: what version 1 of ``yolo26`` is built from."""
    return make_spread_score_weights(tmp_path_factory.mktemp("weights") / "yolo26n-spread.pt")


@pytest.fixture(scope="session")
def built_repository(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path) -> BuildResult:
    """A copy of the model repository with three detectors built into it from fixture models.

    ``yolo26`` version 1 (the spread-score model; ``detect_ensemble`` is pinned to it), ``yolo26``
    version 2 (the same network seeded differently) and ``yolo26_end2end`` (version 1's weights with
    the NMS-free head, entry point ``detect_end2end``). Returns version 1's build.
    """
    workdir = tmp_path_factory.mktemp("repository")
    repository = workdir / "model_repository"
    copy_templates(PROJECT_REPOSITORY, repository)
    first = build_repository(repository, str(fixture_weights))
    second_weights = make_spread_score_weights(workdir / "yolo26n-spread-seed1.pt", seed=1)
    build_repository(repository, str(second_weights), version=SECOND_VERSION)
    build_repository(repository, str(fixture_weights), model=END_TO_END_MODEL, head="nms_free")
    pin_entry_point(repository, "detect_ensemble", first.metadata.version)
    return first


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
