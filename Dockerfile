# mailgraph in a container (docs/operations.md "Container"):
#   docker build -t mailgraph .
#   docker run -p 5000:5000 -v mailgraph-data:/data mailgraph
# Two stages: the wheel is built with the build tools, the runtime image gets the wheel only.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAILGRAPH_LOG_FORMAT=json
# A system user without a login shell owns the data dir; the server never runs as root.
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin mailgraph \
    && mkdir -p /data && chown mailgraph:mailgraph /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER mailgraph
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
