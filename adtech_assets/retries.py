"""Retry policy for steps that talk to the databases (every asset and every check): transient
network or lock trouble, such as Postgres restarting under a sync. What cannot succeed on a
retry (an ``AdtechError``: a bad setting, a source column gone, a value that does not convert,
a reversed partition range) is a ``Failure(allow_retries=False)`` and bypasses it."""

from dagster import Backoff, Jitter, RetryPolicy

IO_RETRY = RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
