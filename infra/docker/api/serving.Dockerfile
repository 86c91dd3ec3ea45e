# Serving image of the credit-scoring package: the scoring API only (`credit-scoring serve`), with
# MLflow's client side (mlflow-skinny), LightGBM, numpy/pandas/scikit-learn and the web stack -
# no training stack (SHAP/numba, optbinning/ortools, full MLflow server, matplotlib, pyarrow).
# The trainer, the Airflow pods and the compose `trainer` keep the full image
# (infra/docker/api/Dockerfile). Figures (size, cold start, RSS): benchmarks/README.md.
# Build from the repository root: docker build -f infra/docker/api/serving.Dockerfile .
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS deps
ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# No pip in the venv (serving logs no model) and no blanket bytecode compilation: see below.
RUN pip install "uv==${UV_VERSION}" && uv venv --python /usr/local/bin/python3 /opt/venv
COPY infra/docker/api/serving-requirements.lock /tmp/requirements.lock
RUN uv pip install --python /opt/venv/bin/python -r /tmp/requirements.lock \
    && cd /opt/venv/lib/python3.11/site-packages \
    && find pandas numpy scipy sklearn -type d -name tests -prune -exec rm -rf {} +

FROM deps AS build
COPY pyproject.toml README.md /build/
COPY src /build/src
RUN uv build --wheel --out-dir /dist /build \
    && uv pip install --python /opt/venv/bin/python --no-deps /dist/*.whl
# LightGBM needs its OpenMP runtime to import (this stage only; the runtime installs its own).
# binutils: strip the extension modules down to their dynamic symbols (--strip-unneeded, as
# Debian does for shared libraries; uvloop alone ships ~12 MB of debug symbols). The vendored
# libraries under *.libs are left alone: auditwheel patched them with patchelf, and
# strip can break such files. C/Cython sources, headers and type stubs are not needed to run.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 binutils \
    && cd /opt/venv/lib/python3.11/site-packages \
    && find . -path './*.libs' -prune -o -name '*.so' -type f -print \
       | xargs strip --strip-unneeded \
    && find . \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' -o -name '*.c' -o -name '*.h' \
       -o -name '*.cpp' \) -type f -delete
# Bytecode only for the modules the API imports (the root filesystem is read-only at run time,
# so nothing could be cached later): importing them once writes their .pyc.
COPY infra/docker/api/serving-warm-imports.txt /tmp/warm-imports.txt
RUN /opt/venv/bin/python -W ignore -c "\
import importlib; \
names = [l.strip() for l in open('/tmp/warm-imports.txt') if l.strip() and not l.startswith('#')]; \
[importlib.import_module(n) for n in names]; print(len(names), 'modules compiled')"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="credit-scoring-serving" \
      org.opencontainers.image.description="Credit scoring API, serving only (mlflow-skinny, LightGBM)" \
      org.opencontainers.image.source="https://github.com/credit-scoring/credit-scoring" \
      org.opencontainers.image.licenses="Apache-2.0"
# libgomp1: LightGBM's OpenMP runtime, absent from the slim base.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/app --create-home \
       --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/credit-scoring \
    && chown 10001:10001 /var/lib/credit-scoring
# The package is in the venv without its (training) dependencies: serving imports only what the
# serving lock holds.
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/app \
    CREDIT_SCORING_HOME=/var/lib/credit-scoring
USER 10001:10001
WORKDIR /home/app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["credit-scoring", "serve", "--host", "0.0.0.0", "--port", "8000"]
