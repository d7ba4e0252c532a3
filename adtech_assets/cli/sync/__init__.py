"""``adtech sync``: the plan without Dagster, the runs with it, and the report."""
