# Airflow 3 with the credit-scoring package and its DAGs (compose profile `airflow`).
# Build from the repository root: docker build -f infra/docker/airflow.Dockerfile .
#
# Airflow and the package are installed from airflow/requirements.lock, resolved with uv from
# apache-airflow==3.3.2 + this package's dependencies (Airflow's published constraints files
# pin older pandas/numpy/SQLAlchemy than the package needs; see docs/deployment.md, "Airflow").
ARG PYTHON_IMAGE=python:3.11-slim

# ---- build stage ------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
RUN pip install "uv==${UV_VERSION}" && uv venv --python /usr/local/bin/python3 /opt/airflow-venv
COPY airflow/requirements.lock /tmp/requirements.lock
# The test runner in the lock is for CI only.
RUN grep -vE '^(pytest|pytest-timeout|iniconfig)==' /tmp/requirements.lock > /tmp/runtime.lock \
    && uv pip install --python /opt/airflow-venv/bin/python -r /tmp/runtime.lock \
    && cd /opt/airflow-venv/lib/python3.11/site-packages \
    && find pandas numpy scipy pyarrow matplotlib sklearn -type d -name tests -prune \
       -exec rm -rf {} +
COPY pyproject.toml README.md /build/
COPY src /build/src
RUN uv pip install --python /opt/airflow-venv/bin/python --no-deps /build

# ---- runtime stage ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="credit-scoring-airflow" \
      org.opencontainers.image.description="Airflow 3 with the credit-scoring DAGs" \
      org.opencontainers.image.licenses="Apache-2.0"
# libgomp1: LightGBM's OpenMP runtime; kubectl is not included (optional rollout restarts).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 50000 airflow \
    && useradd --system --uid 50000 --gid 50000 --home-dir /opt/airflow --create-home \
       --shell /usr/sbin/nologin airflow \
    && mkdir -p /opt/airflow/logs /var/lib/credit-scoring \
    && chown -R 50000:50000 /opt/airflow /var/lib/credit-scoring
COPY --from=builder /opt/airflow-venv /opt/airflow-venv
COPY --chown=50000:50000 airflow/dags /opt/airflow/dags
COPY airflow/compose-init.sh /usr/local/bin/airflow-compose-init
ENV PATH=/opt/airflow-venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__EXECUTOR=LocalExecutor \
    MPLCONFIGDIR=/tmp/matplotlib \
    CREDIT_SCORING_HOME=/var/lib/credit-scoring
USER 50000:50000
WORKDIR /opt/airflow
EXPOSE 8080
CMD ["airflow", "version"]
