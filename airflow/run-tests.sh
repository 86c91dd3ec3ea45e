#!/usr/bin/env bash
# Run the Airflow tests (marker `airflow`, tests/airflow/) in the Airflow virtual environment:
# creates/updates it from airflow/requirements.lock (airflow/setup-venv.sh), then runs pytest with
# the repository's pytest configuration. Needs: Python 3.11, uv (installed with pip if missing),
# PyPI access for the first venv build. Extra pytest arguments are passed through.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(bash "$REPO/airflow/setup-venv.sh" | tail -n 1)"
cd "$REPO"
# Airflow tests own their MLflow server and Airflow home; keep the caller's settings out.
unset MLFLOW_TRACKING_URI AIRFLOW_HOME CREDIT_SCORING_HOME CREDIT_SCORING_DATABASE_URL
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -m airflow tests/airflow "$@"
