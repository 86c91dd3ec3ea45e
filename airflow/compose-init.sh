#!/bin/sh
# One-shot init of the compose `airflow` profile: create Airflow's metadata database in the
# stack's PostgreSQL server if it does not exist yet (works on an existing volume too), then
# migrate it. Idempotent: safe on every `docker compose --profile airflow up`.
set -eu
python - <<'PY'
import os

import psycopg2

db = os.environ.get("AIRFLOW_DB_NAME", "airflow")
conn = psycopg2.connect(
    host=os.environ.get("POSTGRES_HOST", "postgres"),
    port=int(os.environ.get("POSTGRES_PORT", "5432")),
    user=os.environ["POSTGRES_USER"],
    password=os.environ["POSTGRES_PASSWORD"],
    dbname=os.environ.get("POSTGRES_ADMIN_DB", "postgres"),
)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
    if cur.fetchone() is None:
        cur.execute(f'CREATE DATABASE "{db}"')
        print(f"created database {db}")
    else:
        print(f"database {db} exists")
conn.close()
PY
airflow db migrate
