"""Dagster-instance plumbing: run workers and their liveness, the event log storage, gc tuning."""
