"""Registry access control: MLflow's basic-auth app with an admin, a writer and a reader.

The tracking server runs ``mlflow server --app-name basic-auth`` (compose, the chart) with
``default_permission = READ``. :func:`ensure_registry_access` (command
``credit-scoring registry-access``, run once per deployment as a one-shot job, idempotent) uses
the admin identity to:

* create (or re-password, so rotating a secret works) the **writer** identity used by training
  and promotion (CLI, Airflow, trainer job) and the **reader** identity used by the scoring APIs;
* create the experiment and the registered model if they do not exist yet, and grant the writer
  ``MANAGE`` on both (runs, versions, aliases, tags) and the reader ``READ``.

The reader can load any version but gets **403** when it tries to move an alias, so a
compromised API cannot change what every API serves (EU AI Act Art. 15: model tampering).
MLflow lets any authenticated user create new experiments and models; only permissions on the
project's own model decide what is served. Clients authenticate with MLflow's standard
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, or with
``CREDIT_SCORING_REGISTRY_USERNAME`` and ``CREDIT_SCORING_REGISTRY_PASSWORD_FILE`` (a secret file;
see :func:`credit_scoring.registry.gateway.use_registry_credentials`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException, RestException
from mlflow.utils.rest_utils import MlflowHostCreds, http_request, verify_rest_response

WRITER_PERMISSION = "MANAGE"
READER_PERMISSION = "READ"

# The basic-auth app's REST endpoints (``mlflow.server.auth.routes``). Its Python client is not
# imported: importing ``mlflow.server.auth`` needs Flask-WTF, which only the server image has.
_USERS = "/api/2.0/mlflow/users"
_PERMISSIONS = "/api/3.0/mlflow/users/permissions"
_CURRENT_PERMISSIONS = "/api/3.0/mlflow/users/current/permissions"


class RegistryAccessError(RuntimeError):
    """Access control could not be set up (names the step and the server's answer)."""


@dataclass(frozen=True)
class Identity:
    """A username and its password (from a secret file; never logged)."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Identity({self.username!r}, password=***)"


class _AdminClient:
    """The few calls :func:`ensure_registry_access` needs, as the admin identity."""

    def __init__(self, tracking_uri: str, admin: Identity) -> None:
        self.creds = MlflowHostCreds(tracking_uri, username=admin.username, password=admin.password)

    def call(self, endpoint: str, method: str, **kwargs: Any) -> dict[str, Any]:
        resp = http_request(self.creds, endpoint, method, **kwargs)
        resp = verify_rest_response(resp, endpoint)
        if resp.status_code == 204 or not resp.content:
            return {}
        return resp.json()

    def grant(self, username: str, kind: str, resource: str, permission: str) -> None:
        body = {"username": username, "resource_type": kind, "resource_id": resource}
        self.call(f"{_PERMISSIONS}/grant", "POST", json={**body, "permission": permission})

    def revoke(self, username: str, kind: str, resource: str) -> None:
        body = {"username": username, "resource_type": kind, "resource_id": resource}
        self.call(f"{_PERMISSIONS}/revoke", "POST", json=body)


def _exists(exc: MlflowException) -> bool:
    return exc.error_code == "RESOURCE_ALREADY_EXISTS"


def _ensure_user(client: _AdminClient, identity: Identity, actions: list[str]) -> None:
    try:
        client.call(f"{_USERS}/get", "GET", params={"username": identity.username})
    except RestException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        body = {"username": identity.username, "password": identity.password}
        client.call(f"{_USERS}/create", "POST", json=body)
        actions.append(f"created user {identity.username}")
        return
    body = {"username": identity.username, "password": identity.password}
    client.call(f"{_USERS}/update-password", "PATCH", json=body)
    actions.append(f"user {identity.username} exists (password updated)")


def _grant(client: _AdminClient, username: str, kind: str, resource: str, permission: str) -> str:
    try:
        client.grant(username, kind, resource, permission)
    except RestException as exc:
        if not _exists(exc):
            raise
        client.revoke(username, kind, resource)
        client.grant(username, kind, resource, permission)
    return f"{username}: {permission} on {kind} {resource}"


def ensure_registry_access(
    tracking_uri: str,
    *,
    admin: Identity,
    writer: Identity,
    reader: Identity,
    model_name: str,
    experiment_name: str,
) -> list[str]:
    """Create the identities and grants (idempotent); returns what was done, step by step."""
    if len({admin.username, writer.username, reader.username}) != 3:
        raise RegistryAccessError("admin, writer and reader must be three different users")
    for who in (admin, writer, reader):
        if len(who.password) < 12:
            raise RegistryAccessError(
                f"the password of {who.username!r} is shorter than 12 characters"
            )
    client = _AdminClient(tracking_uri, admin)
    actions: list[str] = []
    step = "connect as admin"
    try:
        step = "create users"
        _ensure_user(client, writer, actions)
        _ensure_user(client, reader, actions)
        step = "create the experiment"
        try:
            exp = client.call(
                "/api/2.0/mlflow/experiments/create", "POST", json={"name": experiment_name}
            )
            experiment_id = str(exp["experiment_id"])
            actions.append(f"created experiment {experiment_name}")
        except RestException as exc:
            if not _exists(exc):
                raise
            found = client.call(
                "/api/2.0/mlflow/experiments/get-by-name",
                "GET",
                params={"experiment_name": experiment_name},
            )
            experiment_id = str(found["experiment"]["experiment_id"])
        step = "create the registered model"
        try:
            client.call(
                "/api/2.0/mlflow/registered-models/create", "POST", json={"name": model_name}
            )
            actions.append(f"created registered model {model_name}")
        except RestException as exc:
            if not _exists(exc):
                raise
        step = "grant permissions"
        for username, permission in (
            (writer.username, WRITER_PERMISSION),
            (reader.username, READER_PERMISSION),
        ):
            actions.append(_grant(client, username, "experiment", experiment_id, permission))
            actions.append(_grant(client, username, "registered_model", model_name, permission))
    except MlflowException as exc:
        raise RegistryAccessError(f"{step} at {tracking_uri}: {exc.message}") from None
    return actions


# Permissions at least as strong as each level (MLflow's order: READ < USE < EDIT < MANAGE).
_AT_LEAST = {
    "READ": {"READ", "USE", "EDIT", "MANAGE"},
    "EDIT": {"EDIT", "MANAGE"},
    "MANAGE": {"MANAGE"},
}


def wait_for_grant(
    tracking_uri: str,
    who: Identity,
    *,
    model_name: str,
    permission: str,
    timeout_s: float,
    poll_s: float = 2.0,
) -> float:
    """Wait until ``who`` holds ``permission`` (or more) on the registered model; seconds taken.

    A training pod starts next to the one-shot job that creates its identity
    (:func:`ensure_registry_access`): until that job has run, the identity is unknown (401) or
    not granted yet. The grant on the registered model is the job's last step, so seeing it means
    the experiment grant is there too. Raises :class:`RegistryAccessError` at the deadline,
    naming the identity and the server's last answer.
    """
    import time

    if permission not in _AT_LEAST:
        raise RegistryAccessError(f"permission {permission!r}: one of {sorted(_AT_LEAST)}")
    creds = MlflowHostCreds(tracking_uri, username=who.username, password=who.password)
    started = time.monotonic()
    last = "no answer yet"
    while True:
        try:
            resp = http_request(creds, _CURRENT_PERMISSIONS, "GET", max_retries=0, timeout=10)
            if resp.status_code == 200:
                rows = resp.json().get("permissions", [])
                if any(
                    row.get("resource_type") == "registered_model"
                    and row.get("resource_pattern") in (model_name, "*")
                    and row.get("permission") in _AT_LEAST[permission]
                    for row in rows
                ):
                    return time.monotonic() - started
                last = f"no {permission} grant on registered model {model_name!r} yet"
            else:
                last = f"HTTP {resp.status_code}"
        except (MlflowException, OSError) as exc:  # OSError: requests' connection errors
            last = str(exc)
        if time.monotonic() - started > timeout_s:
            raise RegistryAccessError(
                f"{who.username!r} has no {permission} on registered model {model_name!r} at "
                f"{tracking_uri} after {timeout_s:.0f} s ({last}); has `credit-scoring "
                "registry-access` run?"
            )
        time.sleep(poll_s)
