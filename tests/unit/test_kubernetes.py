"""deploy/kubernetes: every overlay renders (the kubectl wheel's kustomize), validates strictly, and
agrees with docker-compose.yml, the Dockerfiles, the model repository and the monitoring rules.

About 450 lines because every test shares one rendering of each overlay (module-scoped fixtures:
kustomize and the schema validation are its slow part); split, each module would render again.

No cluster runs here: built-in kinds are validated against the strict JSON schemas of
``kubernetes-validate`` for the Kubernetes versions below; CRD objects against the OpenAPI schemas of
their CRDs (tests/data/crds, upstream files, see SOURCES.md), unknown fields refused as
``kubectl apply --validate=strict`` refuses them.
"""

from __future__ import annotations

import copy
import gzip
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from yolo26_triton.serving.launcher import STEADY_MALLOC
from yolo26_triton.serving.options import ServerOptions

from ..compose_file import ROOT, resolved_compose
from ..deploy_files import (
    adapter_rule,
    adapter_series,
    container,
    find,
    hpa_target,
    render,
    rule_groups,
    rules,
)
from ..prometheus_process import SCRAPE_JOB

KUBERNETES_VERSIONS = ("1.30", "1.37")
"""The oldest release the manifests aim at and the newest that kubernetes-validate knows."""
CRD_FILES = {
    "ServiceMonitor": "monitoring.coreos.com_servicemonitors.yaml.gz",
    "PrometheusRule": "monitoring.coreos.com_prometheusrules.yaml.gz",
    "ClusterServingRuntime": "serving.kserve.io_clusterservingruntimes.yaml.gz",
    "InferenceService": "serving.kserve.io_inferenceservices.yaml.gz",
}
CRD_DIRECTORY = Path(__file__).resolve().parents[1] / "data" / "crds"
# What compose substitutes: the variables Kubernetes fills at start ($(VAR) from env) stay variables.
KUBERNETES_VARIABLES = ("TRITON_ADMIN_KEY", "TRITON_TRACE_URL", "TRITON_TRACE_RATE")
COMPOSE_ENVIRONMENT = {name: f"$({name})" for name in KUBERNETES_VARIABLES} | {"GRAFANA_ADMIN_PASSWORD": "x"}
SERVER = "yolo26-triton"
PROFILES = {"base": ("triton", "model-builder"), "cpu": ("triton-cpu", "model-builder-cpu")}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return resolved_compose(COMPOSE_ENVIRONMENT)["services"]  # type: ignore[no-any-return]


def server_pod(overlay: str) -> dict[str, Any]:
    return find(render(overlay), "Deployment", SERVER)["spec"]["template"]  # type: ignore[no-any-return]


