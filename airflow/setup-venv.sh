#!/usr/bin/env bash
# Create or update the Airflow virtual environment (default: <repo>/.venv-airflow) from
# airflow/requirements.lock, then install this package into it without touching the pins.
# Airflow lives in its own venv because its pins (fastapi, ...) differ from the API's.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AIRFLOW_VENV:-$REPO/.venv-airflow}"
LOCK="$REPO/airflow/requirements.lock"

if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi
if [ ! -x "$VENV/bin/python" ]; then
    uv venv --quiet --python 3.11 "$VENV"
fi
# Skip the sync when the venv already matches this lock (a stamp holds the lock's hash).
STAMP="$VENV/.lock-sha256"
WANT="$(sha256sum "$LOCK" "$REPO/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
    uv pip sync --quiet --python "$VENV/bin/python" "$LOCK"
    uv pip install --quiet --python "$VENV/bin/python" --no-deps -e "$REPO"
    echo "$WANT" > "$STAMP"
fi
echo "$VENV"
