#!/bin/sh
# One-shot trainer of docker-compose.yml: train a new version, run the validation gate on it
# (alias `staging` on pass) and promote it to `production`. Any failing step stops the chain
# with its exit code, so a version that fails the gate is never promoted.
# Extra arguments go to `credit-scoring train` (e.g. --data FILE --target COL --schema FILE).
set -eu
: "${MLFLOW_TRACKING_URI:?MLFLOW_TRACKING_URI must point at the MLflow server}"
echo "trainer: training against ${MLFLOW_TRACKING_URI}"
credit-scoring train "$@"
echo "trainer: validating the latest version"
credit-scoring validate
echo "trainer: promoting the staging version to production"
credit-scoring promote --reason "${CREDIT_SCORING_PROMOTION_REASON:-docker compose trainer}" \
  --by "${CREDIT_SCORING_PROMOTED_BY:-compose-trainer}"
credit-scoring models
