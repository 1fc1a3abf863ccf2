# Every service's production image, one target each (`--target api`, `--target scheduler`, ...).
# Build it with scripts/build-images, which prepares the context: `wheels/` (every package of the
# workspace and every dependency at the lock file's versions, so nothing here reaches a package
# index), `worker-wheels/` (the worker's subset, for worker-manager's worker images), `templates/`
# (scaffolder's) and `certs/` (extra CA certificates, often empty).
#
# BASE_IMAGE is Debian bookworm: the official slim image by default, or a root filesystem imported
# into the engine where no registry is reachable (scripts/ensure-podman). The services run on
# Debian's Python 3.11 as the unprivileged user `codegen`; no secret is ever baked in: settings
# come from the environment at start (compose.yaml, .env).
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 TZ=UTC
COPY certs/ /usr/local/share/ca-certificates/codegen/
# git: scaffolder pushes, the scheduler and infra-service read the forge; openssh-client: Ansible
# and health checks reach servers; tini reaps what Ansible, ssh-agent and git leave behind.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates git openssh-client tini \
 && update-ca-certificates \
 && printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > /etc/pip.conf \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10000 --user-group --create-home --home-dir /home/codegen --shell /usr/sbin/nologin codegen \
 && install -d -o codegen -g codegen -m 0750 /data
ENV PATH=/app/bin:$PATH ENVIRONMENT=production LOG_FORMAT=json PYTHONUNBUFFERED=1 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt HEALTH_FILE=/tmp/codegen-healthy
COPY service-entrypoint.sh /usr/local/bin/codegen-entrypoint
WORKDIR /home/codegen
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/codegen-entrypoint"]

# One virtual environment per service, installed offline from the wheels.
FROM runtime AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY wheels/ /wheels/

FROM build AS api-venv
RUN python3 -m venv /app && /app/bin/pip install -q --no-cache-dir --no-index --find-links /wheels api
FROM runtime AS api
COPY --from=api-venv /app /app
USER codegen
ENV API_HOST=0.0.0.0 API_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
# Migrations run once per release (compose's `migrate`), never on a replica's start.
CMD ["api"]

FROM build AS langgraph-venv
RUN python3 -m venv /app && /app/bin/pip install -q --no-cache-dir --no-index --find-links /wheels langgraph-service
FROM runtime AS langgraph
COPY --from=langgraph-venv /app /app
USER codegen
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["codegen-health"]
CMD ["langgraph-service"]

FROM build AS scaffolder-venv
RUN python3 -m venv /app && /app/bin/pip install -q --no-cache-dir --no-index --find-links /wheels scaffolder
FROM runtime AS scaffolder
COPY --from=scaffolder-venv /app /app
COPY templates/ /opt/codegen/templates/
USER codegen
ENV TEMPLATE_DIR=/opt/codegen/templates/service-template DATA_DIR=/data/scaffolder
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["codegen-health"]
CMD ["scaffolder"]

FROM build AS worker-manager-venv
RUN python3 -m venv /app && /app/bin/pip install -q --no-cache-dir --no-index --find-links /wheels worker-manager
FROM runtime AS worker-manager
COPY --from=worker-manager-venv /app /app
# What worker images are built from: the wrapper's wheels, and this image's extra CAs.
COPY worker-wheels/ /opt/codegen/worker-wheels/
USER codegen
ENV BACKEND=docker WORKER_WHEELS_DIR=/opt/codegen/worker-wheels \
    WORKER_CA_CERTS_DIR=/usr/local/share/ca-certificates/codegen DATA_DIR=/data/workers
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["codegen-health"]
CMD ["worker-manager"]

FROM build AS infra-service-venv
RUN python3 -m venv /app && /app/bin/pip install -q --no-cache-dir --no-index --find-links /wheels infra-service
FROM runtime AS infra-service
COPY --from=infra-service-venv /app /app
USER codegen
# known_hosts (trust on first use) lives under DATA_DIR: keep it on a volume.
ENV DATA_DIR=/data/infra
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["codegen-health"]
CMD ["infra-service"]

FROM build AS telegram-bot-venv
RUN python3 -m venv /app && /app/bin/pip install -q --no-cache-dir --no-index --find-links /wheels telegram-bot
FROM runtime AS telegram-bot
COPY --from=telegram-bot-venv /app /app
USER codegen
# Webhook mode listens here (WEBHOOK_HOST=0.0.0.0 behind an HTTPS proxy); polling needs no port.
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["codegen-health"]
CMD ["telegram-bot"]

FROM build AS scheduler-venv
RUN python3 -m venv /app && /app/bin/pip install -q --no-cache-dir --no-index --find-links /wheels scheduler
FROM runtime AS scheduler
COPY --from=scheduler-venv /app /app
USER codegen
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["codegen-health"]
CMD ["scheduler"]
