"""Observability shipped with the chart: alert rules checked and unit-tested with promtool, the
PrometheusRule and the Grafana dashboard ConfigMap rendered from the same files, MLflow metrics.

promtool comes from Debian's ``prometheus`` package (``.ci/run`` installs it). That every metric
the rules and the dashboard name is exported by a running API is checked where one runs:
tests/integration/storage/test_s3_artifacts.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from chart_helpers import env_values, find, one, render_objects
from observability_helpers import ALERTS, DASHBOARD, metric_families, promql_expressions

from credit_scoring.monitoring.report import PSI_MODERATE, PSI_SIGNIFICANT

pytestmark = pytest.mark.helm

PROMTOOL_TESTS = Path(__file__).resolve().parent / "promtool" / "alerts_test.yaml"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is required in CI (Debian package prometheus, see .ci/run)")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


def test_promtool_accepts_the_alert_rules() -> None:
    done = subprocess.run(
        [_promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    done = subprocess.run(
        [_promtool(), "test", "rules", str(PROMTOOL_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROMTOOL_TESTS.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_catches_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(ALERTS.read_text().replace("> 0.01", "> > 0.01"), encoding="utf-8")
    done = subprocess.run(
        [_promtool(), "check", "rules", str(broken)], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0


def test_every_required_alert_exists() -> None:
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert names == {
        "CreditScoringApiNoModelLoaded",
        "CreditScoringApiMetricsAbsent",
        "CreditScoringApi5xxRate",
        "CreditScoringApiLatencyP99",
        "CreditScoringModelReloadFailed",
        "CreditScoringRegistryErrors",
        "CreditScoringPredictionLogFailures",
        "CreditScoringApprovalRateShift",
        "CreditScoringScorePsiDrift",
    }
    assert all(r["labels"]["severity"] in {"critical", "warning"} for r in rules)


def test_score_psi_alert_uses_the_drift_reports_bands() -> None:
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    psi = {r["labels"]["severity"]: r for r in rules if r["alert"] == "CreditScoringScorePsiDrift"}
    # The live gauge and the drift report say "moderate" and "significant" at the same PSI.
    assert psi["critical"]["expr"].endswith(f">= {PSI_SIGNIFICANT}")
    assert psi["warning"]["expr"].endswith(f">= {PSI_MODERATE:.2f}")
    assert "credit_scoring_score_psi" in psi["critical"]["expr"]


def test_rule_and_dashboard_are_rendered_from_the_files() -> None:
    values = env_values("prod")
    values["observability"] = {
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "grafanaDashboard": {"enabled": True},
    }
    objects = render_objects("prod", values)
    rule = one(objects, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())
    dashboard = next(
        o for o in find(objects, "ConfigMap") if o["metadata"]["name"].endswith("-dashboard")
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["credit-scoring-api.json"]) == json.loads(
        DASHBOARD.read_text()
    )
    # Off by default (needs the Prometheus Operator / Grafana sidecar).
    assert not find(render_objects("prod"), "PrometheusRule")


def test_dashboard_queries_name_api_metrics() -> None:
    assert len(promql_expressions()) >= 15
    families = metric_families()
    assert {
        "credit_scoring_http_requests",
        "credit_scoring_http_request_duration_seconds",
        "credit_scoring_decisions",
        "credit_scoring_model_loaded",
        "credit_scoring_ledger_records_lost",
        "credit_scoring_score_psi",
    } <= set(families)


def test_mlflow_exposes_prometheus_metrics_and_a_service_monitor() -> None:
    values = env_values("platform")
    values["mlflow"]["metrics"]["serviceMonitor"] = {"enabled": True}
    objects = render_objects("platform", values)
    container = one(objects, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    assert "--expose-prometheus=/tmp/prometheus-metrics" in container["args"]
    monitor = one(objects, "ServiceMonitor", "mlflow")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
