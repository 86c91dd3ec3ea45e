"""The promotion DAG's rolling restart (``airflow/dags/kube_rollout.py``, Kubernetes python client)
needs no more than the chart's ``rolloutRestart`` Role grants.

No cluster can be had here, so the client talks to a small HTTP endpoint that records each call
and answers with a Deployment whose rollout completes. Each recorded call is mapped to the
Kubernetes authorization attributes (verb, API group, resource, name, namespace) and must be
allowed by the rendered Role of the prod release; the patch must carry the
``kubectl.kubernetes.io/restartedAt`` annotation, as ``kubectl rollout restart`` does.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from chart_helpers import REPO_ROOT, find, one, render_objects

pytestmark = pytest.mark.helm

_spec = importlib.util.spec_from_file_location(
    "kube_rollout", REPO_ROOT / "airflow" / "dags" / "kube_rollout.py"
)
assert _spec is not None and _spec.loader is not None
kube_rollout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kube_rollout)

VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete", "POST": "create"}


class _Recorder(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[str, str, Any]]] = []
    generation = 1

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, name: str, namespace: str) -> None:
        cls = type(self)
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "generation": cls.generation},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "x"}},
                "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}},
            },
            "status": {
                "observedGeneration": cls.generation,
                "replicas": 3,
                "updatedReplicas": 3,
                "availableReplicas": 3,
            },
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length)) if length else None
        type(self).calls.append((self.command, self.path, payload))
        if self.command == "PATCH":
            type(self).generation += 1
        parts = self.path.split("?")[0].strip("/").split("/")
        # /apis/apps/v1/namespaces/<ns>/deployments/<name>
        self._answer(parts[-1], parts[4])

    do_GET = do_PATCH = _handle


@pytest.fixture()
def api_server() -> Iterator[str]:
    _Recorder.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _apps_api(host: str) -> Any:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = host
    return client.AppsV1Api(client.ApiClient(configuration))


def _allowed(role: dict[str, Any], namespace: str, method: str, path: str) -> bool:
    parts = path.split("?")[0].strip("/").split("/")
    assert parts[:4] == ["apis", "apps", "v1", "namespaces"], path
    ns, resource, name = parts[4], parts[5], parts[6]
    if ns != namespace:
        return False
    return any(
        "apps" in rule["apiGroups"]
        and resource in rule["resources"]
        and name in rule.get("resourceNames", [name])
        and VERBS[method] in rule["verbs"]
        for rule in role["rules"]
    )


def test_rollout_restart_uses_only_what_the_role_grants(api_server: str) -> None:
    objects = render_objects("prod")
    role = one(objects, "Role")
    binding = one(objects, "RoleBinding")
    deployment = one(objects, "Deployment", "api")
    namespace = deployment["metadata"]["namespace"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "airflow-worker", "namespace": "airflow"}
    ]

    stamp = kube_rollout.rollout_restart(
        deployment["metadata"]["name"],
        namespace,
        timeout_s=10,
        poll_s=0.05,
        api=_apps_api(api_server),
        log=lambda _: None,
    )
    calls = _Recorder.calls
    assert [c[0] for c in calls][:2] == ["PATCH", "GET"]
    for method, path, _ in calls:
        assert _allowed(role, namespace, method, path), (method, path)
    patch = calls[0][2]
    annotations = patch["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"kubectl.kubernetes.io/restartedAt": stamp}
    # Least privilege: one Deployment, get and patch only, no cluster-wide role.
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": ["api-deployment"],
            "verbs": ["get", "patch"],
        }
    ]
    assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")


def test_rollout_restart_needs_a_namespace() -> None:
    with pytest.raises(ValueError, match="namespace is required"):
        kube_rollout.rollout_restart("api-deployment", "", api=object())


def test_rollout_restart_times_out_with_the_status(api_server: str) -> None:
    class Stuck:
        def __init__(self, api: Any) -> None:
            self.api = api

        def patch_namespaced_deployment(self, *args: Any) -> Any:
            return self.api.patch_namespaced_deployment(*args)

        def read_namespaced_deployment(self, *args: Any) -> Any:
            deployment = self.api.read_namespaced_deployment(*args)
            deployment.status.updated_replicas = 1  # the new ReplicaSet never completes
            return deployment

    with pytest.raises(TimeoutError, match="not rolled out"):
        kube_rollout.rollout_restart(
            "api-deployment",
            "prod-mlops",
            timeout_s=0.3,
            poll_s=0.05,
            api=Stuck(_apps_api(api_server)),
            log=lambda _: None,
        )
