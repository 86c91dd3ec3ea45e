"""Entrypoint of the MLflow server image: wait for the database, migrate it safely, start MLflow.

* ``MLFLOW_BACKEND_STORE_URI`` (or ``MLFLOW_BACKEND_STORE_URI_FILE``, a file holding it, for
  compose/Kubernetes secrets) names the backend store; it is passed on in the environment, never
  on a command line, so the password does not show in ``ps``.
* A bare ``postgresql://`` URI is given the ``psycopg2`` driver installed in the image.
* Before ``mlflow server`` starts, the database is waited for (``MLFLOW_DB_WAIT_TIMEOUT_S``,
  default 120 s) and brought to the schema of this MLflow version with the logic of
  ``mlflow db upgrade`` (which also creates the tables of an empty database). On PostgreSQL the
  migration runs under an advisory lock, so several replicas starting together do not race.
  ``MLFLOW_DB_UPGRADE=false`` skips it (then run ``mlflow db upgrade`` yourself).
* ``mlflow server --app-name basic-auth`` (registry access control, docs/deployment.md): the
  auth store is ``MLFLOW_AUTH_DATABASE_URI`` (or ``..._FILE``; on PostgreSQL the database is
  created if missing and migrated under the same lock), the admin password
  ``MLFLOW_AUTH_ADMIN_PASSWORD`` or ``MLFLOW_AUTH_ADMIN_PASSWORD_FILE``, the Flask secret
  ``MLFLOW_FLASK_SERVER_SECRET_KEY`` or ``..._FILE`` (random per container when unset). The
  auth configuration (``default_permission = READ``) is written to a private file named by
  ``MLFLOW_AUTH_CONFIG_PATH``.
* With ``--serve-artifacts``, the artifact destination (``--artifacts-destination``: a directory,
  ``s3://``, ``gs://``, ``wasbs://``; S3-compatible stores through ``MLFLOW_S3_ENDPOINT_URL``) is
  checked before the server starts: a probe object is written, listed, read back and deleted
  with MLflow's own artifact repository for that scheme. A missing client library, a missing
  bucket or refused credentials stop the container with the reason (exit code 3) instead of a
  server whose ``/health`` is green while every artifact call fails.
  ``MLFLOW_ARTIFACTS_CHECK=false`` skips the check.
* Any other command (``mlflow db upgrade ...``, ``bash``) is run as given.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

# Arbitrary constant shared by every replica: the id of the migration advisory lock.
_ADVISORY_LOCK_ID = 0x4D4C464C  # "MLFL"


def _log(message: str) -> None:
    print(f"mlflow-entrypoint: {message}", file=sys.stderr, flush=True)


def _from_env_or_file(name: str) -> str:
    """``$NAME``, else the content of the file named by ``$NAME_FILE``, else empty."""
    value = os.environ.get(name, "").strip()
    path = os.environ.get(f"{name}_FILE", "").strip()
    if not value and path:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read().strip()
        except OSError as exc:
            raise SystemExit(f"mlflow-entrypoint: {name}_FILE={path!r}: {exc}") from exc
    return value


def _backend_store_uri() -> str:
    """The backend store URI from the environment or from the file named by ``..._FILE``."""
    uri = _from_env_or_file("MLFLOW_BACKEND_STORE_URI")
    if not uri:
        raise SystemExit(
            "mlflow-entrypoint: set MLFLOW_BACKEND_STORE_URI (e.g. "
            "postgresql://user:password@postgres:5432/mlflow) or MLFLOW_BACKEND_STORE_URI_FILE"
        )
    return uri


def _with_driver(uri: str) -> str:
    """Pin ``postgresql://`` URIs to psycopg2, the driver in this image.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which is not installed.
    """
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg2://" + uri[len(prefix) :]
    return uri


def _redacted(uri: str) -> str:
    """The URI without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(uri).render_as_string(hide_password=True)


def _prepare_database(uri: str) -> None:
    """Wait until the database answers, then migrate it (under a lock on PostgreSQL)."""
    import sqlalchemy
    from sqlalchemy import text

    timeout = float(os.environ.get("MLFLOW_DB_WAIT_TIMEOUT_S", "120"))
    engine = sqlalchemy.create_engine(uri, pool_pre_ping=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            break
        except sqlalchemy.exc.OperationalError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"mlflow-entrypoint: database {_redacted(uri)} not reachable after "
                    f"{timeout:.0f} s: {exc.orig}"
                ) from exc
            _log(f"waiting for database {_redacted(uri)} ...")
            time.sleep(2)

    if os.environ.get("MLFLOW_DB_UPGRADE", "true").lower() in {"0", "false", "no"}:
        _log("MLFLOW_DB_UPGRADE=false: schema migration skipped")
        return

    from mlflow.db import upgrade

    is_postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        if is_postgres:
            _log("waiting for the migration lock")
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        try:
            _log(f"bringing {_redacted(uri)} to the current MLflow schema")
            upgrade.callback(uri)  # type: ignore[misc]
            _log("database schema is current")
        finally:
            if is_postgres:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _ADVISORY_LOCK_ID})
    engine.dispose()


