"""adtech-assets: PostgreSQL -> ClickHouse ad-tech KPIs as Dagster software-defined assets.

``engine/`` and ``db/`` never import Dagster (a pass with nothing to do runs without it);
``defs/`` holds the Dagster declarations; ``cli/`` the ``adtech`` command on top of both.
"""
