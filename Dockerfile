# One image for every service of docker-compose.yml: the API, the scheduler and the one-shot migration.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir settlement api && touch settlement/__init__.py api/__init__.py \
    && pip install -e . \
    && rm -rf settlement api

# An editable install: the code finds its project files (alembic.ini, the dbt project) next to it in /app.
COPY . .
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /app settlement \
    && mkdir -p target logs \
    && chown -R settlement /app
USER settlement

EXPOSE 8000
CMD ["settlement", "serve", "--host", "0.0.0.0", "--port", "8000"]
