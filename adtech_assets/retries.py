"""Retry policy for steps that talk to the databases: transient network or lock trouble."""

from dagster import Backoff, Jitter, RetryPolicy

IO_RETRY = RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
