"""Helpers for the Helm chart tests: render the chart offline with the real Helm SDK and query it.

No cluster and no ``helm`` binary: ``helm_python`` binds Helm's Go SDK (libhelm_c) directly.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = REPO_ROOT / "infra" / "helm"
CHART_DIR = HELM_DIR / "credit-scoring-chart"
ENVS = ("default", "platform", "staging", "prod")
# The platform release holds the one MLflow (and training); staging and prod serve from it.
API_ENVS = ("default", "staging", "prod")
MLFLOW_ENVS = ("default", "platform")

Manifest = dict[str, Any]


def _load_render_module() -> ModuleType:
    # infra/helm is not a package; the renderer is shared with scan.sh, so load it by path.
    spec = importlib.util.spec_from_file_location("render_chart", HELM_DIR / "render_chart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("render_chart", module)
    spec.loader.exec_module(module)
    return module


render_chart = _load_render_module()


def parse_manifests(rendered: dict[str, str], *, with_hooks: bool = True) -> list[Manifest]:
    """All Kubernetes objects of a render (NOTES.txt left out), each with ``_template`` set."""
    objects: list[Manifest] = []
    for template, text in rendered.items():
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            assert isinstance(doc, dict), f"{template}: not a mapping"
            hook = doc.get("metadata", {}).get("annotations", {}).get("helm.sh/hook")
            if hook and not with_hooks:
                continue
            doc["_template"] = template
            objects.append(doc)
    return objects


def strip_private(obj: Manifest) -> Manifest:
    """A manifest without the test-only ``_template`` key."""
    return {k: v for k, v in obj.items() if k != "_template"}


def render_objects(
    env: str, values: dict[str, Any] | None = None, *, is_upgrade: bool = False
) -> list[Manifest]:
    """Render ``env`` (optionally with replacement values) and parse every object."""
    return parse_manifests(render_chart.render(env, values, is_upgrade=is_upgrade))


def env_values(env: str) -> dict[str, Any]:
    """A fresh copy of an environment's values (empty dict for chart defaults)."""
    return render_chart.environment_values(env) or {}


def find(objects: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    """Objects of ``kind`` (and ``name``)."""
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[Manifest], kind: str, component: str | None = None) -> Manifest:
    """The single object of ``kind`` (for ``component``); fails when there are 0 or several."""
    matches = [
        o
        for o in objects
        if o["kind"] == kind
        and (
            component is None
            or o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        )
    ]
    assert len(matches) == 1, f"expected one {kind} {component or ''}, got {len(matches)}"
    return matches[0]


def pod_spec(obj: Manifest) -> Manifest:
    """The pod spec of a workload or a bare Pod."""
    if obj["kind"] == "Pod":
        spec: Manifest = obj["spec"]
        return spec
    template_spec: Manifest = obj["spec"]["template"]["spec"]
    return template_spec


def pod_labels(obj: Manifest) -> dict[str, str]:
    """The labels the pods of a workload (or a bare Pod) carry."""
    if obj["kind"] == "Pod":
        labels: dict[str, str] = obj["metadata"]["labels"]
        return labels
    template_labels: dict[str, str] = obj["spec"]["template"]["metadata"]["labels"]
    return template_labels


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "Pod")
