# syntax=docker/dockerfile:1
# One image for every adtech service of the compose stack: the code location (gRPC), the
# webserver, the daemon and the one-shot `adtech` commands. Dependencies come from uv.lock only.
#
# Two stages: `build` installs the dependencies and the project (as a wheel, not editable: the
# wheel carries its SQL, clickhouse_ddl/ and seeds/, inside the package) into /app/.venv; the
# runtime image gets that venv only, no source tree.
FROM python:3.11-slim-bookworm AS build

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /src

# Dependencies first, so that code changes rebuild only the last layers.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-install-project

COPY README.md ./
COPY adtech_assets ./adtech_assets
COPY clickhouse_ddl ./clickhouse_ddl
COPY seeds ./seeds
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-editable


FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 adtech \
    && useradd --system --uid 10001 --gid adtech --home-dir /app --no-create-home adtech

# Same path and same base image as in `build`: the venv's scripts and interpreter link stay valid.
COPY --from=build /app/.venv /app/.venv
WORKDIR /app

ENV PATH=/app/.venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home
COPY deploy/dagster.yaml deploy/workspace.yaml /opt/dagster/dagster_home/
# storage/ holds compute logs; compose mounts one volume there for the code location, the
# webserver and the daemon. Created here so the volume starts owned by the non-root user.
RUN mkdir -p /opt/dagster/dagster_home/storage \
    && chown -R adtech:adtech /opt/dagster/dagster_home

USER adtech

EXPOSE 4000 3000
CMD ["dagster", "code-server", "start", "-m", "adtech_assets.definitions", "-h", "0.0.0.0", "-p", "4000"]
