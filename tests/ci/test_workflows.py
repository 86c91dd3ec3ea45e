"""The GitHub Actions workflows: actionlint, and the CI/release contract of docs/deployment.md.

ci.yml tests every change (the same checks as .ci/run); release.yml, the only publisher, runs ci.yml
and then pushes the images (main: staging/latest/sha-<commit>; tag vX.Y.Z: prod-vX.Y.Z) and, on a
tag, the Helm chart; an optional staging deploy is guarded by an environment and a variable.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from workflow_helpers import (
    FULL_SHA,
    RELEASE_VERSION,
    REPO_ROOT,
    Workflow,
    actionlint,
    makefile_prerequisites,
    run_scripts,
    step_using,
    steps,
    uses_lines,
    workflow_files,
)

pytestmark = pytest.mark.ci

CHART_DIR = REPO_ROOT / "infra" / "helm" / "credit-scoring-chart"

# Lowest major of each action that runs on Node 24 (GitHub removed Node 20 from its runners).
# A new action must be added here after checking its runtime.
NODE24_MAJORS = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/cache": 5,
    "docker/setup-qemu-action": 4,
    "docker/setup-buildx-action": 4,
    "docker/login-action": 4,
    "docker/metadata-action": 6,
    "docker/build-push-action": 7,
}


# --------------------------------------------------------------------------------------------
# actionlint
# --------------------------------------------------------------------------------------------


def test_actionlint_passes_on_every_workflow() -> None:
    result = actionlint(*workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_flags_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on:\n"
        "  push:\n"
        "    branch: main\n"  # not a key of `push`
        "jobs:\n"
        "  test:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - run: echo ${{ matrix.missing }}\n",  # no matrix in this job
        encoding="utf-8",
    )
    result = actionlint(broken, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'unexpected key "branch"' in result.stdout
    assert "matrix" in result.stdout


# --------------------------------------------------------------------------------------------
# Pinned actions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_actions_pinned_to_full_commit_shas_of_release_tags(path: Path) -> None:
    lines = uses_lines(path)
    assert lines, f"{path.name} uses no action"
    for number, line, match in lines:
        where = f"{path.name}:{number}: {line.strip()}"
        assert match, where
        assert FULL_SHA.match(match["ref"]), f"{where}: not pinned to a full commit SHA"
        comment = match["comment"] or ""
        assert RELEASE_VERSION.match(comment), f"{where}: needs a `# vX.Y.Z` comment"
        action = match["action"]
        assert action in NODE24_MAJORS, f"{where}: unknown action, check its runtime"
        major = int(comment[1:].split(".")[0])
        assert major >= NODE24_MAJORS[action], f"{where}: a Node 20 release"


def test_one_pin_per_action() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in workflow_files():
        for _, _, match in uses_lines(path):
            assert match
            pins.setdefault(match["action"], set()).add((match["ref"], match["comment"] or ""))
    assert {a: p for a, p in pins.items() if len(p) > 1} == {}


# --------------------------------------------------------------------------------------------
# ci.yml: every change
# --------------------------------------------------------------------------------------------


def _make_targets(workflow: Workflow) -> set[str]:
    targets: set[str] = set()
    for _, script in run_scripts(workflow):
        for line in script.splitlines():
            words = line.split()
            if words[:1] == ["make"]:
                targets.update(w for w in words[1:] if not w.startswith("-") and "=" not in w)
    return targets


def test_ci_triggers(ci: Workflow) -> None:
    assert set(ci["on"]) == {"pull_request", "workflow_call", "workflow_dispatch"}


def test_ci_cancels_superseded_runs(ci: Workflow) -> None:
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert "github.ref" in ci["concurrency"]["group"]


def test_ci_token_is_read_only(ci: Workflow) -> None:
    assert ci["permissions"] == {"contents": "read"}
    assert [job for job in ci["jobs"].values() if "permissions" in job] == []


def test_ci_runs_what_ci_run_runs(ci: Workflow) -> None:
    # .ci/run (the local CI) runs `make test`; the workflow must run each of its parts.
    assert re.search(r"^make test$", (REPO_ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    parts = makefile_prerequisites("test")
    assert parts[:3] == ["lint", "typecheck", "test-py"]
    assert {"test-airflow", "test-e2e"} <= set(parts)
    assert set(parts) <= _make_targets(ci)


def test_lint_target_runs_actionlint() -> None:
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    lint_rule = text.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/actionlint" in lint_rule


def test_ci_tests_run_against_a_postgres_service(ci: Workflow) -> None:
    [job] = [j for j in ci["jobs"].values() if "make test-py" in str(j.get("steps"))]
    postgres = job["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert postgres["ports"] == ["5432:5432"]
    assert postgres["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert "pg_isready" in postgres["options"]


def test_ci_caches_dependencies(ci: Workflow) -> None:
    for job_id, job in ci["jobs"].items():
        if not any("make " in str(s.get("run", "")) for s in steps(job)):
            continue
        cache = step_using(job, "actions/cache")["with"]
        assert cache["path"] == "~/.cache/uv", job_id
        assert "hashFiles(" in cache["key"] and ".lock" in cache["key"], job_id
        used = [str(s.get("uses", "")) for s in steps(job)]
        assert any(u.startswith("actions/setup-python@") for u in used), job_id


def test_ci_builds_both_images_without_pushing(ci: Workflow) -> None:
    job = ci["jobs"]["images"]
    dockerfiles = {entry["dockerfile"] for entry in job["strategy"]["matrix"]["include"]}
    assert {"infra/docker/api/Dockerfile", "infra/docker/mlflow/Dockerfile"} <= dockerfiles
    build = step_using(job, "docker/build-push-action")["with"]
    assert build["push"] is False
    assert build["file"] == "${{ matrix.dockerfile }}"
    # Docker layers: the GitHub Actions cache, one scope per image, shared with release.yml.
    assert build["cache-from"] == "type=gha,scope=${{ matrix.image }}"
    assert build["cache-to"] == "type=gha,mode=max,scope=${{ matrix.image }}"
    step_using(job, "docker/setup-buildx-action")


def test_ci_checks_the_chart_with_helm(ci: Workflow) -> None:
    scripts = "\n".join(script for job_id, script in run_scripts(ci) if job_id == "chart")
    assert 'helm lint --strict "$chart" -f "$chart/values-$env.yaml"' in scripts
    assert "for env in platform staging prod" in scripts
    assert "helm template" in scripts
    assert "helm package" in scripts


# --------------------------------------------------------------------------------------------
# release.yml: publish on main and on version tags
# --------------------------------------------------------------------------------------------


def test_release_triggers(release: Workflow) -> None:
    assert release["on"] == {"push": {"branches": ["main"], "tags": ["v*"]}}


def test_release_never_cancels_a_publication(release: Workflow) -> None:
    assert release["concurrency"]["cancel-in-progress"] is False


def test_release_publishes_only_after_ci(release: Workflow) -> None:
    jobs = release["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert "ci" in jobs["images"]["needs"]
    assert "images" in jobs["chart"]["needs"]
    assert "images" in jobs["deploy-staging"]["needs"]


def test_release_permissions_are_least_privilege(release: Workflow) -> None:
    assert release["permissions"] == {}
    granted = {job_id: job.get("permissions") for job_id, job in release["jobs"].items()}
    assert granted == {
        "meta": {},
        "ci": {"contents": "read"},
        "images": {"contents": "read", "packages": "write"},
        "chart": {"contents": "read", "packages": "write"},
        "deploy-staging": {"contents": "read"},
    }


def test_only_release_yml_pushes() -> None:
    for path in workflow_files():
        text = path.read_text(encoding="utf-8")
        publishes = any(
            marker in text
            for marker in ("docker/login-action", "push: true", "helm push", "helm registry login")
        )
        assert publishes == (path.name == "release.yml"), path.name


def test_release_image_names_match_the_chart(release: Workflow) -> None:
    images = {e["image"] for e in release["jobs"]["images"]["strategy"]["matrix"]["include"]}
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    # One setting: ghcr.io/<namespace>; the workflow publishes <registry>/<namespace>/<image>.
    registry, _, namespace = values["imageRegistry"].partition("/")
    assert registry == "ghcr.io" and namespace and "/" not in namespace
    assert values["image"]["repository"] == values["mlflow"]["image"]["repository"] == ""
    assert {"credit-scoring-api", "credit-scoring-serving", "credit-scoring-mlflow"} <= images
    assert release["env"]["REGISTRY"] == "${{ vars.REGISTRY || 'ghcr.io' }}"
    meta = step_using(release["jobs"]["images"], "docker/metadata-action")["with"]
    assert meta["images"] == "${{ needs.meta.outputs.prefix }}/${{ matrix.image }}"


def test_release_image_tags(release: Workflow) -> None:
    meta = step_using(release["jobs"]["images"], "docker/metadata-action")["with"]
    assert meta["flavor"] == "latest=false"  # a version tag must not move `latest`
    assert meta["tags"].split() == [
        "type=raw,value=staging,enable={{is_default_branch}}",
        "type=raw,value=latest,enable={{is_default_branch}}",
        "type=sha,format=long,prefix=sha-,enable={{is_default_branch}}",
        "type=semver,pattern={{version}},prefix=prod-v",
    ]


def test_release_builds_multi_arch_with_sbom_and_provenance(release: Workflow) -> None:
    job = release["jobs"]["images"]
    build = step_using(job, "docker/build-push-action")["with"]
    assert build["platforms"] == "linux/amd64,linux/arm64"
    assert build["push"] is True
    assert build["tags"] == "${{ steps.tags.outputs.tags }}"
    assert build["sbom"] is True
    assert build["provenance"] == "mode=max"
    assert build["cache-from"] == "type=gha,scope=${{ matrix.image }}"
    step_using(job, "docker/setup-qemu-action")
    step_using(job, "docker/setup-buildx-action")


def test_release_logs_in_with_the_token_or_registry_secrets(release: Workflow) -> None:
    login = step_using(release["jobs"]["images"], "docker/login-action")["with"]
    assert login["registry"] == "${{ env.REGISTRY }}"
    assert login["password"] == "${{ secrets.REGISTRY_PASSWORD || secrets.GITHUB_TOKEN }}"


def _meta_script(release: Workflow) -> str:
    [script] = [s for job_id, s in run_scripts(release) if job_id == "meta"]
    return script


@pytest.mark.parametrize(
    ("ref_type", "ref_name", "expected"),
    [
        ("branch", "main", {"prefix": "ghcr.io/credit-scoring"}),
        ("tag", "v1.2.3", {"prefix": "ghcr.io/credit-scoring", "version": "1.2.3"}),
        ("tag", "v2.0.0-rc.1", {"prefix": "ghcr.io/credit-scoring", "version": "2.0.0-rc.1"}),
        ("tag", "v1.2", None),
        ("tag", "version-1", None),
    ],
)
def test_release_meta_step(
    release: Workflow, tmp_path: Path, ref_type: str, ref_name: str, expected: dict[str, str] | None
) -> None:
    output = tmp_path / "output"
    output.touch()
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", _meta_script(release)],
        env={
            "PATH": "/usr/bin:/bin",
            "GITHUB_OUTPUT": str(output),
            "REGISTRY": "ghcr.io",
            "NAMESPACE": "Credit-Scoring",
            "REF_TYPE": ref_type,
            "REF_NAME": ref_name,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    if expected is None:
        assert result.returncode == 1
        assert "release tags are vX.Y.Z" in result.stdout
        return
    assert result.returncode == 0, result.stdout + result.stderr
    lines = output.read_text().splitlines()
    assert dict(line.split("=", 1) for line in lines) == expected


def test_release_pushes_the_chart_on_tags(release: Workflow) -> None:
    job = release["jobs"]["chart"]
    assert job["if"] == "github.ref_type == 'tag'"
    [step] = steps(job)[1:]
    assert step["env"]["VERSION"] == "${{ needs.meta.outputs.version }}"
    script = step["run"]
    assert 'helm package infra/helm/credit-scoring-chart --version "$VERSION"' in script
    assert '--app-version "$VERSION"' in script
    assert "--password-stdin" in script
    package = '"$RUNNER_TEMP/chart/credit-scoring-chart-$VERSION.tgz"'
    assert f'helm push {package} "oci://$PREFIX/charts"' in script


def test_staging_deploy_is_off_by_default_and_guarded(release: Workflow) -> None:
    job = release["jobs"]["deploy-staging"]
    assert job["if"] == "github.ref == 'refs/heads/main' && vars.DEPLOY_STAGING == 'true'"
    assert job["environment"] == "staging"
    [step] = steps(job)[1:]
    assert step["env"]["KUBECONFIG_DATA"] == "${{ secrets.STAGING_KUBECONFIG }}"
    assert step["env"]["TAG"] == "sha-${{ github.sha }}"
    script = step["run"]
    assert "helm upgrade --install credit-scoring-staging" in script
    assert '-f "$chart/values-staging.yaml"' in script
    # The staging release is the API only (MLflow is the platform release's).
    assert '--set-string "imageRegistry=$PREFIX,image.tag=$TAG"' in script


def test_prod_values_pin_a_release_tag() -> None:
    # The release process bumps these to the prod-vX.Y.Z that release.yml published.
    # prod-v<chart appVersion>: what a tag v<appVersion> publishes (tests/ci/test_image_refs.py).
    app_version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    prod = yaml.safe_load((CHART_DIR / "values-prod.yaml").read_text(encoding="utf-8"))
    platform = yaml.safe_load((CHART_DIR / "values-platform.yaml").read_text(encoding="utf-8"))
    for tag in (
        prod["image"]["tag"],
        platform["mlflow"]["image"]["tag"],
        platform["training"]["image"]["tag"],
    ):
        assert tag == f"prod-v{app_version}"


# --------------------------------------------------------------------------------------------
# Documentation
# --------------------------------------------------------------------------------------------


def test_workflows_are_documented() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    guide = (REPO_ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for text in (readme, guide):
        for needle in ("release.yml", "ci.yml", "prod-v", "values-prod.yaml", "helm upgrade"):
            assert needle in text
    assert "images.yml" not in readme + guide
