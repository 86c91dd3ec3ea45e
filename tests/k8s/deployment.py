"""A stand-in for the Deployment controller: replicas, and ``kubectl rollout restart`` by the spec.

Not a controller manager: the test calls it. It keeps ``spec.replicas`` pods of a rendered
Deployment (or StatefulSet) running through the stand-in kubelet, replaces a pod that died, and
restarts the pods the way the Deployment's ``strategy`` says:

* ``RollingUpdate``: at most ``replicas + maxSurge`` pods exist and at least
  ``replicas - maxUnavailable`` are Ready at any time; an old pod is deleted only when that
  still holds without it (so with ``maxUnavailable: 0`` only after a new pod is Ready); the
  deleted pod leaves the endpoints at once, then runs ``preStop``, gets its stop signal and up to
  ``terminationGracePeriodSeconds`` to drain (:meth:`Kubelet.delete_pod`).
* ``Recreate``: every old pod is deleted before new ones are created.

``replicas`` may be overridden (an HPA's ``minReplicas`` when autoscaling owns the count).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from k8s.kubelet import Kubelet, Manifest, Pod, PodError, scaled


class Deployment:
    """The pods of one workload, kept at the desired count by the test."""

    def __init__(self, kubelet: Kubelet, workload: Manifest, replicas: int | None = None) -> None:
        self.kubelet = kubelet
        self.workload = workload
        self.replicas = int(
            replicas if replicas is not None else workload["spec"].get("replicas", 1)
        )
        self.pods: list[Pod] = []
        self.events: list[str] = []
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    @property
    def name(self) -> str:
        return str(self.workload["metadata"]["name"])

    def _event(self, text: str) -> None:
        self.events.append(f"{time.monotonic() - self._t0:6.1f} s  {text}")

    def scale_up(self) -> list[Pod]:
        """Create the missing pods (not waiting for Ready)."""
        created = []
        while len(self.live()) < self.replicas:
            pod = self.kubelet.start_pod(self.workload)
            with self._lock:
                self.pods.append(pod)
            created.append(pod)
            self._event(f"created {pod.name}")
        return created

    def live(self) -> list[Pod]:
        """Pods neither terminating nor finished."""
        with self._lock:
            return [p for p in self.pods if not p.terminating and not p.finished.is_set()]

    def ready(self) -> list[Pod]:
        return [p for p in self.live() if p.ready]

    def endpoints(self, port: int) -> list[tuple[str, int]]:
        """Addresses of the Ready pods: what the Service (EndpointSlice) routes to."""
        return [ep for p in self.live() if (ep := p.endpoint(port)) is not None]

    def wait_ready(self, timeout: float) -> None:
        self.kubelet.wait_ready(self.live(), timeout)

    def replace(self, pod: Pod, *, kill: bool) -> Pod:
        """A pod dies (``kill``) or is deleted; the ReplicaSet creates its replacement."""
        if kill:
            self.kubelet.kill_pod(pod)
            self._event(f"killed {pod.name}")
        else:
            self.kubelet.delete_pod(pod, wait=False)
            self._event(f"deleting {pod.name}")
        new = self.kubelet.start_pod(self.workload)
        with self._lock:
            self.pods.append(new)
        self._event(f"created {new.name} to replace {pod.name}")
        return new

    def rollout_restart(self, timeout: float = 600) -> dict[str, Any]:
        """``kubectl rollout restart``: replace every pod as the strategy says; wait for all to
        finish draining. Returns the strategy figures and the largest/smallest counts seen."""
        strategy = self.workload["spec"].get("strategy", {"type": "RollingUpdate"})
        old = self.live()
        drains: list[threading.Thread] = []
        deadline = time.monotonic() + timeout
        seen = {"max_pods": len(old), "min_ready": len(self.ready())}

        def observe() -> None:
            seen["max_pods"] = max(seen["max_pods"], len(self.live()))
            seen["min_ready"] = min(seen["min_ready"], len(self.ready()))

        if strategy.get("type") == "Recreate":
            for pod in old:
                drains.append(self.kubelet.delete_pod(pod, wait=False))
                self._event(f"deleting {pod.name}")
            for t in drains:
                t.join(timeout)
            self.scale_up()
            self.wait_ready(timeout)
            return {"strategy": "Recreate", **seen}

        rolling = strategy.get("rollingUpdate", {})
        surge = scaled(rolling.get("maxSurge", "25%"), self.replicas, round_up=True)
        unavailable = scaled(rolling.get("maxUnavailable", "25%"), self.replicas, round_up=False)
        if surge == 0 and unavailable == 0:
            raise PodError(f"{self.name}: maxSurge and maxUnavailable are both 0")
        new: list[Pod] = []
        while old:
            if time.monotonic() > deadline:
                raise PodError(
                    f"{self.name}: rollout not done after {timeout:.0f} s: {self.events}"
                )
            while len(self.live()) < self.replicas + surge and len(new) < self.replicas:
                pod = self.kubelet.start_pod(self.workload)
                with self._lock:
                    self.pods.append(pod)
                new.append(pod)
                self._event(f"created {pod.name} (surge)")
            observe()
            for pod in list(old):
                if len(self.ready()) - (1 if pod.ready else 0) >= self.replicas - unavailable:
                    old.remove(pod)
                    drains.append(self.kubelet.delete_pod(pod, wait=False))
                    self._event(f"deleting {pod.name} ({len(self.ready())} Ready)")
                    observe()
            for pod in new:
                if pod.finished.is_set():
                    raise PodError(f"{self.name}: new pod {pod.name} died:\n{pod.logs()}")
            time.sleep(0.2)
            observe()
        self.scale_up()
        self.kubelet.wait_ready(self.live(), max(deadline - time.monotonic(), 1))
        for t in drains:
            t.join(max(deadline - time.monotonic(), 1))
        observe()
        with self._lock:
            self.pods = [p for p in self.pods if not p.finished.is_set()]
        return {
            "strategy": "RollingUpdate",
            "max_surge": surge,
            "max_unavailable": unavailable,
            **seen,
        }
