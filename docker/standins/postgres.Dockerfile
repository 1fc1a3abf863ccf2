# A stand-in for the official postgres:16 image, for machines that reach no image registry (this
# project's CI): PostgreSQL 16 from PyPI's pgserver wheel (the context's `pginstall/`, copied by
# scripts/build-images) on the local Debian base, with the official image's interface: the
# variables POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB, data in /var/lib/postgresql/data,
# port 5432, `pg_isready`. Nowhere else is it used: production runs the official image.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY pginstall/ /usr/lib/postgresql/16/
COPY pgserver.libs/ /usr/lib/pgserver.libs/
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN useradd --uid 999 --user-group --home-dir /var/lib/postgresql --shell /bin/sh postgres \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 2775 /var/run/postgresql \
 && chmod 0755 /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/16/bin:$PATH PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
