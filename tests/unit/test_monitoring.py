"""monitoring/: the rules file passes promtool's checks and unit tests, one test per rule, and both
compose's Prometheus configuration and the Kubernetes manifests load it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from ..compose_file import ROOT, resolved_compose
from ..deploy_files import RULES, rules
from ..prometheus_process import prometheus_binary

MONITORING = ROOT / "monitoring"
RULE_TESTS = RULES.with_name("triton.test.yml")


def promtool(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [prometheus_binary("promtool"), *map(str, arguments)],
        capture_output=True,
        text=True,
        cwd=RULES.parent,
    )


def test_rules_pass_promtool_unit_tests() -> None:
    checked = promtool("check", "rules", RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", RULE_TESTS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_rule_has_a_unit_test() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == [RULES.name]
    tested_alerts = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])}
    tested_expressions = {
        case["expr"] for test in tests["tests"] for case in test.get("promql_expr_test", [])
    }
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    records = {rule["record"] for rule in rules() if "record" in rule}
    assert alerts <= tested_alerts, alerts - tested_alerts
    assert records <= tested_expressions, records - tested_expressions
    for test in tests["tests"]:  # each alert test expects a firing alert at some time
        for case in test.get("alert_rule_test", []):
            assert "exp_alerts" in case


def test_compose_prometheus_loads_the_rules() -> None:
    checked = promtool("check", "config", MONITORING / "prometheus.yml")  # also checks its rule files
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    services = resolved_compose({"TRITON_ADMIN_KEY": "x", "GRAFANA_ADMIN_PASSWORD": "x"})["services"]
    mounts = dict(volume.split(":")[:2] for volume in services["prometheus"]["volumes"])
    config_dir = Path(mounts["./monitoring/prometheus.yml"]).parent
    for rule_file in config["rule_files"]:
        inside = config_dir / rule_file
        assert mounts["./monitoring/rules"] == str(inside.parent)
        assert (MONITORING / rule_file).resolve() == RULES
