# newsbot: `docker compose up -d` (see docker-compose.yml) or
#   docker build -t newsbot . && docker run --env-file .env -v "$PWD/config.yaml:/app/config.yaml:ro" newsbot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NEWSBOT_CONFIG=/app/config.yaml

RUN groupadd --system --gid 10001 newsbot \
 && useradd --system --uid 10001 --gid newsbot --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin newsbot

WORKDIR /app

# Dependencies and code first (changes to templates or the sample config do not reinstall).
# `pip install .` carries the bundled templates to <prefix>/share/newsbot/templates.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY templates ./templates
RUN pip install . && rm -rf /app/bot /app/build /app/templates

COPY examples ./examples
COPY config.yaml ./config.yaml
RUN mkdir -p /app/data /app/preview \
 && chown newsbot:newsbot /app /app/data /app/preview

USER newsbot

# The web server: subscribe/unsubscribe pages, /healthz and /metrics (config: web.host must
# be 0.0.0.0 inside a container; web.port defaults to 8080).
EXPOSE 8080
# Relative paths in config.yaml are taken from its folder (/app). With SQLite, keep the
# database on the volume: store: sqlite:///data/newsbot.db (compose uses PostgreSQL).
VOLUME ["/app/data"]

# SIGTERM (docker stop) is a clean shutdown; give it more than NEWSBOT_SHUTDOWN_GRACE (25 s):
# `docker stop -t 40`, or stop_grace_period in compose.
STOPSIGNAL SIGTERM
ENTRYPOINT ["newsbot"]
CMD ["run"]
