"""Shared fixtures: a model repository built from the spread-score fixture model, and the real
embedded ``tritonserver`` serving it on free ports (started once per test session)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from yolo26_triton.contract import ENTRY_POINT
from yolo26_triton.export.builder import BuildResult, build_repository
from yolo26_triton.export.repository import copy_templates, pin_entry_point
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions

from .model_fixture import make_spread_score_weights
from .otlp_receiver import OtlpReceiver

PROJECT_REPOSITORY = Path(__file__).resolve().parents[1] / "model_repository"
FAST_TRACE_EXPORT = ("--trace-config=opentelemetry,bsp_schedule_delay=100",)
"""Triton's span exporter sends every 100 ms instead of every 5 s."""
ADMIN_KEY = "test-admin-key"


SECOND_VERSION = "2"
END_TO_END_MODEL = "yolo26_end2end"
END_TO_END_ENTRY_POINT = "detect_end2end"


@pytest.fixture(scope="session")
def fixture_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spread-score fixture model as a ``.pt``: what version 1 of ``yolo26`` is built from."""
    return make_spread_score_weights(tmp_path_factory.mktemp("weights") / "yolo26n-spread.pt")


@pytest.fixture(scope="session")
def built_repository(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path) -> BuildResult:
    """A copy of the model repository with the spread-score model built into it as ``yolo26`` v1."""
    repository = tmp_path_factory.mktemp("repository") / "model_repository"
    copy_templates(PROJECT_REPOSITORY, repository)
    return build_repository(repository, str(fixture_weights))


@pytest.fixture(scope="session")
def repository(built_repository: BuildResult) -> Path:
    """The built one-detector repository: what tests that start their own server serve."""
    return built_repository.onnx_path.parents[2]


@pytest.fixture(scope="session")
def multi_model_repository(
    repository: Path, fixture_weights: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """:func:`repository` plus a second ``yolo26`` version and a second detector model.

    ``yolo26`` version 2 is the same network seeded differently; ``detect_ensemble`` stays pinned to
    version 1. ``yolo26_end2end`` is version 1's weights with the NMS-free head, entry point
    ``detect_end2end``.
    """
    workdir = tmp_path_factory.mktemp("multi")
    multi = workdir / "model_repository"
    shutil.copytree(repository, multi)
    second_weights = make_spread_score_weights(workdir / "yolo26n-spread-seed1.pt", seed=1)
    build_repository(multi, str(second_weights), version=SECOND_VERSION)
    build_repository(multi, str(fixture_weights), model=END_TO_END_MODEL, head="nms_free")
    pin_entry_point(multi, ENTRY_POINT, "1")
    return multi


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP endpoint on loopback that keeps the spans sent to it."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def server(
    multi_model_repository: Path, otlp_receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedServer]:
    """The real embedded tritonserver, CPU profile, on free loopback ports, serving
    :func:`multi_model_repository`; as compose runs it, it traces the requests that carry a
    ``traceparent`` (to :func:`otlp_receiver`)."""
    log_path = tmp_path_factory.mktemp("server") / "tritonserver.log"
    with (
        log_path.open("w") as log,
        EmbeddedServer(
            ServerOptions.on_free_ports(
                repository=multi_model_repository,
                admin_key=ADMIN_KEY,
                trace_url=otlp_receiver.url,
                extra_args=FAST_TRACE_EXPORT,
            ),
            log_file=log,
        ) as running,
    ):
        yield running
