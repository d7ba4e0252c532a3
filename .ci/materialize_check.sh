#!/usr/bin/env bash
# Seed a fresh database, materialize the dims and a range of fact days through the Dagster CLI,
# as the README's CI block does, then fail if any asset check failed (dg launch runs them with
# the assets).
set -euo pipefail
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ADTECH_DATA_DIR="$work/data" DAGSTER_HOME="$work/dagster"
if [ -n "${ADTECH_TEST_PG_URL:-}" ]; then
    db="adtech_ci_$$"
    psql "$ADTECH_TEST_PG_URL" -qc "CREATE DATABASE $db"
    trap 'psql "$ADTECH_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; rm -rf "$work"' EXIT
    export ADTECH_PG_URL="${ADTECH_TEST_PG_URL%/*}/$db"
fi
uv sync --frozen --compile-bytecode --quiet
uv run adtech migrate
uv run adtech seed batch --impressions 50000 --days 5 --seed 0.5
first=$(date -u -d '5 days ago' +%F)
last=$(date -u +%F)
uv run dg launch --assets 'group:dims'
uv run dg launch --assets 'group:facts or group:rollups' --partition-range "$first...$last"
uv run python -m adtech_assets.cli.ci_report
