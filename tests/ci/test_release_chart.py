"""The chart as release.yml packages it for a tag vX.Y.Z: version and appVersion X.Y.Z, and with
no image tag set it runs the images published for that tag (prod-vX.Y.Z)."""

from __future__ import annotations

import re
from pathlib import Path

import helm_python as helm
import pytest
import yaml
from workflow_helpers import REPO_ROOT

pytestmark = pytest.mark.ci

CHART_DIR = REPO_ROOT / "infra" / "helm" / "credit-scoring-chart"


def test_packaged_chart_runs_the_release_images(tmp_path: Path) -> None:
    archive = Path(
        helm.package(CHART_DIR, destination=tmp_path, version="1.2.3", app_version="1.2.3")
    )
    assert archive.name == "credit-scoring-chart-1.2.3.tgz"
    metadata = yaml.safe_load(helm.show(str(archive), output_format="chart"))
    assert (metadata["name"], metadata["version"], metadata["appVersion"]) == (
        "credit-scoring-chart",
        "1.2.3",
        "1.2.3",
    )
    with helm.Chart.load(archive) as chart:
        rendered = chart.render(None, name="credit-scoring", namespace="mlops", is_install=True)
    images = set(re.findall(r"image: \"?([^\s\"]+)", "\n".join(rendered.values())))
    assert images == {
        "ghcr.io/credit-scoring/credit-scoring-serving:prod-v1.2.3",
        "ghcr.io/credit-scoring/credit-scoring-mlflow:prod-v1.2.3",
    }
