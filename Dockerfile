# NIJA: slim image, non-root user, `python bot.py` (paper mode unless credentials AND LIVE_TRADING=true).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NIJA_STATE_DIR=/app/state

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

RUN useradd --create-home --uid 10001 nija
COPY --chown=nija:nija bot.py ./
COPY --chown=nija:nija bot ./bot
COPY --chown=nija:nija config ./config
COPY --chown=nija:nija scripts ./scripts
RUN mkdir -p /app/state && chown nija:nija /app/state

USER nija
VOLUME ["/app/state"]
# The dashboard, REST API and /metrics listen on WEB_HOST:WEB_PORT (127.0.0.1:8080 by default: enough for the
# health check below). To reach them from outside the container set WEB_HOST=0.0.0.0 AND a WEB_TOKEN (the bot
# refuses a non-loopback address without one) and publish the port: docker run -p 8080:8080 ...
EXPOSE 8080
# Healthy when every account thread that should run is alive and not stuck in one pass (GET /healthz).
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 CMD ["python", "-m", "bot.web.healthcheck"]
CMD ["python", "bot.py"]
