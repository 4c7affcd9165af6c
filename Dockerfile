# ai-detector images. One file, two targets, so both carry the same wheel and model:
#
#   docker build -t ai-detector-serve:v1 .             # TorchServe service (default target)
#   docker build --target batch -t ai-detector:v1 .    # batch CLI: /app/input -> /app/output
#
# docs/docker.md has the run commands; hadolint checks this file in the tests.
# The stages need BuildKit (the default builder since Docker 23) for RUN --mount.

# Debian bookworm: the release that still ships openjdk-17. For byte-for-byte
# rebuilds pin a digest: --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the wheel, the model directory and the TorchServe archive (.mar) ------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
# .dockerignore lets in only the sources, params.yaml and models/model.
COPY . .
# ai_detector.pipeline.package (through ai_detector.serving.archive) reads the handler and
# its config as package data of the installed package. The archiver and PyYAML are build
# tools here; neither image needs them.
RUN pip install --no-cache-dir . torch-model-archiver==0.12.0 pyyaml==6.0.3 \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && python -m ai_detector.pipeline.package --out /model_store \
    && python -c "import shutil; from ai_detector.inference.predictor import resolve_model_dir; \
shutil.copytree(resolve_model_dir(), '/model')"

# --- batch: `docker run ai-detector:v1 --input_path /app/input --output_path ...` ----
FROM ${PYTHON_IMAGE} AS batch
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AI_DETECTOR_MODEL_DIR=/opt/ai-detector/model
# The wheel is mounted, not copied, so it leaves no layer behind. The cli extra is tqdm;
# --build-arg BATCH_EXTRAS=cli,ray makes the image deploy/rayjob.yaml runs.
ARG BATCH_EXTRAS=cli
RUN --mount=type=bind,from=builder,source=/wheels,target=/tmp/wheels \
    pip install --no-cache-dir "$(find /tmp/wheels -name 'ai_detector-*.whl')[${BATCH_EXTRAS}]"
COPY --from=builder /model /opt/ai-detector/model
RUN useradd --no-log-init --create-home --uid 10001 --user-group --shell /usr/sbin/nologin app \
    && mkdir -p /app/input /app/output \
    && chown app:app /app/output
WORKDIR /app
# Numeric so Kubernetes can check runAsNonRoot; on a bind mount pass --user "$(id -u)".
USER 10001:10001
ENTRYPOINT ["ai-detector", "predict"]
CMD ["--input_path", "/app/input", "--output_path", "/app/output/predictions.csv"]

# --- serve (default): TorchServe with the archive baked in ---------------------------
FROM ${PYTHON_IMAGE} AS serve
ARG TORCH_VERSION=2.14.1
# The one config.properties (loopback, token auth off) with what a container changes, as
# TS_* variables TorchServe reads (enable_envvars_config=true): inference and metrics on
# 0.0.0.0, since a published port cannot reach the container's 127.0.0.1; management stays
# on loopback (`docker exec` reaches it). Anything but loopback is bound, so token auth is
# on: TorchServe writes random keys into key_file.json in its working directory at every
# start (0.12.0 cannot take a key from outside); they last a year instead of 60 minutes,
# so clients given the inference key keep working until the container restarts.
# DL3064 takes "TOKEN" in a name for a secret; these are switches, not keys.
# hadolint ignore=DL3064
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOG_LOCATION=/home/model-server/logs \
    METRICS_LOCATION=/home/model-server/logs \
    TS_INFERENCE_ADDRESS=http://0.0.0.0:8080 \
    TS_METRICS_ADDRESS=http://0.0.0.0:8082 \
    TS_DISABLE_TOKEN_AUTHORIZATION=false \
    TS_TOKEN_EXPIRATION_TIME_MIN=525600
# TorchServe's frontend is Java; tini forwards `docker stop` to Java and Python alike.
# Slim images drop /usr/share/man, where the JRE's postinst links its man pages.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        openjdk-17-jre-headless=17.0.* \
        tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*
# TorchServe workers import torch, but inference runs in onnxruntime: the CPU build
# (same version as the serve extra pins) is a fraction of the default CUDA one.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
    torch==${TORCH_VERSION}
RUN --mount=type=bind,from=builder,source=/wheels,target=/tmp/wheels \
    pip install --no-cache-dir "$(find /tmp/wheels -name 'ai_detector-*.whl')[serve]"
RUN useradd --no-log-init --create-home --home-dir /home/model-server --uid 10001 \
        --user-group --shell /usr/sbin/nologin model-server
WORKDIR /home/model-server
COPY docker/healthcheck.py /usr/local/bin/healthcheck.py
COPY --chown=model-server:model-server config.properties config.properties
COPY --chown=model-server:model-server src/ai_detector/serving/log4j2.xml log4j2.xml
COPY --from=builder --chown=model-server:model-server /model_store model_store
USER 10001:10001
# 8080 inference (/ping, /predictions/ai-detector), 8082 metrics. The management API
# (8081) listens on the container's loopback only: reach it with `docker exec`.
EXPOSE 8080 8082
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "/usr/local/bin/healthcheck.py"]
# -g: signals go to the whole process group, so the JVM shuts down cleanly too.
ENTRYPOINT ["tini", "-g", "--"]
CMD ["torchserve", "--start", "--foreground", "--ncs", \
     "--ts-config", "config.properties", "--model-store", "model_store", \
     "--log-config", "log4j2.xml"]
