# mailgraph in a container (docs/operations.md "Container"):
#   docker build -t mailgraph .
#   docker run -p 5000:5000 -v mailgraph-data:/data mailgraph
# Two stages: the wheel is built with the build tools, the runtime image gets the wheel only.
# BASE is the base image of both stages; only the container test (scripts/container/check.sh) changes it,
# to a locally made Debian image where no registry is reachable.
ARG BASE=python:3.12-slim
FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAILGRAPH_LOG_FORMAT=json
# A system user without a login shell (uid and gid 10001) owns the data dir, 0700 like the server makes
# it; the server never runs as root. (useradd warns that 10001 is above SYS_UID_MAX: harmless.)
RUN groupadd --system --gid 10001 mailgraph \
    && useradd --system --uid 10001 --gid mailgraph --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin mailgraph \
    && install -d -m 0700 -o mailgraph -g mailgraph /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# Numeric, so that a runtime can tell it is not root without the image's /etc/passwd (Kubernetes'
# runAsNonRoot refuses a user name).
USER 10001:10001
WORKDIR /data
# The store (SQLite), signing keys, attachment blobs, TLS material and the admin token live here.
VOLUME ["/data"]
# HTTP (Graph API, token endpoints, /_mailgraph, UI at /ui/) and inbound SMTP (unprivileged port).
EXPOSE 5000 2525
# /health is liveness (docs/workbench.md); the slim image has no curl, so Python asks.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=2).status != 200)"]
ENTRYPOINT ["mailgraph"]
CMD ["serve", "--host", "0.0.0.0", "--port", "5000", "--data-dir", "/data", "--smtp-port", "2525"]
