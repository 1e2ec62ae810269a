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
CMD ["python", "bot.py"]