def builder_pod(overlay: str) -> dict[str, Any]:
    job = find(render(overlay), "Job", "yolo26-triton-model-builder")
    return job["spec"]["template"]["spec"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------ validation


def strict(schema: Any) -> Any:
    """A CRD's structural schema with unknown fields refused wherever it lists the known ones."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(item) for item in schema]
    return schema


@cache
def crd_schema(kind: str, api_version: str) -> dict[str, Any]:
    """The strict schema of one served version of a vendored CRD."""
    crd = yaml.load(gzip.decompress((CRD_DIRECTORY / CRD_FILES[kind]).read_bytes()), Loader=yaml.CSafeLoader)
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    return strict(served["schema"]["openAPIV3Schema"])  # type: ignore[no-any-return]


def validation_problems(document: dict[str, Any]) -> list[str]:
    kind = document["kind"]
    if kind in CRD_FILES:
        validator = jsonschema.Draft7Validator(crd_schema(kind, document["apiVersion"]))
        return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)]
    problems = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(copy.deepcopy(document), version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"Kubernetes {version}: {list(error.absolute_path)}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"no schema: {error.message}")
    return problems


@pytest.mark.parametrize("overlay", ["base", "cpu", "kserve"])
def test_overlay_renders_and_validates_strictly(overlay: str) -> None:
    objects = render(overlay)
    kinds = {document["kind"] for document in objects}
    assert {"PersistentVolumeClaim", "Job", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds
    for document in objects:
        problems = validation_problems(document)
        assert not problems, f"{document['kind']}/{document['metadata']['name']}: {problems}"


def test_crd_validation_refuses_unknown_fields() -> None:
    """The CRD check is strict: a misspelt field fails it (kubectl apply --validate=strict would)."""
    monitor = copy.deepcopy(find(render("base"), "ServiceMonitor", SERVER))
    assert validation_problems(monitor) == []
    monitor["spec"]["endpoints"][0]["intervall"] = "5s"
    assert any("intervall" in problem for problem in validation_problems(monitor))


# ------------------------------------------------------------------------------ agreement with compose


def compose_ports(service: dict[str, Any]) -> list[int]:
    return [int(port.rsplit(":", 1)[1]) for port in service["ports"]]


def quantity_bytes(quantity: str) -> int:
    """``1Gi`` (Kubernetes) or ``1gb`` (Docker: binary units) in bytes."""
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    scale = {"": 1, "ki": 2**10, "mi": 2**20, "gi": 2**30, "kb": 2**10, "mb": 2**20, "gb": 2**30}
    return int(number) * scale[unit.lower()]


@pytest.mark.parametrize("overlay", ["base", "cpu"])
def test_server_is_compose_server(overlay: str, compose: dict[str, Any]) -> None:
    """Same image, flags (admin key and tracing from env), probe request, shm, malloc settings and ports."""
    service = compose[PROFILES[overlay][0]]
    pod = server_pod(overlay)["spec"]
    triton = container(pod, "triton")
    assert triton["image"] == service["image"]
    assert triton["args"] == service["command"]
    assert {e["name"]: e["value"] for e in triton["env"] if "value" in e}.items() >= STEADY_MALLOC.items()
    assert service["environment"] == STEADY_MALLOC
    (key,) = [e for e in triton["env"] if e["name"] == "TRITON_ADMIN_KEY"]
    assert key["valueFrom"]["secretKeyRef"] == {"name": "yolo26-triton-admin-key", "key": "admin-key"}

    healthcheck = service["healthcheck"]
    for probe in ("startupProbe", "readinessProbe"):
        assert triton[probe]["exec"]["command"] == healthcheck["test"][1:]  # after "CMD"
    assert triton["readinessProbe"]["periodSeconds"] == int(healthcheck["interval"].rstrip("s"))
    assert triton["readinessProbe"]["timeoutSeconds"] == int(healthcheck["timeout"].rstrip("s"))
    assert triton["readinessProbe"]["failureThreshold"] == healthcheck["retries"]
    assert triton["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "triton-http"}

    (shm,) = [v for v in pod["volumes"] if v["name"] == "dshm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    assert quantity_bytes(shm["emptyDir"]["sizeLimit"]) == quantity_bytes(service["shm_size"])
    assert {"name": "dshm", "mountPath": "/dev/shm"} in triton["volumeMounts"]

    defaults = ServerOptions()
    ports = {port["name"]: port["containerPort"] for port in triton["ports"]}
    assert ports == {
        "triton-http": defaults.http_port,
        "triton-grpc": defaults.grpc_port,
        "metrics": defaults.metrics_port,
    }
    exposed = [int(port) for port in service.get("expose", [])]  # reached only by the front
    assert sorted(ports.values()) == sorted(exposed + compose_ports(service))

    gpus_in_compose = "deploy" in service
    for section in ("requests", "limits"):
        assert ("nvidia.com/gpu" in triton["resources"][section]) == gpus_in_compose
    if gpus_in_compose:
        assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1


@pytest.mark.parametrize("overlay", ["base", "cpu"])
def test_model_builder_is_compose_builder(overlay: str, compose: dict[str, Any]) -> None:
    service = compose[PROFILES[overlay][1]]
    pod = builder_pod(overlay)
    build = container(pod, "model-builder", init=True)
    assert build["image"] == service["image"]
    assert build["args"] == service["command"]
    assert build["workingDir"] == service["working_dir"]
    mounts = {mount["mountPath"] for mount in build["volumeMounts"]}
    assert {volume.split(":")[1] for volume in service["volumes"]} <= mounts
    assert ("nvidia.com/gpu" in build["resources"].get("limits", {})) == ("deploy" in service)
    assert pod["restartPolicy"] == "Never"


def test_builder_seeds_the_templates_its_image_holds() -> None:
    """The volume starts empty: the Job copies the templates from where builder.Dockerfile put them."""
    dockerfile = (ROOT / "container" / "builder.Dockerfile").read_text()
    (destination,) = re.findall(r"^COPY model_repository (\S+)$", dockerfile, flags=re.MULTILINE)
    seed = container(builder_pod("base"), "seed-templates", init=True)
    assert f"cp -R {destination}/. /workspace/model_repository/" in seed["command"][-1]
    assert "model_repository" in (ROOT / ".dockerignore").read_text()  # build outputs stay out of it


def test_servers_wait_for_the_mark_the_job_leaves() -> None:
    pod = builder_pod("base")
    mark = container(pod, "mark-complete")["command"][-1]
    (marker,) = re.findall(r"> (\S+)$", mark)
    assert f"rm -f {marker}" in container(pod, "seed-templates", init=True)["command"][-1]
    server = server_pod("base")["spec"]
    wait = container(server, "wait-for-model-repository", init=True)
    repository = next(a for a in container(server, "triton")["args"] if a.startswith("--model-repository="))
    served = repository.split("=", 1)[1]
    assert f"[ -f {served}/{Path(marker).name} ]" in wait["command"][-1]
    # Both mount the same folder of the same volume.
    job_mount = next(
        m for m in container(pod, "mark-complete")["volumeMounts"] if marker.startswith(m["mountPath"])
    )
    server_mount = next(m for m in container(server, "triton")["volumeMounts"] if m["mountPath"] == served)
    assert job_mount["subPath"] == server_mount["subPath"]
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in [*pod["volumes"], *server["volumes"]]
        if "persistentVolumeClaim" in v
    }
    assert claims == {
        find(render("base"), "PersistentVolumeClaim", "yolo26-triton-models")["metadata"]["name"]
    }


def test_probes_name_what_the_image_and_repository_hold() -> None:
    triton = container(server_pod("base")["spec"], "triton")
    command = triton["readinessProbe"]["exec"]["command"]
    request_file = next(part for part in command if part.startswith("@"))[1:]
    server_image = (ROOT / "container" / "triton.Dockerfile").read_text()
    assert f"COPY container/healthcheck-request.json {request_file}" in server_image
    model = re.fullmatch(r"http://localhost:(\d+)/v2/models/(\w+)/infer", command[-1])
    assert model is not None
    assert int(model[1]) == ServerOptions().http_port
    assert (ROOT / "model_repository" / model[2] / "config.pbtxt").exists()


def test_tracing_flags_are_the_serve_flags() -> None:
    """Compose and the manifests pass what ``triton-detect serve --trace-url`` passes."""
    defaults = resolved_compose({"TRITON_ADMIN_KEY": "x", "GRAFANA_ADMIN_PASSWORD": "x"})["services"]
    for name in ("triton", "triton-cpu"):
        flags = [arg for arg in defaults[name]["command"] if arg.startswith("--trace-config")]
        url = next(flag.split("url=", 1)[1] for flag in flags if "url=" in flag)
        assert flags == ServerOptions(trace_url=url).trace_args
        assert url == "http://jaeger:4318/v1/traces" and "tracing" in defaults["jaeger"]["profiles"]
    tracing = find(render("base"), "ConfigMap", "yolo26-triton-tracing")["data"]
    assert tracing["TRITON_TRACE_RATE"] == "0"
    expected = ServerOptions(trace_url=tracing["TRITON_TRACE_URL"], trace_rate=0).trace_args
    triton = container(server_pod("base")["spec"], "triton")
    filled = [arg.replace("$(TRITON_TRACE_URL)", tracing["TRITON_TRACE_URL"]) for arg in triton["args"]]
    filled = [arg.replace("$(TRITON_TRACE_RATE)", tracing["TRITON_TRACE_RATE"]) for arg in filled]
    assert [arg for arg in filled if arg.startswith("--trace-config")] == expected
    assert {"configMapRef": {"name": "yolo26-triton-tracing"}} in triton["envFrom"]


def test_no_secret_in_any_manifest() -> None:
    for overlay in ("base", "cpu", "kserve"):
        text = yaml.safe_dump_all(render(overlay))
        assert "kind: Secret" not in text
        for key in re.findall(r"admin-key=(\S+)", text):
            assert key == "$(TRITON_ADMIN_KEY)", key


def test_pods_run_as_non_root() -> None:
    for pod in (server_pod("base")["spec"], builder_pod("base")):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 1000
        for entry in [*pod["containers"], *pod.get("initContainers", [])]:
            assert entry["securityContext"]["allowPrivilegeEscalation"] is False
            assert entry["securityContext"]["capabilities"] == {"drop": ["ALL"]}


# ------------------------------------------------------------------------ wiring inside the overlays


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_service_monitor_pdb_and_hpa_find_the_servers() -> None:
    objects = render("base")
    deployment = find(objects, "Deployment", SERVER)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = find(objects, "Service", SERVER)
    assert matches(service["spec"]["selector"], pod_labels)
    container_ports = {
        port["name"]
        for name in ("front", "triton")
        for port in container(deployment["spec"]["template"]["spec"], name)["ports"]
    }
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= container_ports
    monitor = find(objects, "ServiceMonitor", SERVER)
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert {"action": "replace", "targetLabel": "job", "replacement": SCRAPE_JOB} in endpoint["relabelings"]
    compose_monitoring = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    assert compose_monitoring["scrape_configs"][0]["job_name"] == SCRAPE_JOB
    assert matches(
        find(objects, "PodDisruptionBudget", SERVER)["spec"]["selector"]["matchLabels"], pod_labels
    )
    target = find(objects, "HorizontalPodAutoscaler", SERVER)["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", SERVER)


def test_hpa_metric_comes_from_the_recording_rule() -> None:
    """HPA metric <- prometheus-adapter rule <- recording rule of monitoring/rules/triton.yml; the
    queue-time alert uses the HPA's target."""
    hpa = find(render("base"), "HorizontalPodAutoscaler", SERVER)
    (metric,) = hpa["spec"]["metrics"]
    rule = adapter_rule()
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == rule["name"]["as"]
    assert re.fullmatch(rule["name"]["matches"], adapter_series())
    recorded = {entry["record"] for entry in rules() if "record" in entry}
    assert adapter_series() in recorded
    (alert,) = [entry for entry in rules() if entry.get("alert") == "TritonQueueTimeAboveTarget"]
    assert alert["expr"] == f"{adapter_series()} > {hpa_target():g}"
    assert hpa_target("cpu") == hpa_target("kserve") == hpa_target()


def test_prometheus_rule_holds_the_rules_file() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "prometheus_rule.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    for overlay in ("base", "cpu", "kserve"):
        assert find(render(overlay), "PrometheusRule", SERVER)["spec"]["groups"] == rule_groups()


# ----------------------------------------------------------------------------------------- KServe


def test_kserve_runs_the_base_server() -> None:
    objects = render("kserve")
    assert not [o for o in objects if o["kind"] in ("Deployment", "Service")]  # KServe makes them
    runtime = find(objects, "ClusterServingRuntime", SERVER)
    service = find(objects, "InferenceService", SERVER)
    base_pod = server_pod("base")["spec"]
    base = container(base_pod, "triton")
    (served,) = runtime["spec"]["containers"]
    assert served["name"] == "kserve-container"
    assert {key: value for key, value in served.items() if key != "name"} == {
        key: value for key, value in base.items() if key not in ("name", "resources")
    }
    predictor = service["spec"]["predictor"]
    assert predictor["model"]["resources"] == base["resources"]
    for field in ("securityContext", "initContainers", "terminationGracePeriodSeconds"):
        assert predictor[field] == base_pod[field]
    # The pod's volumes but the front's: KServe routes to the model server's port, no sidecar front.
    assert predictor["volumes"] == [volume for volume in base_pod["volumes"] if volume["name"] != "front"]
    assert predictor["model"]["runtime"] == runtime["metadata"]["name"]
    assert predictor["model"]["modelFormat"] in [
        {"name": f["name"], "version": f["version"]} for f in runtime["spec"]["supportedModelFormats"]
    ]
    annotations = service["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert annotations["serving.kserve.io/autoscalerClass"] == "external"
    # KServe names the predictor's Deployment <name>-predictor and labels its pods and Service.
    hpa = find(objects, "HorizontalPodAutoscaler", SERVER)["spec"]["scaleTargetRef"]
    assert hpa["name"] == f"{service['metadata']['name']}-predictor"
    kserve_labels = {"serving.kserve.io/inferenceservice": service["metadata"]["name"]}
    assert find(objects, "PodDisruptionBudget", SERVER)["spec"]["selector"]["matchLabels"] == kserve_labels
    assert find(objects, "ServiceMonitor", SERVER)["spec"]["selector"]["matchLabels"] == kserve_labels


@pytest.mark.parametrize("overlay", ["base", "cpu"])
def test_clients_reach_triton_only_through_compose_front(overlay: str, compose: dict[str, Any]) -> None:
    """The pod's ``front`` is compose's ``front`` (image, the very files of deploy/front) in front of the
    pod's Triton; the Service's http and grpc ports are the front's, and the NetworkPolicy admits no one
    else to Triton's own ports."""
    objects = render(overlay)
    pod = server_pod(overlay)["spec"]
    front = container(pod, "front")
    service = compose["front"]
    assert front["image"] == service["image"]
    (mount,) = front["volumeMounts"]
    (folder,) = service["volumes"]
    source, target = folder.split(":")[:2]  # compose short syntax: SOURCE:TARGET:MODE
    assert source.endswith("deploy/front") and mount["mountPath"] == target
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config_map = find(objects, "ConfigMap", volume["configMap"]["name"])
    front_dir = ROOT / "deploy" / "front"
    assert config_map["data"] == {name: (front_dir / name).read_text() for name in config_map["data"]}
    assert set(config_map["data"]) == {"haproxy.cfg", "triton_front.lua"}

    environment = {e["name"]: e["value"] for e in front["env"]}
    defaults = ServerOptions()
    assert environment["YOLO26_TRITON_HTTP"] == f"127.0.0.1:{defaults.http_port}"
    assert environment["YOLO26_TRITON_GRPC"] == f"127.0.0.1:{defaults.grpc_port}"
    front_ports = {port["name"]: port["containerPort"] for port in front["ports"]}
    assert environment["YOLO26_FRONT_HTTP_BIND"] == f":{front_ports['http']}"
    assert environment["YOLO26_FRONT_GRPC_BIND"] == f":{front_ports['grpc']}"

    service_ports = {port["name"]: port for port in find(objects, "Service", SERVER)["spec"]["ports"]}
    assert service_ports["http"]["targetPort"] == "http" and service_ports["grpc"]["targetPort"] == "grpc"
    assert service_ports["http"]["port"] == defaults.http_port  # what clients used before the front
    assert service_ports["grpc"]["port"] == defaults.grpc_port
    policy = find(objects, "NetworkPolicy", SERVER)["spec"]
    assert matches(policy["podSelector"]["matchLabels"], server_pod(overlay)["metadata"]["labels"])
    (rule,) = policy["ingress"]
    assert sorted(port["port"] for port in rule["ports"]) == ["grpc", "http", "metrics"]
    triton_port_names = {port["name"] for port in container(pod, "triton")["ports"]}
    assert {"triton-http", "triton-grpc"} <= triton_port_names  # never admitted by the policy


@pytest.mark.parametrize("overlay", ["base", "cpu", "kserve"])
def test_every_config_map_a_pod_mounts_is_rendered(overlay: str) -> None:
    """Kustomize renames generated ConfigMaps (hash suffix) only where it knows the reference: a pod
    spec copied into a CRD (kserve) must not mount a name that does not exist."""
    objects = render(overlay)
    config_maps = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    mounted = {volume["configMap"]["name"] for o in objects for volume in _config_map_volumes(o)}
    assert mounted <= config_maps


def _config_map_volumes(node: Any) -> list[dict[str, Any]]:
    """Every ``volumes`` entry with a ``configMap`` anywhere in a rendered object."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "volumes" and isinstance(value, list):
                found += [volume for volume in value if "configMap" in volume]
            else:
                found += _config_map_volumes(value)
    elif isinstance(node, list):
        for item in node:
            found += _config_map_volumes(item)
    return found
