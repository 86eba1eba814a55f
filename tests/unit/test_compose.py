"""docker-compose.yml, its Dockerfiles and the monitoring files, read and validated without Docker.

No Docker engine (nor the compose plugin) runs on our machines, so the file is interpolated as
``docker compose config`` would, then validated by the compose_spec parser (strict: unknown keys,
bad ports or durations fail), and every service, profile, healthcheck and volume is checked.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose
from tritonclient.grpc import model_config_pb2

from yolo26_triton.contract import MAX_BATCH_SIZE
from yolo26_triton.export.production_image import production_image
from yolo26_triton.export.repository import read_config
from yolo26_triton.serving.launcher import STEADY_MALLOC
from yolo26_triton.serving.options import DEFAULT_DETECTOR_SLOTS, ServerOptions

from ..compose_file import COMPOSE_FILE, ROOT, interpolate

ENVIRONMENT = {"TRITON_ADMIN_KEY": "key", "GRAFANA_ADMIN_PASSWORD": "password"}
HARDENED_FLAGS = (
    "--model-control-mode=none",
    "--strict-readiness=true",
    "--exit-on-error=true",
    "--http-restricted-api=model-repository,shared-memory,logging,trace:admin-key=key",
    "--grpc-restricted-protocol=model-repository,shared-memory,logging,trace:admin-key=key",
)
CLASSIC_HEAD_OUTPUT = {"output0": {0: 84, 1: 8400}}
"""The configs' variable dims of ``output0`` for the largest output: the classic head of 80 classes."""
TYPE_BYTES = {"TYPE_FP32": 4, "TYPE_INT32": 4, "TYPE_UINT8": 1, "TYPE_FP16": 2}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as ``docker compose config`` resolves it, validated against the spec."""
    resolved = yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), ENVIRONMENT))  # merges `<<` keys
    validated: dict[str, Any] = PyCompose.from_json(json.dumps(resolved)).to_dict()
    return validated


def services_in(compose: dict[str, Any], profile: str | None) -> set[str]:
    return {
        name
        for name, service in compose["services"].items()
        if (profile is None and not service.get("profiles")) or profile in service.get("profiles", [])
    }


def test_secrets_are_required_not_defaulted() -> None:
    for missing in ENVIRONMENT:
        environment = {name: value for name, value in ENVIRONMENT.items() if name != missing}
        with pytest.raises(ValueError, match=missing):
            interpolate(COMPOSE_FILE.read_text(), environment)


def test_profiles(compose: dict[str, Any]) -> None:
    assert services_in(compose, None) == {"model-builder", "triton", "front"}
    assert services_in(compose, "cpu") == {"model-builder-cpu", "triton-cpu"}
    assert services_in(compose, "monitoring") == {"prometheus", "grafana"}


def test_builder_is_one_shot_and_gates_the_server(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for builder, server in (("model-builder", "triton"), ("model-builder-cpu", "triton-cpu")):
        assert services[builder]["restart"] == "no"
        assert services[builder]["command"][:2] == ["triton-detect", "build"]
        assert services[server]["depends_on"] == {builder: {"condition": "service_completed_successfully"}}
    assert "--engine" in services["model-builder"]["command"]
    assert "--engine" not in services["model-builder-cpu"]["command"]


def test_gpu_services_reserve_a_gpu(compose: dict[str, Any]) -> None:
    for name in ("model-builder", "triton"):
        devices = compose["services"][name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    for name in ("model-builder-cpu", "triton-cpu"):
        assert "deploy" not in compose["services"][name]


@pytest.mark.parametrize("name", ["triton", "triton-cpu"])
def test_servers_are_hardened_and_observable(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    command = service["command"]
    assert command[0] == "tritonserver"
    for flag in HARDENED_FLAGS:
        assert flag in command
    assert ("--model-config-name=cpu" in command) == (name == "triton-cpu")
    healthcheck = service["healthcheck"]["test"]
    assert healthcheck[:3] == ["CMD", "curl", "-fsS"]
    assert healthcheck[-1] == "http://localhost:8000/v2/models/detect_ensemble/infer"
    assert "@/opt/yolo26-triton/healthcheck-request.json" in healthcheck
    assert service["restart"] == "unless-stopped"
    assert service["shm_size"] == "1gb"
    assert service["environment"] == STEADY_MALLOC
    # HTTP and gRPC only through the front (tests/unit/test_front_config.py); metrics published.
    assert service["ports"] == ["127.0.0.1:8002:8002"]
    assert [str(port) for port in service["expose"]] == ["8000", "8001"]
    assert service["volumes"] == ["./model_repository:/models:ro"]


@pytest.mark.parametrize(("name", "profile"), [("triton", "gpu"), ("triton-cpu", "cpu")])
def test_servers_run_the_detector_quota(compose: dict[str, Any], name: str, profile: str) -> None:
    """The same rate-limiter flags as ``triton-detect serve`` (README, Quotas)."""
    command = compose["services"][name]["command"]
    expected = ServerOptions(profile=profile).rate_limit_args  # type: ignore[arg-type]
    assert expected == [
        "--rate-limit=execution_count",
        f"--rate-limit-resource=detector_slots:{DEFAULT_DETECTOR_SLOTS[profile]}",  # type: ignore[index]
    ]
    for flag in expected:
        assert flag in command


def test_the_front_is_the_way_in(compose: dict[str, Any]) -> None:
    front = compose["services"]["front"]
    assert front["ports"] == ["127.0.0.1:8000:8000", "127.0.0.1:8001:8001"]
    assert front["volumes"] == ["./deploy/front:/usr/local/etc/haproxy:ro"]
    assert front["image"].startswith("haproxy:")
    assert compose["services"]["triton-cpu"]["networks"]["default"]["aliases"] == ["triton"]


def test_server_image_is_a_patched_ngc_release(compose: dict[str, Any]) -> None:
    for name in ("triton", "model-builder"):
        base = compose["services"][name]["build"]["args"]["TRITON_IMAGE"]
        match = re.fullmatch(r"nvcr\.io/nvidia/tritonserver:(\d\d)\.(\d\d)-py3", base)
        assert match, base
        assert (int(match[1]), int(match[2])) >= (26, 6)  # security bulletins up to 5865


def test_dockerfiles_build_from_the_same_image(compose: dict[str, Any]) -> None:
    for name in ("triton", "model-builder"):
        dockerfile = ROOT / compose["services"][name]["build"]["dockerfile"]
        text = dockerfile.read_text()
        assert "FROM ${TRITON_IMAGE}" in text
        assert "COPY src /opt/yolo26-triton/src" in text
    server_image = (ROOT / compose["services"]["triton"]["build"]["dockerfile"]).read_text()
    assert (
        "COPY container/healthcheck-request.json /opt/yolo26-triton/healthcheck-request.json" in server_image
    )
    assert ".venv" in (ROOT / ".dockerignore").read_text().split()


def test_volumes_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
            else:
                assert source in declared, source


def test_prometheus_scrapes_both_server_profiles(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["triton:8002", "triton-cpu:8002"]
    assert {"triton", "triton-cpu"} <= set(compose["services"])


def test_grafana_provisioning_matches_the_mounts(compose: dict[str, Any]) -> None:
    provisioning = ROOT / "monitoring" / "grafana" / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][
        0
    ]
    assert datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text())["providers"][0]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./monitoring/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    dashboard = json.loads((ROOT / "monitoring" / "grafana" / "dashboards" / "triton.json").read_text())
    titles = " | ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("throughput", "p50", "p99", "queue time", "batch size", "failures by reason"):
        assert topic in titles
    for panel in dashboard["panels"]:
        if panel["type"] == "row":  # a row only groups the panels below it
            continue
        assert panel["datasource"]["uid"] == datasource["uid"]
        assert all(target["expr"] for target in panel["targets"])


def test_images_are_the_production_image_of_the_facts_file(compose: dict[str, Any]) -> None:
    """Both images build FROM the image ``production_image.toml`` names, and are tagged with its release."""
    facts = production_image()
    for name in ("triton", "model-builder"):
        service = compose["services"][name]
        assert service["build"]["args"]["TRITON_IMAGE"] == facts.image
        assert service["image"].endswith(f":{facts.release}")


def test_gpu_cuda_memory_pool_holds_two_full_batches(compose: dict[str, Any]) -> None:
    """The tensors passed between the GPU steps, for ``max_batch_size`` images, twice (one batch in the
    detector while the next leaves preprocess), fit the pool; Triton's default does not."""
    per_image = 0
    for name in ("preprocess", "yolo26"):
        config = read_config(ROOT / "model_repository" / name / "config.pbtxt")
        for tensor in config.output:
            dims = [
                CLASSIC_HEAD_OUTPUT.get(tensor.name, {}).get(index, dim)
                for index, dim in enumerate(tensor.dims)
            ]
            assert all(dim > 0 for dim in dims), (name, tensor.name, dims)
            per_image += math.prod(dims) * TYPE_BYTES[model_config_pb2.DataType.Name(tensor.data_type)]
    needed = 2 * MAX_BATCH_SIZE * per_image
    (flag,) = [
        arg
        for arg in compose["services"]["triton"]["command"]
        if arg.startswith("--cuda-memory-pool-byte-size=")
    ]
    device, size = flag.split("=")[1].split(":")
    assert device == "0"
    assert int(size) >= needed > production_image().cuda_memory_pool_default_bytes
