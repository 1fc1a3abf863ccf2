# The image every worker runs: worker-wrapper and the orchestrator CLI, plus capability and agent
# layers chosen by build arguments. worker-manager builds and tags it per agent type, sorted
# capabilities and extra CA certificates (<prefix>:<hash>); BASE_IMAGE lets tests build from a
# local root filesystem. It ships in worker-manager's package (worker_manager/docker/), and
# worker-manager makes the context: `certs/` and `wheels/`.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ARG CAPABILITY_PACKAGES=""
ARG AGENT_TYPE=scripted
ENV DEBIAN_FRONTEND=noninteractive

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv git ca-certificates \
      ${CAPABILITY_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*

# Extra certificate authorities (WORKER_CA_CERTS_DIR's *.crt; `certs/` is empty without any) join
# the system store, and every TLS client uses that store: pip (pip.conf: a tester's installs),
# Python (SSL_CERT_FILE) and Node (npm, the agents' CLIs). Behind a TLS-inspecting proxy, nothing
# in a worker verifies a certificate otherwise.
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates \
 && printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > /etc/pip.conf
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt

# The agent layer: the CLI the worker drives (the scripted agent ships with the wrapper).
RUN case "$AGENT_TYPE" in \
      claude) apt-get update && apt-get install -y --no-install-recommends nodejs npm \
              && npm install -g @anthropic-ai/claude-code@2.1.197 && rm -rf /var/lib/apt/lists/* ;; \
      codex)  apt-get update && apt-get install -y --no-install-recommends nodejs npm \
              && npm install -g @openai/codex@0.171.0 && rm -rf /var/lib/apt/lists/* ;; \
      *) ;; \
    esac

# The wrapper, the CLI and every dependency arrive as wheels in the context, at the versions of
# the lock file: the build needs no package index.
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/worker \
 && /opt/worker/bin/pip install --no-cache-dir --disable-pip-version-check --no-index \
      --find-links /tmp/wheels worker-wrapper \
 && rm -rf /tmp/wheels

# The agent's processes run as this unprivileged user (the docker backend's AGENT_USER), the
# wrapper as root: the agent cannot read the wrapper's environment (/proc/1/environ) nor its
# files. The uid is fixed, so a user's PO home volume is the same user's in every image.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /workspace/home \
      --shell /bin/sh agent

ENV PATH=/opt/worker/bin:$PATH WORKSPACE_DIR=/workspace
WORKDIR /workspace
ENTRYPOINT ["worker-wrapper"]
