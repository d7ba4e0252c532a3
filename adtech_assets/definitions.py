"""The code location (``[tool.dagster]`` / ``[tool.dg]`` in pyproject.toml, workspace.yaml).

Resources come from the environment through ``EnvVar`` (``ADTECH_PG_URL``,
``ADTECH_CLICKHOUSE_URL``); unset, they mean the embedded Postgres and the embedded
ClickHouse (chDB) under ``ADTECH_DATA_DIR`` (default ``.data/``).
"""

from adtech_assets.defs.location import build_definitions
from adtech_assets.runtime.gc_tuning import collect_less, freeze_imports

defs = build_definitions()

# The objects made so far (Dagster's modules, these definitions) live as long as the process.
collect_less()
freeze_imports()
