"""The chart's alert rules and Grafana dashboard, and the metric names their PromQL uses.

Shared by tests/helm/test_observability.py (promtool, rendering) and the integration test that
scrapes a running API (tests/integration/storage/test_s3_artifacts.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

FILES = Path(__file__).resolve().parents[2] / "infra" / "helm" / "credit-scoring-chart" / "files"
ALERTS = FILES / "alerts.yaml"
DASHBOARD = FILES / "dashboard.json"
_METRIC = re.compile(r"\b(credit_scoring_[a-z_]+)\b")
_SUFFIXES = {
    "_total": "counter",
    "_bucket": "histogram",
    "_sum": "histogram",
    "_count": "histogram",
}


def promql_expressions() -> list[str]:
    """Every PromQL expression of the alert rules and of the dashboard's panels and variables."""
    rules: dict[str, Any] = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def metric_families() -> dict[str, str | None]:
    """Metric family -> expected type (None: a gauge or any) named by the expressions."""
    families: dict[str, str | None] = {}
    for expr in promql_expressions():
        for name in _METRIC.findall(expr):
            for suffix, kind in _SUFFIXES.items():
                if name.endswith(suffix):
                    families[name.removesuffix(suffix)] = kind
                    break
            else:
                families.setdefault(name, None)
    return families


def missing_from_exposition(text: str) -> list[str]:
    """Families named by the rules/dashboard that a /metrics exposition does not declare."""
    declared: dict[str, str] = {}
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE):
        # prometheus_client declares counters with their _total sample name.
        declared[name.removesuffix("_total") if kind == "counter" else name] = kind
    missing = []
    for family, kind in metric_families().items():
        if family not in declared or (kind is not None and declared[family] != kind):
            missing.append(f"{family} ({kind or 'any'}; exported as {declared.get(family)})")
    return missing
