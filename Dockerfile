# shopfloor-sync: one image for central, the edge agent and the simulator (`sfsync ...`).
# Build: docker build -t shopfloor-sync .   Run: docker run --rm shopfloor-sync --help
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY shared shared
COPY protocols protocols
COPY edge edge
COPY central central
COPY device_sim device_sim
COPY sfsync sfsync
RUN python -m venv /opt/sfsync && /opt/sfsync/bin/pip install --no-compile '.[all]'

FROM python:3.11-slim
LABEL org.opencontainers.image.title="shopfloor-sync" \
      org.opencontainers.image.description="PLC events to a governed, double-entry production cost ledger" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/sfsync/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/sfsync /opt/sfsync
# An unprivileged user; /var/lib/sfsync holds the edge outbox or the simulator's truth log (a volume).
RUN useradd --system --uid 10001 --home-dir /var/lib/sfsync --shell /usr/sbin/nologin sfsync \
 && mkdir -p /var/lib/sfsync /etc/sfsync && chown sfsync:sfsync /var/lib/sfsync
USER sfsync
WORKDIR /var/lib/sfsync
VOLUME ["/var/lib/sfsync"]
ENTRYPOINT ["sfsync", "--json-logs"]
CMD ["--help"]