def _ensure_postgres_database(uri: str) -> None:
    """Create the database of ``uri`` if the server has none of that name (PostgreSQL)."""
    import sqlalchemy
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    if not url.drivername.startswith("postgresql") or not url.database:
        return
    admin = sqlalchemy.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
        ).first()
        if not exists:
            _log(f"creating database {url.database!r} for the auth store")
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def _prepare_auth(backend_uri: str) -> None:
    """Auth store, admin password, Flask secret and config file of the basic-auth app."""
    import secrets
    import tempfile

    import sqlalchemy
    from sqlalchemy import text

    auth_uri = _with_driver(_from_env_or_file("MLFLOW_AUTH_DATABASE_URI"))
    if not auth_uri:
        raise SystemExit(
            "mlflow-entrypoint: --app-name basic-auth needs MLFLOW_AUTH_DATABASE_URI (or _FILE), "
            "e.g. postgresql://user:password@postgres:5432/mlflow_auth"
        )
    password = _from_env_or_file("MLFLOW_AUTH_ADMIN_PASSWORD")
    if password:
        os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = password
    os.environ.pop("MLFLOW_AUTH_ADMIN_PASSWORD_FILE", None)
    secret = _from_env_or_file("MLFLOW_FLASK_SERVER_SECRET_KEY") or secrets.token_hex(32)
    os.environ["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secret
    os.environ.pop("MLFLOW_FLASK_SERVER_SECRET_KEY_FILE", None)
    _ensure_postgres_database(auth_uri)
    from mlflow.server.auth.db.utils import migrate_if_needed

    engine = sqlalchemy.create_engine(auth_uri, pool_pre_ping=True)
    is_postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        if is_postgres:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        try:
            migrate_if_needed(engine, "head")
            _log(f"auth store {_redacted(auth_uri)} is current")
        finally:
            if is_postgres:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _ADVISORY_LOCK_ID})
    engine.dispose()
    folder = tempfile.mkdtemp(prefix="mlflow-auth-")  # 0700, owned by the server's user
    path = os.path.join(folder, "basic_auth.ini")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {auth_uri.replace('%', '%%')}\n"
            f"admin_username = {os.environ.get('MLFLOW_AUTH_ADMIN_USERNAME', 'admin')}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = path
    os.environ.pop("MLFLOW_AUTH_DATABASE_URI", None)
    os.environ.pop("MLFLOW_AUTH_DATABASE_URI_FILE", None)
def _option(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``argv`` (last one wins)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg[len(name) + 1 :]
    return value


def check_artifact_store(destination: str) -> None:
    """Write, list, read and delete a probe object under ``destination``; SystemExit(3) on failure.

    Uses the artifact repository MLflow itself will use for the URI, so the check covers the
    client library (e.g. boto3 for ``s3://``), the endpoint, the bucket and the credentials.
    """
    import socket
    import tempfile
    import uuid

    probe_dir = f".mlflow-startup-check/{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    uri = destination.rstrip("/") + "/" + probe_dir
    payload = b"mlflow artifact store check\n"
    try:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        repo = get_artifact_repository(uri)
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, "probe.txt")
            with open(local, "wb") as handle:
                handle.write(payload)
            repo.log_artifact(local)
            listed = [info.path for info in repo.list_artifacts()]
            if not any(path.endswith("probe.txt") for path in listed):
                raise RuntimeError(f"the probe object is not listed after the write ({listed})")
            os.makedirs(os.path.join(tmp, "back"))
            back = repo.download_artifacts("probe.txt", dst_path=os.path.join(tmp, "back"))
            with open(back, "rb") as handle:
                if handle.read() != payload:
                    raise RuntimeError("the probe object read back differs from what was written")
        # A few stores cannot delete; the probe is tiny.
        with contextlib.suppress(NotImplementedError):
            repo.delete_artifacts()
    except Exception as exc:  # any failure means the store is unusable
        _log(f"artifact store {destination!r} is not usable: {type(exc).__name__}: {exc}")
        _log(
            "fix the destination, its credentials (workload identity or env), the endpoint "
            "(MLFLOW_S3_ENDPOINT_URL for S3-compatible stores) or the network policy egress; "
            "MLFLOW_ARTIFACTS_CHECK=false skips this check"
        )
        raise SystemExit(3) from exc
    _log(f"artifact store {destination!r} is usable (write, list, read, delete)")


def main(argv: list[str]) -> None:
    """Run ``argv``; for ``mlflow server`` prepare the backend store first."""
    if not argv:
        argv = ["mlflow", "server"]
    if argv[:2] == ["mlflow", "server"]:
        uri = _with_driver(_backend_store_uri())
        os.environ["MLFLOW_BACKEND_STORE_URI"] = uri
        os.environ.pop("MLFLOW_BACKEND_STORE_URI_FILE", None)
        _prepare_database(uri)
        if _option(argv, "--app-name") == "basic-auth":
            _prepare_auth(uri)
        destination = _option(argv, "--artifacts-destination") or "./mlartifacts"
        check = os.environ.get("MLFLOW_ARTIFACTS_CHECK", "true").lower() not in {"0", "false", "no"}
        if "--serve-artifacts" in argv and check:
            check_artifact_store(destination)
        _log("starting " + " ".join(argv))
    # exec, not a child: the server becomes PID 1's process and gets the container's signals.
    os.execvp(argv[0], argv)  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])
