"""The Helm chart: lint, render per environment, Kubernetes schemas and the deployment contract.

Rendered with the real Helm SDK (``helm_python``) and validated against the Kubernetes OpenAPI
JSON schemas shipped by ``kubernetes-validate``.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from chart_helpers import (
    API_ENVS,
    CHART_DIR,
    ENVS,
    MLFLOW_ENVS,
    WORKLOAD_KINDS,
    Manifest,
    env_values,
    find,
    one,
    pod_labels,
    pod_spec,
    render_chart,
    render_objects,
    strip_private,
)
from kubernetes_validate.utils import latest_version

from credit_scoring.config import Settings

pytestmark = pytest.mark.helm

# The chart declares kubeVersion >=1.27; validate against a widely deployed and the newest schema.
KUBE_VERSIONS = ("1.30.0", latest_version())
# Custom resources (Prometheus Operator) have no schema in kubernetes-validate: checked by hand.
CRD_KINDS = {"ServiceMonitor"}
RenderFn = Callable[..., list[Manifest]]


def _containers(obj: Manifest) -> list[Manifest]:
    spec = pod_spec(obj)
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions In/NotIn/Exists)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _pods(objects: list[Manifest]) -> list[Manifest]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def _components_selected(objects: list[Manifest], selector: dict[str, Any]) -> set[str]:
    return {
        pod_labels(w)["app.kubernetes.io/component"]
        for w in _pods(objects)
        if _selects(selector, pod_labels(w))
    }


# --------------------------------------------------------------------------------------------
# Lint and schema validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_lint_has_no_errors_or_warnings(env: str) -> None:
    report = helm.lint(CHART_DIR, env_values(env) or None, strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_manifest_matches_the_kubernetes_schema(
    rendered: dict[str, list[Manifest]], env: str, kube_version: str
) -> None:
    objects = rendered[env]
    assert len(objects) >= 7
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        manifest = strip_private(obj)
        try:
            # strict: unknown fields (typos such as "readinesProbe") are errors too.
            kubernetes_validate.validate(manifest, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{env}: {obj['_template']} {obj['kind']}/{obj['metadata']['name']}: "
                f"{exc.message} at {'/'.join(map(str, exc.path))}"
            )


def test_kubernetes_validation_catches_a_broken_manifest(
    rendered: dict[str, list[Manifest]],
) -> None:
    deployment = copy.deepcopy(strip_private(one(rendered["prod"], "Deployment", "api")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)


def test_schema_rejects_a_wrong_type_in_a_values_file_with_a_clear_message(
    tmp_path: Path,
) -> None:
    values_file = tmp_path / "values-broken.yaml"
    values_file.write_text(
        "api:\n  autoscaling:\n    enabled: true\n    maxReplicas: twenty\n",
        encoding="utf-8",
    )
    values = helm.values_from_yaml(values_file.read_text(encoding="utf-8"))
    with (
        helm.Chart.load(CHART_DIR) as chart,
        pytest.raises(helm.HelmValuesError) as excinfo,
    ):
        chart.render(values, name="credit-scoring", namespace="ns")
    message = str(excinfo.value)
    assert "/api/autoscaling/maxReplicas" in message
    assert "got string, want integer" in message

    report = helm.lint(CHART_DIR, values)
    errors = " ".join(report["errors"]) + " ".join(
        m["error"] for m in report["messages"] if m["severity"] == 3
    )
    assert "/api/autoscaling/maxReplicas" in errors


@pytest.mark.parametrize(
    ("values", "pointer"),
    [
        ({"api": {"replicaCount": "2"}}, "/api/replicaCount"),
        ({"ingress": {"enabled": "yes"}}, "/ingress/enabled"),
        ({"api": {"service": {"type": "NodeBalancer"}}}, "/api/service/type"),
        (
            {"mlflow": {"artifacts": {"destination": "ftp://bucket"}}},
            "/mlflow/artifacts",
        ),
        # A plaintext secret has no place in values: unknown keys are refused.
        ({"api": {"apiKeys": "key-1,key-2"}}, "/api"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"mlflow": {"auth": {"enabled": "true"}}}, "/mlflow/auth/enabled"),
        # Passwords of the registry identities come from existingSecret only.
        ({"mlflow": {"auth": {"writerPassword": "s3cret"}}}, "/mlflow/auth"),
    ],
)
def test_schema_rejects_invalid_values(values: dict[str, Any], pointer: str) -> None:
    with (
        helm.Chart.load(CHART_DIR) as chart,
        pytest.raises(helm.HelmValuesError, match=re.escape(pointer)),
    ):
        chart.validate_schema(values)


@pytest.mark.parametrize("env", ENVS)
def test_environment_values_satisfy_the_schema(env: str) -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        chart.validate_schema(env_values(env))


# --------------------------------------------------------------------------------------------
# Resources per environment
# --------------------------------------------------------------------------------------------

COMMON_KINDS = {
    "ConfigMap",
    "Deployment",
    "Service",
    "ServiceAccount",
    "NetworkPolicy",
}


def test_kinds_per_environment(rendered: dict[str, list[Manifest]]) -> None:
    kinds = {env: {o["kind"] for o in objs} for env, objs in rendered.items()}
    for env in ENVS:
        assert kinds[env] >= COMMON_KINDS, (env, COMMON_KINDS - kinds[env])
        assert "Secret" not in kinds[env], "the chart must never create a Secret"
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress"} <= kinds["prod"]
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress"}.isdisjoint(
        kinds["staging"]
    )
    for env in ("platform", "staging", "prod"):
        assert "StatefulSet" not in kinds[env]  # managed databases
        assert "PersistentVolumeClaim" not in kinds[env]  # artifacts in the object store
    # One registry: MLflow only in the platform release, the APIs only in staging and prod.
    assert [d["metadata"]["name"] for d in find(rendered["platform"], "Deployment")] == [
        "credit-scoring-platform-mlflow"
    ]
    assert {"CronJob", "Job", "PodDisruptionBudget"} <= kinds["platform"]
    for env in ("staging", "prod"):
        assert [d["metadata"]["name"] for d in find(rendered[env], "Deployment")] == [
            "api-deployment"
        ]


@pytest.mark.parametrize("env", API_ENVS)
def test_api_deployment_is_named_for_the_rollout_command(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    assert one(rendered[env], "Deployment", "api")["metadata"]["name"] == "api-deployment"


def test_api_deployment_name_is_configurable(render: RenderFn) -> None:
    values = env_values("prod")
    values["api"]["deploymentName"] = "scoring-api"
    objects = render("prod", values)
    assert one(objects, "Deployment", "api")["metadata"]["name"] == "scoring-api"
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "scoring-api"


def test_image_tags_are_pinned_per_environment(
    rendered: dict[str, list[Manifest]],
) -> None:
    def images(env: str) -> set[str]:
        return {c["image"] for w in _pods(rendered[env]) for c in _containers(w)}

    app_version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    # The APIs run the serving image; the platform's trainer the full one.
    assert images("staging") == {"ghcr.io/credit-scoring/credit-scoring-serving:staging"}
    assert images("prod") == {f"ghcr.io/credit-scoring/credit-scoring-serving:prod-v{app_version}"}
    assert images("platform") == {
        f"ghcr.io/credit-scoring/credit-scoring-api:prod-v{app_version}",  # trainer
        f"ghcr.io/credit-scoring/credit-scoring-mlflow:prod-v{app_version}",
    }
    for env in ENVS:
        assert not any(i.endswith(":latest") for i in images(env))


def test_image_digest_replaces_the_tag(render: RenderFn) -> None:
    values = env_values("prod")
    values["image"]["digest"] = "sha256:" + "a" * 64
    api = one(render("prod", values), "Deployment", "api")
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "ghcr.io/credit-scoring/credit-scoring-serving@sha256:" + "a" * 64
    )


def test_staging_is_one_small_replica_without_autoscaling(
    rendered: dict[str, list[Manifest]],
) -> None:
    api = one(rendered["staging"], "Deployment", "api")
    assert api["spec"]["replicas"] == 1
    resources = api["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["cpu"] == "100m"
    assert resources["limits"]["memory"] == "768Mi"


def test_prod_autoscales_3_to_20_on_cpu(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["prod"]
    hpa = one(objects, "HorizontalPodAutoscaler")
    api = one(objects, "Deployment", "api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": api["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
    # CPU only: the API's RSS does not grow with load (values-prod.yaml, benchmarks/README.md).
    assert targets == {"cpu": {"type": "Utilization", "averageUtilization": 70}}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    # The HPA owns the replica count: a fixed one would fight it on every upgrade.
    assert "replicas" not in api["spec"]


def test_hpa_bounds_are_checked(render: RenderFn) -> None:
    values = env_values("prod")
    values["api"]["autoscaling"].update(minReplicas=30, maxReplicas=20)
    with pytest.raises(helm.HelmRenderError, match=r"minReplicas \(30\) must not exceed"):
        render("prod", values)


def test_prod_pdb_protects_the_api_pods(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["prod"]
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2
    assert (
        pdb["spec"]["minAvailable"] < one(objects, "HorizontalPodAutoscaler")["spec"]["minReplicas"]
    ), "a PDB at or above the minimum replica count blocks every node drain"
    assert _components_selected(objects, pdb["spec"]["selector"]) == {"api"}


def test_prod_spreads_api_pods_over_zones_and_nodes(
    rendered: dict[str, list[Manifest]],
) -> None:
    api = one(rendered["prod"], "Deployment", "api")
    constraints = api["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in constraints} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    for constraint in constraints:
        assert _selects(constraint["labelSelector"], pod_labels(api))
    assert (
        "topologySpreadConstraints"
        not in one(rendered["staging"], "Deployment", "api")["spec"]["template"]["spec"]
    )


def test_prod_ingress_terminates_tls_for_the_api(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["prod"]
    ingress = one(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    tls_hosts = {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    assert hosts <= tls_hosts
    api_service = one(objects, "Service", "api")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == api_service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in api_service["spec"]["ports"]}


def test_prod_ingress_routes_only_public_paths(rendered: dict[str, list[Manifest]]) -> None:
    """/metrics, /docs, /redoc and /openapi.json are not reachable through the public ingress
    (issue 13); the scoring API and the health checks are."""
    ingress = one(rendered["prod"], "Ingress")
    paths = {
        (p["path"], p["pathType"])
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert paths == {("/v1", "Prefix"), ("/healthz", "Exact"), ("/readyz", "Exact")}
    for private in ("/metrics", "/docs", "/redoc", "/openapi.json"):
        assert not any(
            private == path
            or (kind == "Prefix" and private.startswith(path.rstrip("/") + "/"))
            or (kind == "Prefix" and path == "/")
            for path, kind in paths
        ), private


def test_service_type_is_configurable(render: RenderFn) -> None:
    values = env_values("staging")
    values["api"]["service"] = {"type": "LoadBalancer", "port": 443}
    service = one(render("staging", values), "Service", "api")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"][0]["port"] == 443


# --------------------------------------------------------------------------------------------
# Pods: probes, resources, security
# --------------------------------------------------------------------------------------------


def _probe(container: Manifest, kind: str) -> tuple[str, str]:
    get = container[kind]["httpGet"]
    return get["path"], get["port"]


@pytest.mark.parametrize("env", ENVS)
def test_probes_use_named_ports_and_the_health_endpoints(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    if env in API_ENVS:
        api = one(rendered[env], "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
        assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        assert _probe(api, "livenessProbe") == ("/healthz", "http")
        assert _probe(api, "startupProbe") == ("/healthz", "http")
        assert _probe(api, "readinessProbe") == ("/readyz", "http")
    if env not in MLFLOW_ENVS:  # staging and prod read the platform registry
        assert not [o for o in rendered[env] if "mlflow" in o["metadata"]["name"]]
        return

    mlflow = one(rendered[env], "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    assert mlflow["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert _probe(mlflow, kind) == ("/health", "http")


@pytest.mark.parametrize("env", ENVS)
def test_every_pod_is_hardened(rendered: dict[str, list[Manifest]], env: str) -> None:
    workloads = _pods(rendered[env])
    assert {w["kind"] for w in workloads} >= {"Deployment"}
    for workload in workloads:
        where = f"{env} {workload['kind']}/{workload['metadata']['name']}"
        spec = pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in _containers(workload):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] >= 999, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["privileged"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            resources = container["resources"]
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[section]), (where, section)


@pytest.mark.parametrize("env", API_ENVS)
def test_api_writes_only_to_emptydirs_it_is_configured_with(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    api = one(objects, "Deployment", "api")
    spec = api["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["securityContext"]["runAsUser"] == 10001
    volumes = {v["name"]: v for v in spec["volumes"]}
    writable = {
        m["mountPath"]: volumes[m["name"]]
        for m in container["volumeMounts"]
        if not m.get("readOnly")
    }
    assert set(writable) == {
        "/tmp",
        "/var/lib/credit-scoring",
        "/var/cache/credit-scoring",
    }
    assert all("emptyDir" in v for v in writable.values())
    config = one(objects, "ConfigMap", "api")["data"]
    assert config["CREDIT_SCORING_HOME"] == "/var/lib/credit-scoring"
    assert config["CREDIT_SCORING_MODEL_CACHE_DIR"] == "/var/cache/credit-scoring"


def test_prometheus_scrapes_the_api_port(rendered: dict[str, list[Manifest]]) -> None:
    api = one(rendered["prod"], "Deployment", "api")
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    port = int(annotations["prometheus.io/port"])
    assert port in {
        p["containerPort"] for p in api["spec"]["template"]["spec"]["containers"][0]["ports"]
    }


def test_service_monitor_by_value(render: RenderFn, rendered: dict[str, list[Manifest]]) -> None:
    assert not find(rendered["prod"], "ServiceMonitor")
    values = env_values("prod")
    values["api"]["metrics"]["serviceMonitor"] = {
        "enabled": True,
        "labels": {"release": "kps"},
    }
    objects = render("prod", values)
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    service = one(objects, "Service", "api")
    assert _selects(monitor["spec"]["selector"], service["metadata"]["labels"])


# --------------------------------------------------------------------------------------------
# Selectors, services, config rollout
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_selectors_match_pod_labels_and_services_target_named_ports(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    for workload in find(objects, "Deployment") + find(objects, "StatefulSet"):
        assert _selects(workload["spec"]["selector"], pod_labels(workload)), workload["metadata"]
    expected_ports = {"api": 8000, "mlflow": 5000, "postgresql": 5432}
    for service in find(objects, "Service"):
        targets = [
            w
            for w in _pods(objects)
            if w["kind"] != "Pod"
            and _selects({"matchLabels": service["spec"]["selector"]}, pod_labels(w))
        ]
        assert len(targets) == 1, f"{service['metadata']['name']} selects {len(targets)} workloads"
        component = service["metadata"]["labels"]["app.kubernetes.io/component"]
        container_ports = {
            p["name"]: p["containerPort"] for c in _containers(targets[0]) for p in c["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in container_ports, (
                service["metadata"]["name"],
                port,
            )
            assert container_ports[port["targetPort"]] == expected_ports[component]


@pytest.mark.parametrize("env", ENVS)
def test_service_accounts_exist_and_have_no_token(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    accounts = {sa["metadata"]["name"]: sa for sa in find(objects, "ServiceAccount")}
    components = {"default": ("api", "mlflow"), "platform": ("mlflow",)}.get(env, ("api",))
    for name in components:
        deployment = one(objects, "Deployment", name)
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        assert account in accounts
        assert accounts[account]["automountServiceAccountToken"] is False


def test_config_change_rolls_the_api_pods(render: RenderFn) -> None:
    def checksum(values: dict[str, Any]) -> str:
        api = one(render("staging", values), "Deployment", "api")
        return str(api["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    base = env_values("staging")
    changed = copy.deepcopy(base)
    changed["api"]["reloadIntervalS"] = 30
    unrelated = copy.deepcopy(base)
    unrelated["mlflow"]["workers"] = 3
    assert re.fullmatch(r"[0-9a-f]{64}", checksum(base))
    assert checksum(changed) != checksum(base)
    assert checksum(unrelated) == checksum(base)


# --------------------------------------------------------------------------------------------
# Secrets and configuration contract with the application
# --------------------------------------------------------------------------------------------

SECRET_NAME_HINTS = (
    "PASSWORD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "DATABASE_URL",
    "STORE_URI",
)


@pytest.mark.parametrize("env", ENVS)
def test_secrets_come_only_from_the_existing_secret(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    values = env_values(env)
    secret_name = values.get("existingSecret", "credit-scoring-secrets")
    with helm.Chart.load(CHART_DIR) as chart:
        allowed_keys = set(chart.values["secretKeys"].values())
    referenced: set[str] = set()
    for workload in _pods(rendered[env]):
        spec = pod_spec(workload)
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == secret_name
                referenced |= {item["key"] for item in volume["secret"]["items"]}
        for container in _containers(workload):
            assert "envFrom" not in container or all(
                "secretRef" not in source for source in container["envFrom"]
            )
            for env_var in container.get("env", []):
                ref = env_var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == secret_name
                    referenced.add(ref["key"])
                elif env_var["name"].endswith("_FILE"):
                    secret_mounts = [
                        m["mountPath"]
                        for m in container["volumeMounts"]
                        if any(v["name"] == m["name"] and "secret" in v for v in spec["volumes"])
                    ]
                    assert any(env_var["value"].startswith(p + "/") for p in secret_mounts)
                elif any(hint in env_var["name"] for hint in SECRET_NAME_HINTS):
                    # Only a reference to another (secret) variable may be inlined.
                    assert "$(" in env_var.get("value", ""), (env, env_var)
                    assert "@" in env_var["value"] and ":$(" in env_var["value"]
    assert referenced and referenced <= allowed_keys, referenced - allowed_keys
    expected = set()
    if env in API_ENVS:  # the prediction log is in PostgreSQL everywhere
        expected |= {"api-keys", "admin-api-key", "webhook-secret", "database-url"}
    if env in MLFLOW_ENVS:
        expected.add("mlflow-backend-store-uri")
    if env in ("staging", "prod"):  # registry access control: the APIs' read-only identity
        expected.add("mlflow-reader-password")
    if env == "platform":  # MLflow's basic auth, the access Job and the trainer's writer
        expected |= {
            "mlflow-auth-database-uri",
            "mlflow-admin-password",
            "mlflow-flask-secret-key",
            "mlflow-writer-password",
            "mlflow-reader-password",
        }
    assert expected <= referenced


def test_values_files_hold_no_secret() -> None:
    pattern = re.compile(r"(password|passwd|secret|token|api[-_]?key)\s*:\s*(\S+)", re.IGNORECASE)
    for path in sorted(CHART_DIR.glob("values*.yaml")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            match = pattern.search(code)
            if match:
                # Allowed: names of secrets/keys, never their content.
                assert re.fullmatch(r"[a-z0-9-]+|\"\"|\{\}", match.group(2)), f"{path}:{number}"


@pytest.mark.parametrize("env", API_ENVS)
def test_api_config_is_understood_by_the_application_settings(
    rendered: dict[str, list[Manifest]],
    env: str,
    tmp_path: Path,
    isolated_env: pytest.MonkeyPatch,
) -> None:
    objects = rendered[env]
    api = one(objects, "Deployment", "api")
    spec = api["spec"]["template"]["spec"]
    config = dict(one(objects, "ConfigMap", "api")["data"])
    for key in config:
        if key.startswith("CREDIT_SCORING_"):
            field = key.removeprefix("CREDIT_SCORING_").lower()
            assert field in Settings.model_fields, f"{key} is not a setting of the application"

    # Materialise the mounted secret files under tmp_path, as the kubelet would.
    contents = {
        "api-keys": "key-one, key-two",
        "admin-api-key": "admin",
        "webhook-secret": "whs",
        "database-url": "postgresql://u:p@db:5432/predictions",
        "mlflow-reader-password": "reader-password-1",
    }
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = [m for m in spec["containers"][0]["volumeMounts"] if "secret" in volumes[m["name"]]]
    for mount in mounts:
        mounted = tmp_path / mount["name"]
        mounted.mkdir()
        for item in volumes[mount["name"]]["secret"]["items"]:
            (mounted / item["path"]).write_text(contents[item["key"]], encoding="utf-8")
    for key, value in config.items():
        for mount in mounts:
            value = value.replace(mount["mountPath"], str(tmp_path / mount["name"]))
        value = value.replace("/var/", f"{tmp_path}/var/")
        isolated_env.setenv(key, value)

    settings = Settings()
    if env == "default":
        mlflow_service = one(objects, "Service", "mlflow")
        name, port = mlflow_service["metadata"]["name"], mlflow_service["spec"]["ports"][0]["port"]
        assert settings.tracking_uri == f"http://{name}:{port}"
    else:  # the platform release's MLflow, the one registry
        platform = one(render_objects("platform"), "Service", "mlflow")
        assert settings.tracking_uri == (
            f"http://{platform['metadata']['name']}.mlops-platform.svc.cluster.local:"
            f"{platform['spec']['ports'][0]['port']}"
        )
    assert settings.model_name == "credit-scoring"
    assert settings.serve_alias == ("staging" if env == "staging" else "production")
    assert settings.reload_interval_s == 10.0
    assert settings.api_key_list() == ["key-one", "key-two"]
    assert settings.admin_api_key is not None
    assert settings.webhook_secret is not None
    assert settings.database_url is not None
    if env == "default":  # the demo's open registry
        assert settings.registry_username is None
    else:  # the registry's read-only identity
        assert settings.registry_username == "credit-scoring-reader"
        assert settings.registry_password is not None
        assert settings.registry_password.get_secret_value() == "reader-password-1"


def test_shadow_challenger_is_off_by_default_and_configurable(
    rendered: dict[str, list[Manifest]], render: RenderFn, isolated_env: pytest.MonkeyPatch
) -> None:
    """``api.shadow``: no shadow settings unless an alias is given; then both reach the API's
    Settings as the shadow alias and fraction; a fraction outside [0, 1] is refused."""
    for env in API_ENVS:
        config = one(rendered[env], "ConfigMap", "api")["data"]
        assert not {k for k in config if k.startswith("CREDIT_SCORING_SHADOW_")}, env
    values = env_values("prod")
    values.setdefault("api", {})["shadow"] = {"alias": "staging", "fraction": 0.25}
    config = one(render("prod", values), "ConfigMap", "api")["data"]
    assert config["CREDIT_SCORING_SHADOW_ALIAS"] == "staging"
    assert config["CREDIT_SCORING_SHADOW_FRACTION"] == "0.25"
    for key in ("CREDIT_SCORING_SHADOW_ALIAS", "CREDIT_SCORING_SHADOW_FRACTION"):
        isolated_env.setenv(key, config[key])
    settings = Settings()
    assert (settings.shadow_alias, settings.shadow_fraction) == ("staging", 0.25)
    with helm.Chart.load(CHART_DIR) as chart:
        for bad, pointer in (
            ({"fraction": 1.5}, "/api/shadow/fraction"),
            ({"alias": "stag ing"}, "/api/shadow/alias"),
        ):
            with pytest.raises(helm.HelmValuesError, match=re.escape(pointer)):
                chart.validate_schema({"api": {"shadow": bad}})


def test_score_psi_gauge_settings_reach_the_api(
    rendered: dict[str, list[Manifest]], render: RenderFn, isolated_env: pytest.MonkeyPatch
) -> None:
    """``api.scorePsi``: the window and the minimum reach the API's Settings (defaults as the
    application's); a minimum above the window is refused at render time, not at pod start."""
    defaults = Settings()
    for env in API_ENVS:
        config = one(rendered[env], "ConfigMap", "api")["data"]
        assert config["CREDIT_SCORING_API_SCORE_PSI_WINDOW"] == str(defaults.api_score_psi_window)
        assert config["CREDIT_SCORING_API_SCORE_PSI_MIN_SCORES"] == str(
            defaults.api_score_psi_min_scores
        )
    values = env_values("prod")
    values.setdefault("api", {})["scorePsi"] = {"window": 5000, "minScores": 500}
    config = one(render("prod", values), "ConfigMap", "api")["data"]
    for key in ("CREDIT_SCORING_API_SCORE_PSI_WINDOW", "CREDIT_SCORING_API_SCORE_PSI_MIN_SCORES"):
        isolated_env.setenv(key, config[key])
    settings = Settings()
    assert (settings.api_score_psi_window, settings.api_score_psi_min_scores) == (5000, 500)
    values["api"]["scorePsi"] = {"window": 100, "minScores": 500}
    with pytest.raises(helm.HelmRenderError, match=r"minScores must not exceed"):
        render("prod", values)


