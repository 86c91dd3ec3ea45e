"""Every image the rendered releases run is one release.yml publishes.

release.yml pushes ``<REGISTRY>/<IMAGE_NAMESPACE>/<image>`` for the images of its matrix, tagged
``staging``/``latest``/``sha-<40 hex>`` from main and ``prod-vX.Y.Z`` from a tag vX.Y.Z, and
packages the chart with appVersion X.Y.Z. So: the chart's ``imageRegistry`` is the default
``ghcr.io/<owner>`` prefix, every rendered image of the platform, staging and prod releases is
one of the matrix's images with a tag of that scheme, and prod and the platform pin
``prod-v<chart appVersion>``.
"""

from __future__ import annotations

import re
import sys

import pytest
import yaml
from workflow_helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tests" / "helm"))
from chart_helpers import CHART_DIR, pod_spec, render_objects

pytestmark = pytest.mark.ci

RELEASE = REPO_ROOT / ".github" / "workflows" / "release.yml"


def _published() -> tuple[set[str], list[str]]:
    workflow = yaml.safe_load(RELEASE.read_text(encoding="utf-8"))
    matrix = workflow["jobs"]["images"]["strategy"]["matrix"]["include"]
    names = {entry["image"] for entry in matrix}
    tag_lines = next(
        step["with"]["tags"]
        for step in workflow["jobs"]["images"]["steps"]
        if "docker/metadata-action" in step.get("uses", "")
    )
    return names, tag_lines.splitlines()


def _images(env: str) -> set[str]:
    images = set()
    for obj in render_objects(env):
        if obj["kind"] == "CronJob":
            spec = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif obj["kind"] in ("Deployment", "StatefulSet", "Job", "Pod"):
            spec = pod_spec(obj)
        else:
            continue
        images |= {c["image"] for c in spec.get("initContainers", []) + spec["containers"]}
    return images


def test_release_publishes_the_tag_schemes_the_chart_uses() -> None:
    names, tags = _published()
    assert {"credit-scoring-api", "credit-scoring-serving", "credit-scoring-mlflow"} <= names
    assert "type=raw,value=staging,enable={{is_default_branch}}" in tags
    assert "type=semver,pattern={{version}},prefix=prod-v" in tags


@pytest.mark.parametrize("env", ["platform", "staging", "prod"])
def test_every_rendered_image_is_published_by_the_release_workflow(env: str) -> None:
    names, _ = _published()
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    app_version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    prefix = values["imageRegistry"]
    assert prefix == "ghcr.io/credit-scoring"  # ghcr.io/<repository owner>, one setting
    tag_scheme = re.compile(r"^(staging|latest|sha-[0-9a-f]{40}|prod-v\d+\.\d+\.\d+(-[\w.]+)?)$")
    images = _images(env)
    assert images
    for image in images:
        repository, _, tag = image.rpartition(":")
        assert repository.rpartition("/")[0] == prefix, image
        assert repository.rpartition("/")[2] in names, image
        assert tag_scheme.match(tag), image
        if env in ("platform", "prod"):
            assert tag == f"prod-v{app_version}", image


def test_one_setting_moves_every_image() -> None:
    values = yaml.safe_load((CHART_DIR / "values-prod.yaml").read_text(encoding="utf-8"))
    values["imageRegistry"] = "registry.example.com/acme"
    images = set()
    for obj in render_objects("prod", values):
        if obj["kind"] in ("Deployment", "Pod"):
            images |= {c["image"] for c in pod_spec(obj)["containers"]}
    assert images and all(i.startswith("registry.example.com/acme/") for i in images)
