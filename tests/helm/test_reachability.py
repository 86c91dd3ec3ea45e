"""The rendered network policies of the three releases as one cluster: who may reach whom on which
port.

The platform (MLflow, training), staging and prod releases are rendered with their values files
into their namespaces, next to the cluster's own pods (ingress controller, Prometheus, Airflow,
an unrelated workload) and addresses outside the cluster (object store, managed PostgreSQL, the
cloud metadata endpoint). Every documented flow must be allowed by the egress policies of the
source AND the ingress policies of the destination (Kubernetes NetworkPolicy semantics: a pod
selected by no policy of a direction is open in that direction; named ports resolve against the
destination pod's container ports). Flows nobody documented must stay closed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest
from chart_helpers import Manifest, env_values, pod_labels, pod_spec, render_objects

pytestmark = pytest.mark.helm

RELEASES = {"platform": "mlops-platform", "staging": "staging-mlops", "prod": "prod-mlops"}


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace + labels + named ports) or an address outside the cluster."""

    name: str
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    ports: dict[str, int] = field(default_factory=dict, hash=False)
    ip: str | None = None


def _workload_endpoint(env: str, obj: Manifest) -> Endpoint:
    if obj["kind"] == "CronJob":
        template = obj["spec"]["jobTemplate"]["spec"]["template"]
        labels, spec = template["metadata"]["labels"], template["spec"]
    else:
        labels, spec = pod_labels(obj), pod_spec(obj)
    ports = {
        p["name"]: p["containerPort"]
        for c in spec["containers"]
        for p in c.get("ports", [])
        if "name" in p
    }
    component = labels["app.kubernetes.io/component"]
    return Endpoint(f"{env}/{component}", obj["metadata"]["namespace"], labels, ports)


def _cluster() -> tuple[dict[str, Endpoint], list[Manifest]]:
    endpoints: dict[str, Endpoint] = {}
    policies: list[Manifest] = []
    for env in RELEASES:
        for obj in render_objects(env):
            if obj["kind"] == "NetworkPolicy":
                policies.append(obj)
            elif obj["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob", "Pod"):
                endpoint = _workload_endpoint(env, obj)
                endpoints.setdefault(endpoint.name, endpoint)
    for endpoint in (
        Endpoint("ingress-nginx", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),
        Endpoint("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
        Endpoint("airflow-worker", "airflow", {"component": "worker"}),
        Endpoint("other-workload", "team-x", {"app": "other"}),
        Endpoint("object-store", ip="52.216.10.20"),
        Endpoint("managed-postgres", ip="10.60.0.5"),
        Endpoint("metadata", ip="169.254.169.254"),
        Endpoint("eks-pod-identity", ip="169.254.170.23"),
    ):
        endpoints[endpoint.name] = endpoint
    return endpoints, policies


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def _peer_matches(peer: dict[str, Any], policy_ns: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if other.ip is None:
            return False
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if other.namespace is None:  # pod/namespace selectors never match outside addresses
        return False
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": other.namespace}
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != policy_ns:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], other.labels)


def _port_matches(ports: list[dict[str, Any]], port: int, destination: Endpoint) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        value = entry.get("port")
        if value is None:
            return True
        if isinstance(value, str):
            value = destination.ports.get(value)
        if value == port:
            return True
    return False


def _direction_allows(
    policies: list[Manifest],
    direction: str,
    subject: Endpoint,
    other: Endpoint,
    port: int,
    destination: Endpoint,
) -> bool:
    if subject.namespace is None:  # outside the cluster: no policy applies
        return True
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and _selects(p["spec"]["podSelector"], subject.labels)
    ]
    if not selecting:
        return True
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(
                _peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers
            )
            if peer_ok and _port_matches(rule.get("ports", []), port, destination):
                return True
    return False


def reachable(
    endpoints: dict[str, Endpoint], policies: list[Manifest], src: str, dst: str, port: int
) -> bool:
    source, destination = endpoints[src], endpoints[dst]
    return _direction_allows(
        policies, "Egress", source, destination, port, destination
    ) and _direction_allows(policies, "Ingress", destination, source, port, destination)


@pytest.fixture(scope="module")
def cluster() -> tuple[dict[str, Endpoint], list[Manifest]]:
    return _cluster()


