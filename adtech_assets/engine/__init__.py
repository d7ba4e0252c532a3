"""What a pass must reload and the loads that do it. Never imports Dagster (test_layers.py)."""
