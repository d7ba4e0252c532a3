"""The ``adtech`` command, on top of the engine and the Dagster definitions."""
