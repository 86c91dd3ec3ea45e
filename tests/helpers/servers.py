"""Real servers for tests: free ports, waiting for HTTP, stopping processes, an ``mlflow server``
on SQLite or PostgreSQL, and fresh PostgreSQL databases.

Imported by the conftest files (``pythonpath = ["tests"]`` in the pytest configuration).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from credit_scoring.config import Settings

VENV_BIN = Path(sys.executable).parent
#: Lines of the reliability suite's table, printed in pytest's terminal summary (conftest).
RELIABILITY_TABLE = pytest.StashKey[list[str]]()

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``url`` answers (any status), or fail with the process's exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM (graceful), then SIGKILL if needed; return the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


@dataclass
class MlflowServer:
    url: str
    root: Path
    proc: subprocess.Popen[bytes]

    def settings(self, **overrides: Any) -> Settings:
        return Settings(tracking_uri=self.url, home=self.root / "client-home", **overrides)


def start_mlflow(
    root: Path,
    port: int | None = None,
    backend_store_uri: str | None = None,
    auth_admin_password: str | None = None,
) -> MlflowServer:
    """An ``mlflow server`` on a SQLite store under ``root`` (or ``backend_store_uri``), serving
    artifacts through its proxy (webhooks to 127.0.0.1 allowed). With ``auth_admin_password``:
    MLflow's basic-auth app (user ``admin``, ``default_permission = READ``)."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    auth_env: dict[str, str] = {}
    auth_args: list[str] = []
    if auth_admin_password is not None:
        ini = root / "basic_auth.ini"
        ini.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{root / 'basic_auth.db'}\nadmin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        auth_env = {
            "MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_AUTH_ADMIN_PASSWORD": auth_admin_password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-secret-key",
        }
        auth_args = ["--app-name", "basic-auth"]
    env = {
        **os.environ,
        **auth_env,
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        # The job runner starts ~7 huey worker processes per server; tests need none of them.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        # The server caches the webhook list per event (60 s by default).
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    }
    log = (root / f"mlflow-{port}.log").open("ab")
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            backend_store_uri or f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            *auth_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
    server = MlflowServer(f"http://127.0.0.1:{port}", root, proc)
    try:
        wait_http(f"{server.url}/health", timeout=240, proc=proc)
    except BaseException:
        stop(proc)  # a server that never answered is not left running behind the failed fixture
        raise
    return server


def postgres_available() -> bool:
    """True when the PostgreSQL server at 127.0.0.1:5432 accepts connections."""
    try:
        import psycopg2  # type: ignore[import-untyped]

        psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3).close()
        return True
    except Exception:
        return False


@contextmanager
def fresh_database(prefix: str = "cs_test") -> Iterator[str]:
    """Create a uniquely named PostgreSQL database, yield its URL, drop it afterwards."""
    import psycopg2

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def hung_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers (a hung database);
    yields its port."""
    import socket
    import threading

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stopping.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stopping.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()
