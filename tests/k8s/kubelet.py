"""A stand-in for a kubelet: run the pods of a *rendered* Helm release in Docker, as specified.

THIS IS NOT A CLUSTER. There is no API server, no scheduler, no controller manager, no kube-proxy
and no CNI here; a test drives the pods directly. What it does do is run each pod spec the chart
renders the way a kubelet would, so that bugs which only show when a pod really starts (a read-only
root filesystem the process writes to, a non-root uid that cannot read a mounted Secret, an
argument the image ignores, a probe on the wrong port, a Service name the app cannot resolve)
are found on this machine instead of on a user's cluster.

Mapping, pod spec -> Docker (one place; every field not in this list is reported, never dropped):

* A pod is a "pause" container holding the network namespace, the hostname (the pod name), the
  pod's ports (published on 127.0.0.1 only, the test's ``kubectl port-forward``) and one Docker
  network alias per Service whose selector matches the pod's labels (``name``, ``name.ns``,
  ``name.ns.svc``, ``name.ns.svc.cluster.local``), all on one Docker network per release.
  Its containers join that namespace (``--network container:<pause>``), so a restarted
  container keeps the pod IP, as in Kubernetes.
* ``image``: the locally built project image, tagged with the rendered reference and run by
  image id (third-party images such as ``postgres`` run by id, never retagged);
  ``command``/``args`` with Kubernetes semantics (``command`` replaces the entrypoint and drops
  the image's CMD, ``args`` replaces the CMD; ``$(VAR)`` expanded); ``workingDir``.
* ``env`` (``value``, ``secretKeyRef``, ``configMapKeyRef``, ``fieldRef`` on the pod's name,
  namespace, IP and labels) and ``envFrom`` (ConfigMaps of the release, Secrets the test
  created; ``prefix``), in Kubernetes' precedence (``env`` over ``envFrom``).
* Volumes: ``secret``/``configMap`` as Docker volumes whose files carry the spec's ``items``,
  ``defaultMode``/``mode`` and, with ``fsGroup``, group ``fsGroup`` plus group read (what the
  kubelet's ``SetVolumeOwnership`` does); ``emptyDir`` as a tmpfs volume of ``sizeLimit``
  (mode 0777, setgid and group ``fsGroup`` when set), shared by the pod's containers and kept
  across container restarts; ``persistentVolumeClaim`` and StatefulSet ``volumeClaimTemplates``
  as named volumes (empty, never seeded from the image, ``fsGroup``-owned). ``readOnly`` mounts.
* ``securityContext`` (pod and container, container wins): ``runAsUser``/``runAsGroup`` ->
  ``--user``, ``fsGroup``/``supplementalGroups`` -> ``--group-add``, ``runAsNonRoot`` checked
  against the effective user (a pod whose image runs as root or a non-numeric user is refused,
  like ``CreateContainerConfigError``), ``readOnlyRootFilesystem`` -> ``--read-only``,
  ``capabilities`` -> ``--cap-drop``/``--cap-add``, ``allowPrivilegeEscalation: false`` ->
  ``no-new-privileges``, ``privileged``, ``seccompProfile`` RuntimeDefault (Docker's default
  profile) or Unconfined.
* ``resources``: ``limits.memory`` -> ``--memory`` (no swap), ``limits.cpu`` -> ``--cpus``,
  ``requests.cpu`` -> ``--cpu-shares`` (the kubelet's cgroup mapping).
* Probes (``startupProbe``, ``readinessProbe``, ``livenessProbe``; ``httpGet`` against the pod IP
  with a named or numbered port and the kubelet's Host header and user agent, ``tcpSocket``,
  ``exec``) with ``initialDelaySeconds``, ``periodSeconds``, ``timeoutSeconds``,
  ``successThreshold`` and ``failureThreshold``: liveness and readiness start once the startup
  probe passed; a failed startup or liveness probe restarts the container; readiness drives the
  pod's Ready condition, which is what :meth:`Pod.endpoint` (the Service's endpoints) reads.
* ``restartPolicy`` (Always: restart with the kubelet's back-off 10 s, 20 s, ...; Never and
  OnFailure for Jobs), ``lifecycle.preStop`` (``exec``, ``httpGet``, ``sleep``) then the image's
  stop signal, bounded by ``terminationGracePeriodSeconds``; ``lifecycle.postStart``;
  ``initContainers`` run in order to completion first.
* Jobs: ``backoffLimit`` (new pods after failures), ``activeDeadlineSeconds``; a CronJob runs its
  ``jobTemplate`` on demand (``kubectl create job --from=cronjob/...``).

Everything else a spec sets (scheduling, service accounts, pull policy, ...) is recorded in
:attr:`Kubelet.unhonoured` with the reason, and the tests print that list.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import math
import os
import re
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]

KUBE_PROBE_AGENT = "kube-probe/1.31"
PAUSE_IMAGE = "python:3.11-slim"
# Fields of a pod spec / container the mapping above honours (or that need nothing here).
_POD_FIELDS_HONOURED = {
    "containers",
    "initContainers",
    "volumes",
    "securityContext",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "hostname",
    "imagePullSecrets",  # no registry: images are local, pull secrets have nothing to do
}
_CONTAINER_FIELDS_HONOURED = {
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "env",
    "envFrom",
    "ports",
    "volumeMounts",
    "securityContext",
    "resources",
    "startupProbe",
    "readinessProbe",
    "livenessProbe",
    "lifecycle",
}
# Why the rest cannot be honoured without a cluster (anything else is listed as "not implemented").
_NO_CLUSTER_REASONS = {
    "serviceAccountName": "no API server: no ServiceAccount identity, RBAC or token",
    "automountServiceAccountToken": "no API server: no token to mount (false is what runs here)",
    "nodeSelector": "no scheduler: one Docker host",
    "affinity": "no scheduler: one Docker host",
    "tolerations": "no scheduler: one Docker host",
    "topologySpreadConstraints": "no scheduler: one Docker host, no zones",
    "priorityClassName": "no scheduler: no preemption",
    "imagePullPolicy": "no registry: the local build is used whatever the policy",
    "dnsPolicy": "Docker's embedded DNS resolves the Service aliases",
    "enableServiceLinks": "no Service environment variables are injected",
}


HARNESS_DEVIATIONS = (
    "Service DNS: Docker resolves a Service name to every pod carrying the alias, Ready or not "
    "(the test's front routes to Ready pods only, as the endpoints would)",
    "endpoints: a deleted or killed pod leaves them at once (a cluster takes a moment)",
    "emptyDir: tmpfs, so its content counts against the container's memory limit",
    "NetworkPolicy: not enforced (one Docker network; see tests/helm/test_reachability.py)",
    "image HEALTHCHECK: disabled, as a kubelet ignores it",
)


class PodError(RuntimeError):
    """A pod could not be created as specified (what a kubelet reports as a pod event)."""


@dataclass(frozen=True)
class Unhonoured:
    """A pod-spec field the harness could not apply, and why."""

    workload: str
    field: str
    reason: str


def docker(
    *args: str,
    check: bool = True,
    timeout: float = 120,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run the docker CLI; on failure raise with its stderr."""
    proc = subprocess.run(
        ["docker", *args],
        capture_output=True,
        timeout=timeout,
        check=False,
        input=input,
        env={**os.environ, **env} if env is not None else None,
    )
    if check and proc.returncode != 0:
        raise PodError(
            f"docker {' '.join(args[:4])} ... exited {proc.returncode}: "
            f"{proc.stderr.decode(errors='replace').strip()[-2000:]}"
        )
    return proc


