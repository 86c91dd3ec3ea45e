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
* Any other command (``mlflow db upgrade ...``, ``bash``) is run as given.
"""

from __future__ import annotations

import os
import sys
import time

# Arbitrary constant shared by every replica: the id of the migration advisory lock.
_ADVISORY_LOCK_ID = 0x4D4C464C  # "MLFL"


def _log(message: str) -> None:
    print(f"mlflow-entrypoint: {message}", file=sys.stderr, flush=True)


def _backend_store_uri() -> str:
    """The backend store URI from the environment or from the file named by ``..._FILE``."""
    uri = os.environ.get("MLFLOW_BACKEND_STORE_URI", "").strip()
    path = os.environ.get("MLFLOW_BACKEND_STORE_URI_FILE", "").strip()
    if not uri and path:
        try:
            with open(path, encoding="utf-8") as handle:
                uri = handle.read().strip()
        except OSError as exc:
            raise SystemExit(
                f"mlflow-entrypoint: MLFLOW_BACKEND_STORE_URI_FILE={path!r}: {exc}"
            ) from exc
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


def main(argv: list[str]) -> None:
    """Run ``argv``; for ``mlflow server`` prepare the backend store first."""
    if not argv:
        argv = ["mlflow", "server"]
    if argv[:2] == ["mlflow", "server"]:
        uri = _with_driver(_backend_store_uri())
        os.environ["MLFLOW_BACKEND_STORE_URI"] = uri
        os.environ.pop("MLFLOW_BACKEND_STORE_URI_FILE", None)
        _prepare_database(uri)
        _log("starting " + " ".join(argv))
    # exec, not a child: the server becomes PID 1's process and gets the container's signals.
    os.execvp(argv[0], argv)  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])