# --------------------------------------------------------------------------------------------
# MLflow, migration hook, database, network policies
# --------------------------------------------------------------------------------------------


def _args(container: Manifest) -> dict[str, str]:
    parsed = {}
    for arg in container.get("args", []):
        key, _, value = arg.partition("=")
        parsed[key] = value
    return parsed


@pytest.mark.parametrize("env", API_ENVS)
def test_mlflow_accepts_the_host_header_the_api_sends(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    api_objects = rendered[env]
    objects = rendered["default" if env == "default" else "platform"]
    mlflow = one(objects, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    # No command: the image's entrypoint (URI file, driver, database wait) must run.
    assert "command" not in mlflow
    assert mlflow["args"][:2] == ["mlflow", "server"]
    args = _args(mlflow)
    # In a pod, MLflow must listen on the pod IP, not on loopback.
    assert args["--host"] == "0.0.0.0"  # noqa: S104
    assert args["--port"] == "5000"
    assert "--serve-artifacts" in args
    allowed = args["--allowed-hosts"].split(",")
    tracking = urlsplit(one(api_objects, "ConfigMap", "api")["data"]["MLFLOW_TRACKING_URI"])
    service = one(objects, "Service", "mlflow")["metadata"]["name"]
    namespace = objects[0]["metadata"]["namespace"]
    for host in (
        tracking.netloc,
        f"{service}.{namespace}.svc.cluster.local:{tracking.port}",
    ):
        assert any(fnmatch.fnmatch(host, pattern) for pattern in allowed), host
    assert "*" not in allowed
    assert not any(fnmatch.fnmatch("evil.example.com:5000", pattern) for pattern in allowed)
    assert not any("backend-store-uri" in a for a in mlflow["args"])
    _assert_backend_uri_from_secret_file(one(objects, "Deployment", "mlflow"))


def _assert_backend_uri_from_secret_file(workload: Manifest) -> None:
    spec = pod_spec(workload)
    container = spec["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert "MLFLOW_BACKEND_STORE_URI" not in env
    path = Path(env["MLFLOW_BACKEND_STORE_URI_FILE"]["value"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    items = {i["path"]: i["key"] for i in volume["secret"]["items"]}
    assert items[path.name] == "mlflow-backend-store-uri"


def test_artifact_store_by_value(rendered: dict[str, list[Manifest]], render: RenderFn) -> None:
    prod = one(rendered["platform"], "Deployment", "mlflow")
    prod_container = prod["spec"]["template"]["spec"]["containers"][0]
    assert _args(prod_container)["--artifacts-destination"] == (
        "s3://credit-scoring-mlflow-artifacts/registry"
    )
    assert prod["spec"]["strategy"]["type"] == "RollingUpdate"

    staging_objects = rendered["default"]
    staging = one(staging_objects, "Deployment", "mlflow")
    container = staging["spec"]["template"]["spec"]["containers"][0]
    assert _args(container)["--artifacts-destination"] == "/mlartifacts"
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/mlartifacts")
    volume = next(
        v for v in staging["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    )
    pvc = one(staging_objects, "PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert staging["spec"]["strategy"]["type"] == "Recreate"

    for destination in (
        "gs://bucket/mlflow",
        "wasbs://c@acct.blob.core.windows.net/mlflow",
    ):
        values = env_values("default")
        values["mlflow"] = {"artifacts": {"destination": destination}}
        objects = render("default", values)
        assert not find(objects, "PersistentVolumeClaim")
        container = one(objects, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][
            0
        ]
        assert _args(container)["--artifacts-destination"] == destination


def test_migration_hook_job(rendered: dict[str, list[Manifest]]) -> None:
    job = one(rendered["platform"], "Job", "mlflow-migration")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["python", "-c"]
    assert "upgrade.main(" in container["command"][2]  # run for real in test_mlflow_runtime
    _assert_backend_uri_from_secret_file(job)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # Hooks run before the chart's ServiceAccounts exist.
    assert "serviceAccountName" not in job["spec"]["template"]["spec"]

    # The in-chart database does not exist at pre-install: migrate on upgrades only.
    staging_job = one(_dev_objects(), "Job", "mlflow-migration")
    assert staging_job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"


def _dev_objects() -> list[Manifest]:
    """A one-release dev/demo install: MLflow on the in-chart PostgreSQL."""
    return render_objects("default", {"postgresql": {"enabled": True}})


def test_dev_mlflow_uses_the_in_chart_postgresql() -> None:
    objects = _dev_objects()
    database = one(objects, "StatefulSet", "postgresql")
    service = one(objects, "Service", "postgresql")
    _assert_backend_uri_from_secret_file(one(objects, "Deployment", "mlflow"))
    # NOTES.txt tells which URI to store in the secret for the in-chart database.
    notes = render_chart.render("default", {"postgresql": {"enabled": True}})[
        "credit-scoring-chart/templates/NOTES.txt"
    ]
    line = next(x for x in notes.splitlines() if "@" in x and "postgresql://" in x)
    uri = urlsplit(line.strip())
    assert uri.hostname == service["metadata"]["name"] and uri.port == 5432
    db_env = {
        e["name"]: e.get("value")
        for e in database["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert uri.path == "/" + db_env["POSTGRES_DB"]
    assert uri.username == db_env["POSTGRES_USER"]
    assert db_env["POSTGRES_PASSWORD_FILE"].startswith("/etc/postgresql-secrets/")
    assert database["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres:16"


def _policy(objects: list[Manifest], component: str) -> Manifest:
    return one(objects, "NetworkPolicy", component)


def _ingress_components(objects: list[Manifest], policy: Manifest) -> set[str]:
    components: set[str] = set()
    for rule in policy["spec"]["ingress"]:
        for peer in rule.get("from", []):
            assert "namespaceSelector" not in peer and "ipBlock" not in peer
            components |= _components_selected(objects, peer["podSelector"])
    return components


def test_network_policies_isolate_mlflow_and_the_database() -> None:
    """One release with its own MLflow and database (cross-release flows: test_reachability)."""
    objects = _dev_objects()
    mlflow_policy = _policy(objects, "mlflow")
    assert _components_selected(objects, mlflow_policy["spec"]["podSelector"]) == {
        "mlflow",
        "mlflow-migration",
    }
    assert set(mlflow_policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert _ingress_components(objects, mlflow_policy) == {"api", "mlflow-migration"}
    assert {p["port"] for r in mlflow_policy["spec"]["ingress"] for p in r["ports"]} == {"http"}

    api_policy = _policy(objects, "api")
    assert _components_selected(objects, api_policy["spec"]["podSelector"]) == {"api"}
    egress_to = {
        frozenset(_components_selected(objects, peer["podSelector"]))
        for rule in api_policy["spec"]["egress"]
        for peer in rule.get("to", [])
    }
    assert frozenset({"mlflow"}) in egress_to

    db_policy = _policy(objects, "postgresql")
    assert _components_selected(objects, db_policy["spec"]["podSelector"]) == {"postgresql"}
    assert _ingress_components(objects, db_policy) == {"mlflow", "mlflow-migration"}
    assert db_policy["spec"]["egress"] == []
    assert "Egress" in db_policy["spec"]["policyTypes"]


def test_prod_api_accepts_only_the_ingress_controller_and_the_helm_test(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects = rendered["prod"]
    rules = _policy(objects, "api")["spec"]["ingress"]
    peers = [peer for rule in rules for peer in rule["from"]]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    } in peers
    # Besides the ingress controller: Prometheus and the registry's webhooks (same-namespace
    # pod peers: only the helm test pod).
    pod_peers = [p["podSelector"] for p in peers if set(p) == {"podSelector"}]
    assert {c for s in pod_peers for c in _components_selected(objects, s)} == {"test"}


# --------------------------------------------------------------------------------------------
# helm test pod and NOTES
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", API_ENVS)
def test_helm_test_pod_calls_the_api_readiness_endpoint(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    pod = one(objects, "Pod", "test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    service = one(objects, "Service", "api")
    script = pod["spec"]["containers"][0]["command"][-1]
    url = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/readyz"
    assert f'url = "{url}"' in script


def test_notes_tell_how_to_verify_and_roll_out() -> None:
    notes = render_chart.render("prod")["credit-scoring-chart/templates/NOTES.txt"]
    assert "kubectl rollout restart deployment/api-deployment --namespace prod-mlops" in notes
    assert "helm test credit-scoring-prod --namespace prod-mlops" in notes
    assert "https://credit-scoring.example.com/readyz" in notes


def test_upgrade_render_matches_install_render() -> None:
    install = {(o["kind"], o["metadata"]["name"]) for o in render_objects("prod")}
    upgrade = {(o["kind"], o["metadata"]["name"]) for o in render_objects("prod", is_upgrade=True)}
    assert install == upgrade


def test_rendered_yaml_round_trips(rendered: dict[str, list[Manifest]]) -> None:
    # Quoting mistakes (e.g. an unquoted "yes" or a number where a string is due) surface here.
    config = one(rendered["prod"], "ConfigMap", "api")["data"]
    assert all(isinstance(v, str) for v in config.values())
    dumped = yaml.safe_dump(strip_private(one(rendered["prod"], "Deployment", "api")))
    assert yaml.safe_load(dumped)["metadata"]["name"] == "api-deployment"