def quantity_bytes(value: str | int) -> int:
    """A Kubernetes memory quantity (``768Mi``, ``1G``, ``512``) in bytes."""
    text = str(value)
    units = {
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
        "k": 10**3,
        "M": 10**6,
        "G": 10**9,
        "T": 10**12,
    }
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(float(text))


def quantity_cpu(value: str | int | float) -> float:
    """A Kubernetes CPU quantity (``500m``, ``1``, ``0.5``) in cores."""
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def scaled(value: int | str, total: int, *, round_up: bool) -> int:
    """``maxSurge``/``maxUnavailable`` (int or percentage) against ``total`` replicas."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def _expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion (``$$`` escapes; unknown references stay as written)."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, text)


def _selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@dataclass
class ProbeStats:
    """Outcome counts of one kind of probe of one container."""

    passed: int = 0
    failed: int = 0
    last_error: str = ""


@dataclass
class Container:
    """One running container of a pod."""

    spec: Manifest
    cid: str
    name: str
    stats: dict[str, ProbeStats] = field(default_factory=dict)
    started: bool = False  # startup probe passed (or none)
    ready: bool = False
    restarts: int = 0
    uid: str = ""


@dataclass
class Pod:
    """A pod the stand-in kubelet runs: a pause container plus the spec's containers."""

    name: str
    workload: str
    image: str
    labels: dict[str, str]
    spec: Manifest
    pause_id: str
    ip: str
    host_ports: dict[int, int]
    volumes: list[str]
    containers: list[Container] = field(default_factory=list)
    created_at: float = field(default_factory=time.monotonic)
    ready_at: float | None = None
    terminating: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ready(self) -> bool:
        """The pod's Ready condition: every container ready, and not terminating."""
        return (
            not self.terminating and bool(self.containers) and all(c.ready for c in self.containers)
        )

    def endpoint(self, port: int) -> tuple[str, int] | None:
        """127.0.0.1 address of ``port`` while the pod is Ready (what a Service routes to)."""
        return ("127.0.0.1", self.host_ports[port]) if self.ready else None

    def url(self, port: int, path: str = "") -> str:
        """``http://127.0.0.1:<published>`` of a container port (the test's port-forward)."""
        return f"http://127.0.0.1:{self.host_ports[port]}{path}"

    def logs(self, tail: int = 200) -> str:
        """The containers' output (stdout and stderr)."""
        parts = []
        for c in self.containers:
            proc = docker("logs", "--tail", str(tail), c.cid, check=False)
            parts.append(
                f"--- {self.name}/{c.name} ---\n"
                + proc.stdout.decode(errors="replace")
                + proc.stderr.decode(errors="replace")
            )
        return "\n".join(parts)


@dataclass
class JobResult:
    """How a Job (or a bare Pod such as the ``helm test`` pod) ended."""

    name: str
    succeeded: bool
    attempts: int
    seconds: float
    logs: str


@dataclass
class Release:
    """The rendered objects of one Helm release."""

    name: str
    namespace: str
    objects: list[Manifest]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        for o in self.of_kind(kind):
            if o["metadata"]["name"] == name:
                return o
        raise KeyError(f"{kind}/{name} is not in the rendered release {self.name}")

    def component(self, kind: str, component: str) -> Manifest:
        matches = [
            o
            for o in self.of_kind(kind)
            if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        ]
        if len(matches) != 1:
            raise KeyError(f"expected one {kind} of component {component!r}, got {len(matches)}")
        return matches[0]


