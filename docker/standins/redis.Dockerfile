# A stand-in for the official redis:7 image, for machines that reach no image registry (this
# project's CI): Debian bookworm's Redis 7.0 with the official image's layout (user `redis`, data
# in /data, port 6379, `redis-server` and `redis-cli` on the PATH). Production runs redis:7.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o redis -g redis -m 0750 /data
WORKDIR /data
VOLUME /data
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
