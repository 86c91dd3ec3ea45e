"""``kubectl rollout restart deployment/<name>`` with the Kubernetes python client, and the wait.

What kubectl does: patch the pod template's annotation ``kubectl.kubernetes.io/restartedAt`` with
the current time (a new ReplicaSet rolls out under the Deployment's strategy), then wait until the
Deployment controller has observed the new generation and every replica is updated and available.
Only two API calls are used, both on that one Deployment: ``get`` and ``patch`` (the chart's
``rolloutRestart`` Role grants exactly these). Credentials: the pod's ServiceAccount in a cluster,
else the kubeconfig. Imported by the promotion task (helper module of ``airflow/dags``, no DAG).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def apps_api() -> Any:
    """An ``AppsV1Api`` from the in-cluster ServiceAccount, else from the kubeconfig."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        config.load_incluster_config()
    except ConfigException:
        config.load_kube_config()
    return client.AppsV1Api()


def _rolled_out(deployment: Any, generation: int) -> bool:
    spec_replicas = deployment.spec.replicas if deployment.spec.replicas is not None else 1
    status = deployment.status
    return bool(
        (status.observed_generation or 0) >= generation
        and (status.updated_replicas or 0) == spec_replicas
        and (status.replicas or 0) == spec_replicas
        and (status.available_replicas or 0) == spec_replicas
    )


def rollout_restart(
    name: str,
    namespace: str,
    *,
    timeout_s: float = 300.0,
    poll_s: float = 2.0,
    api: Any = None,
    log: Callable[[str], None] = print,
) -> str:
    """Restart deployment ``name`` in ``namespace`` and wait for the rollout; returns the stamp.

    Raises ``TimeoutError`` when the rollout does not finish within ``timeout_s``.
    """
    if not namespace:
        raise ValueError("namespace is required (the API release's namespace, e.g. prod-mlops)")
    api = api or apps_api()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    patched = api.patch_namespaced_deployment(name, namespace, body)
    generation = int(patched.metadata.generation or 0)
    log(f"deployment/{name} in {namespace} restarted at {stamp} (generation {generation})")
    deadline = time.monotonic() + timeout_s
    while True:
        current = api.read_namespaced_deployment(name, namespace)
        if _rolled_out(current, generation):
            log(f"deployment/{name} rolled out: {current.status.updated_replicas} replicas")
            return stamp
        if time.monotonic() > deadline:
            status = current.status
            raise TimeoutError(
                f"deployment/{name} in {namespace} not rolled out after {timeout_s:.0f} s "
                f"(updated {status.updated_replicas}, available {status.available_replicas}, "
                f"replicas {status.replicas})"
            )
        time.sleep(poll_s)
