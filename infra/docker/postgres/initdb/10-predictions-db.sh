#!/bin/sh
# First start of the postgres volume only: create the database of the API's prediction log
# (the decision ledger: table decision_ledger, see docs/architecture.md) next to MLflow's backend store.
set -e
db="${PREDICTIONS_DB:-predictions}"
if [ "$db" != "${POSTGRES_DB:-postgres}" ]; then
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -c "CREATE DATABASE \"$db\""
fi
