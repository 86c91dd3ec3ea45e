"""docs/deployment.md, "Kubernetes": every command of the step-by-step sequence names what the
rendered releases really contain.

Checked: each ``helm install``/``upgrade`` uses a release name, namespace and values file of
``infra/helm/render_chart.py``'s environments, in the documented order (platform, staging,
prod); every namespace is created first; ``kubectl`` references (``deployment/``, ``svc/``,
``cronjob/``, ``job/``) exist in the rendered objects of their namespace; each namespace's
Secret provides every key its rendered pods mount, from files.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from chart_helpers import REPO_ROOT, Manifest, pod_spec, render_chart, render_objects

pytestmark = pytest.mark.helm

GUIDE = REPO_ROOT / "docs" / "deployment.md"
KINDS = {"deployment": "Deployment", "svc": "Service", "cronjob": "CronJob", "job": "Job"}


def _commands() -> list[list[str]]:
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## Kubernetes\n") : text.index("## End-to-end test\n")]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                for part in line.split("&&"):
                    commands.append(shlex.split(part.split("|")[0]))
    return commands


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _by_namespace() -> dict[str, list[Manifest]]:
    return {
        namespace: render_objects(env)
        for env, (_, _, namespace) in render_chart.ENVIRONMENTS.items()
        if env != "default"
    }


def test_helm_releases_match_the_environments_in_order() -> None:
    environments = {
        (release, namespace, f"infra/helm/credit-scoring-chart/{values}")
        for values, release, namespace in render_chart.ENVIRONMENTS.values()
        if values
    }
    installs = []
    for argv in _commands():
        if argv[:2] in (["helm", "install"], ["helm", "upgrade"]):
            release = argv[3] if argv[2] == "--install" else argv[2]
            values = _option(argv, "-f")
            assert (release, _option(argv, "--namespace"), values) in environments, argv
            assert values is not None and (REPO_ROOT / values).is_file()
            if argv[1] == "install":
                installs.append(release)
    assert installs == ["credit-scoring-platform", "credit-scoring-staging", "credit-scoring-prod"]


def test_namespaces_are_created_before_use() -> None:
    created: set[str] = set()
    for argv in _commands():
        if argv[:3] == ["kubectl", "create", "namespace"]:
            created.add(argv[3])
            continue
        namespace = _option(argv, "--namespace")
        if namespace:
            assert namespace in created, argv
    assert created == {"mlops-platform", "staging-mlops", "prod-mlops"}


def test_kubectl_references_exist_in_the_rendered_releases() -> None:
    rendered = _by_namespace()
    checked = 0
    for argv in _commands():
        if not argv or argv[0] != "kubectl":
            continue
        namespace = _option(argv, "--namespace")
        for arg in argv:
            kind, _, name = arg.removeprefix("--from=").partition("/")
            if kind in KINDS and name and namespace:
                names = {
                    o["metadata"]["name"] for o in rendered[namespace] if o["kind"] == KINDS[kind]
                }
                assert name in names, (arg, namespace, sorted(names))
                checked += 1
    assert checked >= 9


def _mounted_keys(objects: list[Manifest]) -> set[str]:
    keys: set[str] = set()
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        for volume in pod_spec(obj).get("volumes", []):
            if "secret" in volume and volume["secret"]["secretName"] == "credit-scoring-secrets":
                keys |= {item["key"] for item in volume["secret"]["items"]}
    return keys


def test_secrets_come_from_files_with_every_key_the_pods_mount() -> None:
    rendered = _by_namespace()
    provided: dict[str, set[str]] = {}
    for argv in _commands():
        if argv[:4] == ["kubectl", "create", "secret", "generic"] and argv[4] == (
            "credit-scoring-secrets"
        ):
            assert not any(a.startswith("--from-literal") for a in argv), argv
            namespace = _option(argv, "--namespace")
            assert namespace is not None
            provided[namespace] = {a.split("=", 2)[1] for a in argv if a.startswith("--from-file=")}
    assert set(provided) == set(rendered)
    for namespace, objects in rendered.items():
        assert _mounted_keys(objects) <= provided[namespace], namespace


def test_guide_names_the_first_training_job_and_the_restart_target() -> None:
    commands = [" ".join(argv) for argv in _commands()]
    assert any(
        c.startswith("kubectl wait job/credit-scoring-platform-training-r1") for c in commands
    )
    assert "kubectl rollout restart deployment/api-deployment --namespace prod-mlops" in commands
    assert Path(REPO_ROOT / "infra/helm/credit-scoring-chart/values-platform.yaml").is_file()
