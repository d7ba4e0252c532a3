"""Assets by layer: Postgres sources -> dims and daily facts -> daily rollup -> KPI views."""