# Every documented flow (docs/deployment.md, "Kubernetes"): source, destination, port, why.
ALLOWED = [
    ("ingress-nginx", "prod/api", 8000, "clients through the TLS ingress"),
    ("prod/test", "prod/api", 8000, "helm test calls /readyz"),
    ("staging/test", "staging/api", 8000, "helm test calls /readyz"),
    ("prometheus", "prod/api", 8000, "Prometheus scrapes /metrics"),
    ("prometheus", "staging/api", 8000, "Prometheus scrapes /metrics"),
    ("prometheus", "platform/mlflow", 5000, "Prometheus scrapes MLflow's /metrics"),
    ("prod/api", "platform/mlflow", 5000, "prod serves @production of the one registry"),
    ("staging/api", "platform/mlflow", 5000, "staging serves @staging of the one registry"),
    ("platform/trainer", "platform/mlflow", 5000, "training Job/CronJob registers versions"),
    ("airflow-worker", "platform/mlflow", 5000, "Airflow DAGs train, promote, monitor"),
    ("platform/mlflow", "prod/api", 8000, "registry webhook POST /v1/webhooks/mlflow"),
    ("platform/mlflow", "staging/api", 8000, "registry webhook POST /v1/webhooks/mlflow"),
    ("platform/mlflow", "object-store", 443, "artifacts proxied to the bucket"),
    ("platform/mlflow", "managed-postgres", 5432, "backend store"),
    ("platform/mlflow-migration", "managed-postgres", 5432, "mlflow db upgrade hook"),
    ("platform/mlflow-access", "platform/mlflow", 5000, "registry-access hook Job"),
    ("platform/mlflow", "metadata", 80, "workload identity / instance credentials"),
    ("platform/mlflow", "eks-pod-identity", 80, "EKS Pod Identity credentials"),
    ("prod/api", "managed-postgres", 5432, "prediction log"),
    ("staging/api", "managed-postgres", 5432, "prediction log"),
]

DENIED = [
    ("other-workload", "platform/mlflow", 5000, "the registry is not open to the cluster"),
    ("other-workload", "prod/api", 8000, "prod is reached through the ingress only"),
    ("ingress-nginx", "platform/mlflow", 5000, "the MLflow UI is not exposed by default"),
    ("staging/api", "prod/api", 8000, "environments do not call each other"),
    ("prod/api", "object-store", 443, "only MLflow holds object-store access"),
    ("prod/api", "metadata", 80, "the API has no cloud identity"),
    ("platform/trainer", "object-store", 443, "the trainer reaches MLflow only"),
    ("platform/trainer", "managed-postgres", 5432, "the trainer reaches MLflow only"),
    ("platform/mlflow-access", "managed-postgres", 5432, "the access Job reaches MLflow only"),
    ("platform/mlflow-access", "object-store", 443, "the access Job reaches MLflow only"),
    ("other-workload", "platform/mlflow-access", 8000, "nothing calls the access Job"),
    ("other-workload", "platform/trainer", 8000, "nothing calls the trainer"),
    ("prometheus", "prod/api", 9090, "scraping only on the API port"),
    ("platform/mlflow", "other-workload", 8000, "webhooks only to the APIs"),
]


@pytest.mark.parametrize(
    ("src", "dst", "port", "why"), ALLOWED, ids=[f"{a}->{b}:{p}" for a, b, p, _ in ALLOWED]
)
def test_documented_flow_is_allowed(
    cluster: tuple[dict[str, Endpoint], list[Manifest]], src: str, dst: str, port: int, why: str
) -> None:
    endpoints, policies = cluster
    assert reachable(endpoints, policies, src, dst, port), f"{src} -> {dst}:{port} ({why}) blocked"


@pytest.mark.parametrize(
    ("src", "dst", "port", "why"), DENIED, ids=[f"{a}->{b}:{p}" for a, b, p, _ in DENIED]
)
def test_undocumented_flow_is_denied(
    cluster: tuple[dict[str, Endpoint], list[Manifest]], src: str, dst: str, port: int, why: str
) -> None:
    endpoints, policies = cluster
    assert not reachable(endpoints, policies, src, dst, port), f"{src} -> {dst}:{port} open ({why})"


def test_matrix_detects_a_policy_that_blocks_a_documented_flow() -> None:
    """The evaluator is not vacuous: without its clientNamespaces entry prod cannot reach MLflow."""
    endpoints, policies = _cluster()
    platform_values = env_values("platform")
    platform_values["networkPolicy"]["mlflow"]["clientNamespaces"] = ["staging-mlops"]
    broken = [p for p in policies if p["metadata"]["namespace"] != "mlops-platform"] + [
        o for o in render_objects("platform", platform_values) if o["kind"] == "NetworkPolicy"
    ]
    assert not reachable(endpoints, broken, "prod/api", "platform/mlflow", 5000)
    assert reachable(endpoints, broken, "staging/api", "platform/mlflow", 5000)