class Kubelet:
    """Runs the pods of one or more rendered releases on one Docker network (see module doc)."""

    def __init__(
        self,
        *,
        prefix: str,
        images: Mapping[str, str],
        secrets: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        """``images`` maps an image name (last path part of the repository, no tag) to a local
        image id; ``secrets`` the Secrets the test created ((namespace, name) -> key -> value)."""
        self.prefix = prefix
        self.images = dict(images)
        self.secrets: dict[tuple[str, str], dict[str, str]] = {
            k: dict(v) for k, v in (secrets or {}).items()
        }
        self.log = log
        self.network = f"{prefix}-net"
        self.releases: list[Release] = []
        self.pods: list[Pod] = []
        self.unhonoured: list[Unhonoured] = []
        self.rows: list[dict[str, Any]] = []
        self._volumes: set[str] = set()
        self._image_cache: dict[str, dict[str, Any]] = {}
        self._tagged: set[str] = set()
        self._seq = 0
        self._lock = threading.Lock()
        docker("network", "create", "--label", f"pods-harness={prefix}", self.network)

    # ---- releases, names, images --------------------------------------------------------------

    def add_release(self, release: Release) -> Release:
        self.releases.append(release)
        return release

    def _release_of(self, workload: Manifest) -> Release:
        for release in self.releases:
            if any(o is workload for o in release.objects):
                return release
        raise KeyError(f"{workload['metadata']['name']} belongs to no added release")

    def _next_name(self, base: str) -> str:
        with self._lock:
            self._seq += 1
            return f"{base}-{uuid.uuid4().hex[:5]}"[:63]

    def image_for(self, ref: str) -> str:
        """Local image id for a rendered reference; the reference is tagged onto it."""
        repo = ref.split("@", 1)[0]
        name_part = repo.rsplit("/", 1)[-1]
        name = name_part.split(":", 1)[0]
        if name not in self.images:
            raise PodError(f"image {ref}: no local build for {name!r} (have {sorted(self.images)})")
        image_id = self.images[name]
        retag = name.startswith("credit-scoring")  # only the project's own images
        if retag and "@" not in ref and image_id != ref and ref not in self._tagged:
            docker("tag", image_id, ref)
            self._tagged.add(ref)
        return image_id

    def _image_config(self, image_id: str) -> dict[str, Any]:
        if image_id not in self._image_cache:
            out = docker("image", "inspect", "--format", "{{json .Config}}", image_id).stdout
            self._image_cache[image_id] = json.loads(out)
        return self._image_cache[image_id]

    def _note(self, workload: str, path: str, reason: str) -> None:
        entry = Unhonoured(workload, path, reason)
        with self._lock:
            if entry not in self.unhonoured:
                self.unhonoured.append(entry)

    # ---- spec -> docker -------------------------------------------------------------------------

    def _check_fields(self, workload: str, spec: Manifest) -> None:
        for key, value in spec.items():
            if key in _POD_FIELDS_HONOURED:
                continue
            if key == "automountServiceAccountToken" and value is False:
                continue
            reason = _NO_CLUSTER_REASONS.get(key, "not implemented by the harness")
            self._note(workload, f"spec.{key}={json.dumps(value)[:80]}", reason)
        for kind in ("initContainers", "containers"):
            for c in spec.get(kind, []):
                for key, value in c.items():
                    if key in _CONTAINER_FIELDS_HONOURED:
                        continue
                    reason = _NO_CLUSTER_REASONS.get(key, "not implemented by the harness")
                    self._note(
                        workload, f"{kind}[{c['name']}].{key}={json.dumps(value)[:60]}", reason
                    )
                requests = c.get("resources", {}).get("requests", {})
                if "memory" in requests:
                    self._note(
                        workload,
                        f"{kind}[{c['name']}].resources.requests.memory",
                        "scheduling input only (no scheduler)",
                    )

    def _aliases(self, release: Release, labels: Mapping[str, str], pod_name: str) -> list[str]:
        aliases: list[str] = []
        ns = release.namespace
        for svc in release.of_kind("Service"):
            if _selector_matches(svc["spec"].get("selector", {}), labels):
                name = svc["metadata"]["name"]
                aliases += [
                    name,
                    f"{name}.{ns}",
                    f"{name}.{ns}.svc",
                    f"{name}.{ns}.svc.cluster.local",
                ]
                if svc["spec"].get("clusterIP") == "None":
                    aliases += [f"{pod_name}.{name}", f"{pod_name}.{name}.{ns}.svc.cluster.local"]
        return aliases

    def _secret_data(self, release: Release, name: str) -> dict[str, str]:
        if (release.namespace, name) not in self.secrets:
            raise PodError(
                f'secret "{name}" not found (create it first, as docs/deployment.md says)'
            )
        return self.secrets[(release.namespace, name)]

    def _configmap_data(self, release: Release, name: str) -> dict[str, str]:
        try:
            cm = release.get("ConfigMap", name)
        except KeyError as exc:
            raise PodError(f'configmap "{name}" not found in the release') from exc
        return {str(k): str(v) for k, v in (cm.get("data") or {}).items()}

    def _env(
        self, release: Release, container: Manifest, pod_name: str, labels: Mapping[str, str]
    ) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            prefix = source.get("prefix", "")
            if "configMapRef" in source:
                ref = source["configMapRef"]
                try:
                    data = self._configmap_data(release, ref["name"])
                except PodError:
                    if ref.get("optional"):
                        continue
                    raise
            else:
                ref = source["secretRef"]
                if ref.get("optional") and (release.namespace, ref["name"]) not in self.secrets:
                    continue
                data = self._secret_data(release, ref["name"])
            env.update({prefix + k: v for k, v in data.items()})
        for item in container.get("env", []):
            name = item["name"]
            if "value" in item:
                env[name] = _expand(str(item["value"]), env)
                continue
            ref = item.get("valueFrom", {})
            if "secretKeyRef" in ref:
                r = ref["secretKeyRef"]
                data = self.secrets.get((release.namespace, r["name"]), {})
                if r["key"] not in data:
                    if r.get("optional"):
                        continue
                    raise PodError(f'secret "{r["name"]}" has no key "{r["key"]}" (env {name})')
                env[name] = data[r["key"]]
            elif "configMapKeyRef" in ref:
                r = ref["configMapKeyRef"]
                data = self._configmap_data(release, r["name"])
                if r["key"] not in data:
                    if r.get("optional"):
                        continue
                    raise PodError(f'configmap "{r["name"]}" has no key "{r["key"]}" (env {name})')
                env[name] = data[r["key"]]
            elif "fieldRef" in ref:
                path = ref["fieldRef"]["fieldPath"]
                values = {
                    "metadata.name": pod_name,
                    "metadata.namespace": release.namespace,
                    "spec.nodeName": "docker-host",
                    "spec.serviceAccountName": "",
                    "status.podIP": "$POD_IP",
                    "status.hostIP": "127.0.0.1",
                }
                m = re.fullmatch(r"metadata\.labels\['(.+)'\]", path)
                if m:
                    env[name] = labels.get(m.group(1), "")
                elif path in values:
                    env[name] = values[path]
                else:
                    raise PodError(f"env {name}: fieldRef {path} is not supported by the harness")
            else:
                raise PodError(
                    f"env {name}: valueFrom {sorted(ref)} is not supported by the harness"
                )
        return env

    def _tar(self, files: dict[str, tuple[bytes, int]], gid: int) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            dirs: set[str] = set()
            for path, (data, mode) in sorted(files.items()):
                parts = path.split("/")[:-1]
                for i in range(len(parts)):
                    d = "/".join(parts[: i + 1])
                    if d not in dirs:
                        dirs.add(d)
                        info = tarfile.TarInfo(d)
                        info.type = tarfile.DIRTYPE
                        info.mode = 0o755
                        info.gid = gid
                        tar.addfile(info)
                info = tarfile.TarInfo(path)
                info.size = len(data)
                info.mode = mode
                info.uid = 0
                info.gid = gid
                info.mtime = int(time.time())
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def _create_volume(self, name: str, *opts: str) -> str:
        docker("volume", "create", "--label", f"pods-harness={self.prefix}", *opts, name)
        with self._lock:
            self._volumes.add(name)
        return name

    def _files_volume(
        self, name: str, data: Mapping[str, str], source: Manifest, fs_group: int | None
    ) -> str:
        """A Secret/ConfigMap volume: files with the spec's items, modes and fsGroup ownership."""
        default_mode = int(source.get("defaultMode", 0o644))
        files: dict[str, tuple[bytes, int]] = {}
        items = source.get("items")
        for item in items or [{"key": k, "path": k} for k in data]:
            if item["key"] not in data:
                raise PodError(f"volume {name}: key {item['key']!r} not found")
            mode = int(item.get("mode", default_mode))
            if fs_group is not None:
                mode |= 0o440  # the kubelet's SetVolumeOwnership on a read-only volume
            files[item["path"]] = (data[item["key"]].encode(), mode)
        self._create_volume(name)
        helper = f"{name}-fill"
        docker("create", "--name", helper, "-v", f"{name}:/v", PAUSE_IMAGE, "true")
        try:
            tar = self._tar(files, fs_group if fs_group is not None else 0)
            docker("cp", "-a", "-", f"{helper}:/v", input=tar)
        finally:
            docker("rm", "-f", helper, check=False)
        return name

    def pvc_volume(self, namespace: str, claim: str) -> str:
        """The Docker volume standing in for PersistentVolumeClaim ``claim`` of ``namespace``."""
        return f"{self.prefix}-pvc-{namespace}-{claim}"

    def create_pvc(self, namespace: str, claim: str, files: Mapping[str, bytes]) -> str:
        """A claim the operator creates and fills before installing (e.g. the training data):
        files owned by root, mode 0644, readable by any uid."""
        name = self._create_volume(self.pvc_volume(namespace, claim))
        helper = f"{name}-fill"
        docker("create", "--name", helper, "-v", f"{name}:/v", PAUSE_IMAGE, "true")
        try:
            tar = self._tar({k: (v, 0o644) for k, v in files.items()}, 0)
            docker("cp", "-a", "-", f"{helper}:/v", input=tar)
        finally:
            docker("rm", "-f", helper, check=False)
        return name

    def _owned_volume(self, name: str, fs_group: int | None, *opts: str) -> str:
        """An empty named volume whose root the pod can write as the kubelet arranges it."""
        fresh = name not in self._volumes
        self._create_volume(name, *opts)
        if fresh and not opts:
            mode, group = ("2775", fs_group) if fs_group is not None else ("755", 0)
            docker(
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                f"{name}:/v",
                PAUSE_IMAGE,
                "sh",
                "-c",
                f"chown 0:{group} /v && chmod {mode} /v",
            )
        return name

    def _pod_volumes(
        self, release: Release, workload: Manifest, spec: Manifest, pod_name: str
    ) -> tuple[dict[str, str], set[str]]:
        """Volume name in the spec -> Docker volume, created and filled; and the volumes the spec
        makes read-only for every mount (``persistentVolumeClaim.readOnly``)."""
        fs_group = spec.get("securityContext", {}).get("fsGroup")
        wname = workload["metadata"]["name"]
        ns = release.namespace
        out: dict[str, str] = {}
        read_only: set[str] = set()
        for vol in spec.get("volumes", []):
            vname = vol["name"]
            docker_name = f"{self.prefix}-{pod_name}-{vname}"[:120]
            if "emptyDir" in vol:
                size = vol["emptyDir"].get("sizeLimit")
                opts = ["mode=2777" if fs_group is not None else "mode=0777"]
                if fs_group is not None:
                    opts.append(f"gid={fs_group}")
                if size:
                    opts.append(f"size={quantity_bytes(size)}")
                out[vname] = self._owned_volume(
                    docker_name,
                    fs_group,
                    "--driver",
                    "local",
                    "--opt",
                    "type=tmpfs",
                    "--opt",
                    "device=tmpfs",
                    "--opt",
                    "o=" + ",".join(opts),
                )
            elif "secret" in vol:
                src = vol["secret"]
                if src.get("optional") and (ns, src["secretName"]) not in self.secrets:
                    out[vname] = self._files_volume(docker_name, {}, {}, fs_group)
                    continue
                data = self._secret_data(release, src["secretName"])
                out[vname] = self._files_volume(docker_name, data, src, fs_group)
            elif "configMap" in vol:
                src = vol["configMap"]
                data = self._configmap_data(release, src["name"])
                out[vname] = self._files_volume(docker_name, data, src, fs_group)
            elif "persistentVolumeClaim" in vol:
                claim = vol["persistentVolumeClaim"]["claimName"]
                out[vname] = self._owned_volume(self.pvc_volume(ns, claim), fs_group)
                if vol["persistentVolumeClaim"].get("readOnly"):
                    read_only.add(vname)
            else:
                kind = next(k for k in vol if k != "name")
                self._note(wname, f"volumes[{vname}].{kind}", "volume type not implemented")
        for tmpl in workload.get("spec", {}).get("volumeClaimTemplates", []):
            claim = f"{tmpl['metadata']['name']}-{pod_name}"
            out[tmpl["metadata"]["name"]] = self._owned_volume(self.pvc_volume(ns, claim), fs_group)
        return out, read_only

    def _security_args(
        self, workload: str, pod_sc: Manifest, c: Manifest, image_id: str
    ) -> tuple[list[str], str]:
        sc = {**pod_sc, **c.get("securityContext", {})}
        args: list[str] = []
        uid = sc.get("runAsUser")
        gid = sc.get("runAsGroup")
        image_user = str(self._image_config(image_id).get("User") or "0")
        if uid is None:
            effective = image_user.split(":", 1)[0]
        else:
            effective = str(uid)
            args += ["--user", f"{uid}:{gid}" if gid is not None else str(uid)]
        if gid is not None and uid is None:
            self._note(
                workload,
                f"containers[{c['name']}].securityContext.runAsGroup",
                "needs runAsUser here",
            )
        if sc.get("runAsNonRoot"):
            if not effective.isdigit():
                raise PodError(
                    f"container {c['name']}: runAsNonRoot and image has non-numeric user "
                    f"{image_user!r} (will not run: cannot verify user is non-root)"
                )
            if int(effective) == 0:
                raise PodError(f"container {c['name']}: runAsNonRoot and image will run as root")
        groups = list(pod_sc.get("supplementalGroups", []))
        if pod_sc.get("fsGroup") is not None:
            groups.append(pod_sc["fsGroup"])
        for g in dict.fromkeys(groups):
            args += ["--group-add", str(g)]
        if sc.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        caps = sc.get("capabilities", {})
        for cap in caps.get("drop", []):
            args += ["--cap-drop", cap]
        for cap in caps.get("add", []):
            args += ["--cap-add", cap]
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        if sc.get("privileged"):
            args.append("--privileged")
        seccomp = sc.get("seccompProfile", {}).get("type")
        if seccomp == "Unconfined":
            args += ["--security-opt", "seccomp=unconfined"]
        elif seccomp == "Localhost":
            self._note(
                workload, "securityContext.seccompProfile=Localhost", "node profiles not available"
            )
        for key in ("seLinuxOptions", "appArmorProfile", "procMount", "sysctls", "windowsOptions"):
            if key in sc:
                self._note(workload, f"securityContext.{key}", "not implemented by the harness")
        return args, effective

    def _resource_args(self, c: Manifest) -> list[str]:
        res = c.get("resources", {})
        args: list[str] = []
        limits, requests = res.get("limits", {}), res.get("requests", {})
        if "memory" in limits:
            mem = quantity_bytes(limits["memory"])
            args += ["--memory", str(mem), "--memory-swap", str(mem)]
        if "cpu" in limits:
            args += ["--cpus", f"{quantity_cpu(limits['cpu']):.3f}"]
        if "cpu" in requests:
            args += ["--cpu-shares", str(max(2, int(quantity_cpu(requests["cpu"]) * 1024)))]
        return args

    # ---- pods -----------------------------------------------------------------------------------

    def start_pod(
        self, workload: Manifest, *, name: str | None = None, job_name: str | None = None
    ) -> Pod:
        """Create a pod of ``workload`` (Deployment, StatefulSet, Job, CronJob or Pod) and start
        its probe loop; returns at once (see :meth:`wait_ready`)."""
        release = self._release_of(workload)
        kind = workload["kind"]
        wname = workload["metadata"]["name"]
        if kind == "Pod":
            template = {"metadata": workload["metadata"], "spec": workload["spec"]}
        elif kind == "CronJob":
            template = workload["spec"]["jobTemplate"]["spec"]["template"]
        else:
            template = workload["spec"]["template"]
        spec: Manifest = template["spec"]
        labels: dict[str, str] = dict(template.get("metadata", {}).get("labels", {}))
        if kind in ("Job", "CronJob"):
            # What the Job controller adds to its pods' labels.
            job_name = job_name or wname
            uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.prefix}/{job_name}"))
            labels.update(
                {
                    "batch.kubernetes.io/job-name": job_name,
                    "job-name": job_name,
                    "batch.kubernetes.io/controller-uid": uid,
                    "controller-uid": uid,
                }
            )
        pod_name = name or (wname if kind == "Pod" else self._next_name(job_name or wname))
        self._check_fields(f"{kind}/{wname}", spec)
        if kind == "CronJob":
            self._note(
                f"CronJob/{wname}", "spec.schedule", "run on demand by the test, no scheduler"
            )
        main = spec["containers"][0]
        image_ids = {c["name"]: self.image_for(c["image"]) for c in spec["containers"]}
        for c in spec.get("initContainers", []):
            image_ids[c["name"]] = self.image_for(c["image"])

        ports = [
            p["containerPort"]
            for c in spec["containers"]
            for p in c.get("ports", [])
            if p.get("protocol", "TCP") == "TCP"
        ]
        pause = f"{self.prefix}-{pod_name}"
        run = [
            "run",
            "-d",
            "--name",
            pause,
            "--hostname",
            pod_name[:63],
            "--network",
            self.network,
            "--label",
            f"pods-harness={self.prefix}",
            "--user",
            "65535:65535",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--memory",
            "32m",
        ]
        for alias in self._aliases(release, labels, pod_name):
            run += ["--network-alias", alias]
        for port in ports:
            run += ["-p", f"127.0.0.1::{port}"]
        run += [PAUSE_IMAGE, "sleep", "infinity"]
        pause_id = docker(*run).stdout.decode().strip()
        info = json.loads(docker("inspect", pause_id).stdout)[0]
        ip = info["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        host_ports = {
            int(k.split("/")[0]): int(v[0]["HostPort"])
            for k, v in (info["NetworkSettings"]["Ports"] or {}).items()
            if v
        }
        pod = Pod(
            name=pod_name,
            workload=f"{kind}/{wname}",
            image=main["image"],
            labels=labels,
            spec=spec,
            pause_id=pause_id,
            ip=ip,
            host_ports=host_ports,
            volumes=[],
        )
        with self._lock:
            self.pods.append(pod)
        try:
            volumes, read_only = self._pod_volumes(release, workload, spec, pod_name)
            pod.volumes = list(volumes.values())
            for c in spec.get("initContainers", []):
                cid = self._create_container(
                    release, pod, c, image_ids[c["name"]], volumes, read_only
                )
                docker("start", cid)
                code = int(docker("wait", cid, timeout=900).stdout.decode().strip() or 1)
                if code != 0:
                    raise PodError(f"init container {c['name']} exited {code}:\n{self._logs(cid)}")
            for c in spec["containers"]:
                cid = self._create_container(
                    release, pod, c, image_ids[c["name"]], volumes, read_only
                )
                container = Container(spec=c, cid=cid, name=c["name"])
                container.stats = {k: ProbeStats() for k in ("startup", "readiness", "liveness")}
                pod.containers.append(container)
            for container in pod.containers:
                docker("start", container.cid)
                self._post_start(pod, container)
        except Exception:
            self.log(f"pod {pod_name} failed to start; removing it")
            self._remove_pod(pod)
            raise
        threading.Thread(target=self._probe_loop, args=(pod,), daemon=True, name=pod_name).start()
        return pod

    def _create_container(
        self,
        release: Release,
        pod: Pod,
        c: Manifest,
        image_id: str,
        volumes: Mapping[str, str],
        read_only: set[str],
    ) -> str:
        env = self._env(release, c, pod.name, pod.labels)
        env = {k: v.replace("$POD_IP", pod.ip) for k, v in env.items()}
        sec, _uid = self._security_args(
            pod.workload, pod.spec.get("securityContext", {}), c, image_id
        )
        args = [
            "create",
            "--name",
            f"{self.prefix}-{pod.name}-{c['name']}",
            "--network",
            f"container:{pod.pause_id}",
            "--label",
            f"pods-harness={self.prefix}",
            "--no-healthcheck",  # a kubelet ignores the image's HEALTHCHECK; probes replace it
            "--stop-timeout",
            str(pod.spec.get("terminationGracePeriodSeconds", 30)),
            *sec,
            *self._resource_args(c),
        ]
        if "workingDir" in c:
            args += ["-w", c["workingDir"]]
        for mount in c.get("volumeMounts", []):
            if mount["name"] not in volumes:
                raise PodError(f"container {c['name']}: volumeMount {mount['name']} has no volume")
            if "subPath" in mount or "subPathExpr" in mount:
                self._note(
                    pod.workload,
                    f"volumeMounts[{mount['name']}].subPath",
                    "Docker 20 has no volume subpaths",
                )
            spec = f"type=volume,source={volumes[mount['name']]},destination={mount['mountPath']}"
            spec += ",volume-nocopy=true"
            if mount.get("readOnly") or mount["name"] in read_only:
                spec += ",readonly"
            args += ["--mount", spec]
        for key in env:
            args += ["-e", key]  # values come through the CLI's environment, not its argv
        command = [_expand(x, env) for x in c.get("command", [])]
        cargs = [_expand(x, env) for x in c.get("args", [])]
        if command:
            args += ["--entrypoint", command[0], image_id, *command[1:], *cargs]
        else:
            args += [image_id, *cargs]
        return docker(*args, env=env).stdout.decode().strip()

    def _logs(self, cid: str, tail: int = 80) -> str:
        proc = docker("logs", "--tail", str(tail), cid, check=False)
        return (proc.stdout + proc.stderr).decode(errors="replace")

    def _post_start(self, pod: Pod, container: Container) -> None:
        hook = container.spec.get("lifecycle", {}).get("postStart")
        if hook and not self._run_handler(pod, container, hook, 30):
            self.log(f"{pod.name}: postStart hook failed; container will be restarted")
            docker("restart", container.cid, check=False)

    def _run_handler(
        self, pod: Pod, container: Container, handler: Manifest, timeout: float
    ) -> bool:
        """Run a probe or lifecycle handler; True on success."""
        try:
            if "exec" in handler:
                proc = docker(
                    "exec", container.cid, *handler["exec"]["command"], check=False, timeout=timeout
                )
                if proc.returncode != 0:
                    raise PodError(
                        proc.stderr.decode(errors="replace")[-300:] or f"exit {proc.returncode}"
                    )
                return True
            if "httpGet" in handler:
                h = handler["httpGet"]
                port = self._port(container.spec, h["port"])
                conn = http.client.HTTPConnection(h.get("host", pod.ip), port, timeout=timeout)
                headers = {"User-Agent": KUBE_PROBE_AGENT, "Accept": "*/*"}
                headers.update({x["name"]: x["value"] for x in h.get("httpHeaders", [])})
                try:
                    conn.request("GET", h.get("path", "/"), headers=headers)
                    status = conn.getresponse().status
                finally:
                    conn.close()
                if not 200 <= status < 400:
                    raise PodError(f"HTTP probe failed with statuscode: {status}")
                return True
            if "tcpSocket" in handler:
                port = self._port(container.spec, handler["tcpSocket"]["port"])
                with socket.create_connection((pod.ip, port), timeout=timeout):
                    return True
            if "sleep" in handler:
                time.sleep(min(float(handler["sleep"]["seconds"]), timeout))
                return True
            self._note(pod.workload, f"handler {sorted(handler)}", "handler type not implemented")
            return False
        except (OSError, PodError, subprocess.TimeoutExpired) as exc:
            raise PodError(str(exc)[-300:]) from exc

    @staticmethod
    def _port(container: Manifest, port: int | str) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in container.get("ports", []):
            if p.get("name") == port:
                return int(p["containerPort"])
        raise PodError(f"port {port!r} is not a named port of container {container['name']}")

    def _container_state(self, cid: str) -> tuple[bool, int]:
        proc = docker(
            "inspect",
            "--format",
            "{{.State.Running}} {{.State.ExitCode}} {{.State.OOMKilled}}",
            cid,
            check=False,
        )
        if proc.returncode != 0:
            return False, -1
        running, code, oom = proc.stdout.decode().split()
        if oom == "true" and running != "true":
            self.log(f"container {cid[:12]} was OOMKilled (memory limit)")
        return running == "true", int(code)

    def _probe_loop(self, pod: Pod) -> None:
        """The kubelet's prober and restart manager for one pod."""
        policy = pod.spec.get("restartPolicy", "Always")
        grace = int(pod.spec.get("terminationGracePeriodSeconds", 30))
        state: dict[tuple[str, str], dict[str, Any]] = {}
        backoff: dict[str, float] = {}
        t_start = {c.name: time.monotonic() for c in pod.containers}
        while not pod.stop.is_set():
            now = time.monotonic()
            for c in pod.containers:
                running, code = self._container_state(c.cid)
                if not running:
                    c.ready = False
                    c.started = False
                    if (
                        pod.terminating
                        or policy == "Never"
                        or (policy == "OnFailure" and code == 0)
                    ):
                        if all(not self._container_state(x.cid)[0] for x in pod.containers):
                            pod.exit_code = max(
                                (self._container_state(x.cid)[1] for x in pod.containers), default=0
                            )
                            pod.finished.set()
                            return
                        continue
                    delay = backoff.get(c.name, 10.0)
                    if now - t_start[c.name] >= delay:
                        self.log(
                            f"{pod.name}/{c.name} exited {code}: restart (back-off {delay:.0f} s)"
                        )
                        c.restarts += 1
                        backoff[c.name] = min(delay * 2, 300)
                        docker("start", c.cid, check=False)
                        t_start[c.name] = time.monotonic()
                        state = {k: v for k, v in state.items() if k[0] != c.name}
                    continue
                for kind in ("startup", "readiness", "liveness"):
                    probe = c.spec.get(f"{kind}Probe")
                    if kind != "startup" and not c.started:
                        continue
                    if probe is None:
                        if kind == "startup":
                            c.started = True
                        elif kind == "readiness":
                            c.ready = True
                        continue
                    if kind == "startup" and c.started:
                        continue
                    st = state.setdefault(
                        (c.name, kind),
                        {
                            "next": t_start[c.name] + probe.get("initialDelaySeconds", 0),
                            "ok": 0,
                            "bad": 0,
                        },
                    )
                    if now < st["next"]:
                        continue
                    st["next"] = now + probe.get("periodSeconds", 10)
                    stats = c.stats[kind]
                    try:
                        self._run_handler(pod, c, probe, probe.get("timeoutSeconds", 1))
                        ok = True
                    except PodError as exc:
                        ok = False
                        stats.last_error = str(exc)
                    if ok:
                        stats.passed += 1
                        st["ok"] += 1
                        st["bad"] = 0
                    else:
                        stats.failed += 1
                        st["bad"] += 1
                        st["ok"] = 0
                    if kind == "startup":
                        if ok:
                            c.started = True
                        elif st["bad"] >= probe.get("failureThreshold", 3):
                            self._restart(
                                pod, c, grace, f"startup probe failed: {stats.last_error}"
                            )
                            t_start[c.name] = time.monotonic()
                            state = {k: v for k, v in state.items() if k[0] != c.name}
                            break
                    elif kind == "readiness":
                        if ok and st["ok"] >= probe.get("successThreshold", 1):
                            c.ready = True
                        elif not ok and st["bad"] >= probe.get("failureThreshold", 3):
                            c.ready = False
                    elif not ok and st["bad"] >= probe.get("failureThreshold", 3):
                        self._restart(pod, c, grace, f"liveness probe failed: {stats.last_error}")
                        t_start[c.name] = time.monotonic()
                        state = {k: v for k, v in state.items() if k[0] != c.name}
                        break
            with pod.lock:
                if policy == "Always" and pod.ready and pod.ready_at is None:
                    pod.ready_at = time.monotonic()
                    self._record(pod)
            pod.stop.wait(0.25)

    def _restart(self, pod: Pod, c: Container, grace: int, why: str) -> None:
        self.log(f"{pod.name}/{c.name}: {why}; restarting the container")
        c.ready = c.started = False
        c.restarts += 1
        docker("restart", "-t", str(grace), c.cid, check=False, timeout=grace + 30)

    def _record(self, pod: Pod) -> None:
        """A row of the summary table, once the pod is Ready (or has finished)."""
        for c in pod.containers:
            if not c.uid:
                proc = docker("exec", c.cid, "id", "-u", check=False, timeout=20)
                c.uid = (
                    proc.stdout.decode().strip()
                    if proc.returncode == 0
                    else self._config_user(c.cid)
                )
        self.rows.append(self._row(pod))

    def _config_user(self, cid: str) -> str:
        proc = docker("inspect", "--format", "{{.Config.User}}", cid, check=False)
        return proc.stdout.decode().strip() or "image default"

    def _row(self, pod: Pod) -> dict[str, Any]:
        c = pod.containers[0]
        ro = docker("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", c.cid, check=False)
        probes = ", ".join(
            f"{k} {s.passed}/{s.passed + s.failed}"
            for k, s in c.stats.items()
            if c.spec.get(f"{k}Probe")
        )
        ready = (
            f"{pod.ready_at - pod.created_at:.1f} s"
            if pod.ready_at is not None
            else f"exit {pod.exit_code}"
        )
        return {
            "workload": f"{pod.workload} ({pod.name})",
            "image": pod.image,
            "uid": c.uid,
            "read-only root": ro.stdout.decode().strip() == "true",
            "probes passed": probes or "-",
            "time to Ready": ready,
        }

    def wait_ready(self, pods: Iterable[Pod], timeout: float) -> None:
        """Poll until every pod is Ready; after ``timeout`` fail with probe errors and logs."""
        pods = list(pods)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.ready for p in pods):
                return
            for p in pods:
                if p.finished.is_set():
                    raise PodError(f"pod {p.name} exited {p.exit_code} before Ready:\n{p.logs()}")
            time.sleep(0.25)
        raise PodError(
            f"not Ready after {timeout:.0f} s: "
            + "; ".join(self.describe(p) for p in pods if not p.ready)
            + "\n"
            + "\n".join(p.logs(60) for p in pods if not p.ready)
        )

    def describe(self, pod: Pod) -> str:
        """``kubectl describe``-like one-liner: probe results and restarts."""
        parts = []
        for c in pod.containers:
            probes = ", ".join(
                f"{k}: {s.passed} ok/{s.failed} failed" + (f" ({s.last_error})" if s.failed else "")
                for k, s in c.stats.items()
                if c.spec.get(f"{k}Probe")
            )
            parts.append(f"{c.name}: ready={c.ready} restarts={c.restarts} {probes}")
        return f"{pod.name}: " + "; ".join(parts)

    def delete_pod(self, pod: Pod, *, wait: bool = True) -> threading.Thread:
        """Graceful deletion: not Ready at once (out of the endpoints), ``preStop``, then the stop
        signal, SIGKILL after ``terminationGracePeriodSeconds``; then the pod is removed."""
        pod.terminating = True
        grace = float(pod.spec.get("terminationGracePeriodSeconds", 30))

        def terminate() -> None:
            started = time.monotonic()
            for c in pod.containers:
                hook = c.spec.get("lifecycle", {}).get("preStop")
                if hook:
                    try:
                        self._run_handler(pod, c, hook, grace)
                    except PodError as exc:
                        self.log(f"{pod.name}/{c.name}: preStop hook failed: {exc}")
            left = max(1, math.ceil(grace - (time.monotonic() - started)))
            for c in pod.containers:
                docker("stop", "-t", str(left), c.cid, check=False, timeout=left + 30)
            pod.stop.set()
            pod.exit_code = max(
                (self._container_state(c.cid)[1] for c in pod.containers), default=0
            )
            pod.finished.set()
            self._remove_pod(pod)

        thread = threading.Thread(target=terminate, daemon=True, name=f"delete-{pod.name}")
        thread.start()
        if wait:
            thread.join(grace + 60)
        return thread

    def kill_pod(self, pod: Pod) -> None:
        """The pod dies at once (node failure, OOM kill, ``docker kill``): no hook, no grace."""
        pod.terminating = True
        pod.stop.set()
        for c in pod.containers:
            docker("kill", c.cid, check=False)
        pod.finished.set()
        self._remove_pod(pod)

    def kill_container(self, pod: Pod, container: str | None = None) -> None:
        """SIGKILL one container of a running pod; its restart policy decides what follows."""
        target = next(c for c in pod.containers if container in (None, c.name))
        docker("kill", target.cid, check=False)

    def _remove_pod(self, pod: Pod) -> None:
        pod.stop.set()
        for c in pod.containers:
            docker("rm", "-f", "-v", c.cid, check=False)
        docker("rm", "-f", pod.pause_id, check=False)
        for vol in pod.volumes:
            if "-pvc-" not in vol:
                docker("volume", "rm", "-f", vol, check=False)
                with self._lock:
                    self._volumes.discard(vol)
        with self._lock:
            if pod in self.pods:
                self.pods.remove(pod)

    # ---- Jobs and bare pods ---------------------------------------------------------------------

    def run_to_completion(
        self, workload: Manifest, *, timeout: float = 600, job_name: str | None = None
    ) -> JobResult:
        """A Job (CronJob: its jobTemplate, on demand, as ``kubectl create job --from=cronjob/..
        <job_name>``) or a bare Pod until it succeeds or runs out of ``backoffLimit`` /
        ``activeDeadlineSeconds``; its pods are removed afterwards."""
        kind = workload["kind"]
        job_spec: Manifest = {}
        if kind == "Job":
            job_spec = workload["spec"]
        elif kind == "CronJob":
            job_spec = workload["spec"]["jobTemplate"]["spec"]
        backoff_limit = int(job_spec.get("backoffLimit", 6)) if kind != "Pod" else 0
        deadline_s = float(job_spec.get("activeDeadlineSeconds", timeout))
        for key in ("ttlSecondsAfterFinished", "completions", "parallelism", "suspend"):
            if key in job_spec and key != "ttlSecondsAfterFinished":
                self._note(
                    f"{kind}/{workload['metadata']['name']}", f"spec.{key}", "not implemented"
                )
        started = time.monotonic()
        logs: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            pod = self.start_pod(workload, job_name=job_name)
            remaining = min(timeout, deadline_s) - (time.monotonic() - started)
            if not pod.finished.wait(max(remaining, 0)):
                logs.append(pod.logs())
                self.kill_pod(pod)
                return JobResult(
                    workload["metadata"]["name"],
                    False,
                    attempt,
                    time.monotonic() - started,
                    "\n".join(logs) + "\nDeadlineExceeded",
                )
            logs.append(pod.logs())
            for c in pod.containers:
                c.uid = c.uid or self._config_user(c.cid)
            self.rows.append(self._row(pod))
            ok = pod.exit_code == 0
            self._remove_pod(pod)
            if ok or attempt > backoff_limit:
                return JobResult(
                    workload["metadata"]["name"],
                    ok,
                    attempt,
                    time.monotonic() - started,
                    "\n".join(logs),
                )
            time.sleep(min(10 * 2 ** (attempt - 1), 60) if attempt > 1 else 1)

    # ---- teardown and report --------------------------------------------------------------------

    def close(self) -> None:
        """Remove every container, volume and the network this kubelet created."""
        for pod in list(self.pods):
            pod.stop.set()
        ids = docker("ps", "-aq", "--filter", f"label=pods-harness={self.prefix}", check=False)
        cids = ids.stdout.decode().split()
        if cids:
            docker("rm", "-f", "-v", *cids, check=False, timeout=300)
        vols = docker(
            "volume", "ls", "-q", "--filter", f"label=pods-harness={self.prefix}", check=False
        )
        names = vols.stdout.decode().split()
        if names:
            docker("volume", "rm", "-f", *names, check=False)
        docker("network", "rm", self.network, check=False)

    def table(self) -> str:
        """The summary table: workload, image, uid, read-only root, probes passed, time to Ready."""
        cols = ["workload", "image", "uid", "read-only root", "probes passed", "time to Ready"]
        rows = [[str(r[c]) for c in cols] for r in self.rows]
        widths = [
            max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)
        ]
        line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
        out = [line, "-" * len(line)]
        out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join(out)

    def unhonoured_report(self) -> str:
        """Every pod-spec field not applied, per workload, with the reason; then what differs
        from a cluster for every pod."""
        lines = ["pod-spec fields not honoured (workload: field -- reason):"]
        lines += [f"  {u.workload}: {u.field} -- {u.reason}" for u in self.unhonoured] or ["  none"]
        lines.append("differences from a cluster, for every pod:")
        lines += [f"  {d}" for d in HARNESS_DEVIATIONS]
        return "\n".join(lines)


@contextlib.contextmanager
def running_kubelet(**kwargs: Any) -> Any:
    """A :class:`Kubelet` that is always torn down, test failure or not."""
    kubelet = Kubelet(**kwargs)
    try:
        yield kubelet
    finally:
        kubelet.close()
