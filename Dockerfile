# syntax=docker/dockerfile:1
# Two images from the lock's pins (docs/containers.md):
#   server (default target): iris-ml serve, train, tracking-server, champion, monitor
#   ui:                      the Gradio page, talking to a scoring server through score_client
# Build: docker build -t iris-ml .   and   docker build --target ui -t iris-ml-ui .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build stages: a venv each, installed from requirements.lock (uv, no caches kept) ---------
FROM ${PYTHON_IMAGE} AS builder
# uv trusts the system's CA bundle too (a TLS-inspecting proxy's CA is only there).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    UV_NO_CACHE=1 UV_LINK_MODE=copy \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
RUN python -m pip install --quiet "uv==0.13.8"
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY iris_ml iris_ml
COPY score_client score_client
COPY ui ui
COPY deploy deploy

# The lock pins every package of every extra: as a constraint, it fixes each version here.
# Bytecode is compiled now (a read-only venv would compile every import at every start);
# the packages' own test suites (120 MB) are left out. The server keeps the lock's pip: MLflow
# records its version in each trained model's environment.
FROM builder AS server-venv
RUN python -m venv --without-pip /opt/venv \
 && uv pip install --quiet --python /opt/venv/bin/python --compile-bytecode \
      --constraint requirements.lock ".[train,postgres,auth]" pip \
 && find /opt/venv/lib/python3.11/site-packages -type d -name tests -prune -exec rm -rf {} +

FROM builder AS ui-venv
RUN python -m venv --without-pip /opt/venv \
 && uv pip install --quiet --python /opt/venv/bin/python --compile-bytecode \
      --constraint requirements.lock ".[ui]" \
 && find /opt/venv/lib/python3.11/site-packages -type d -name tests -prune -exec rm -rf {} +

# --- runtime stages: the venv, a non-root user, nothing else -------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/iris-ml/iris-ml
LABEL org.opencontainers.image.title="iris-ml" \
      org.opencontainers.image.description="Train, register, serve and consume an Iris classifier with MLflow" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin iris \
 && rm -rf /root/.cache
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    GIT_PYTHON_REFRESH=quiet

FROM runtime AS ui
COPY --from=ui-venv /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/iris
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]
CMD ["python", "-m", "iris_ml_ui", "--host", "0.0.0.0", "--port", "7860"]

FROM runtime AS server
COPY --from=server-venv /opt/venv /opt/venv
# The MLflow Project that `iris-ml train` runs (mlflow run /app --env-manager local).
COPY MLproject conda.yaml train.py requirements.lock /app/
# The tracking server's artifacts: a named volume mounted here starts owned by the user.
RUN mkdir -p /var/lib/mlflow/artifacts && chown iris:iris /var/lib/mlflow/artifacts
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# The health route of whichever server this runs: IRIS_HEALTH_URL (compose sets the tracking
# server's); a one-shot job has none to check.
ENV IRIS_HEALTH_URL=http://127.0.0.1:8080/health
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['IRIS_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["iris-ml"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--follow"]
