"""``adtech sync``'s summary names what made a step fail, in one line: the error under Dagster's
wrapper ("Exceeded max_retries of 2" alone names no cause), and the console shows no Dagster
log of it (its stack stays in the run's log in the UI)."""

from __future__ import annotations

from dagster import DagsterInstance, RetryPolicy, asset, materialize

from adtech_assets.cli.sync.report import SyncReport
from adtech_assets.cli.sync.runs import QUIET, _record


@asset(retry_policy=RetryPolicy(max_retries=1))
def flaky_source():
    raise ConnectionError("server closed the connection unexpectedly")


@asset
def broken_arithmetic():
    return 1 / 0


def test_a_failed_step_is_summarized_by_its_cause(capfd):
    instance = DagsterInstance.ephemeral()
    report = SyncReport()
    for failing in (flaky_source, broken_arithmetic):
        _record(report, materialize([failing], instance=instance, raise_on_error=False, run_config=QUIET), instance)
    assert report.errors == [
        "flaky_source: Exceeded max_retries of 1: ConnectionError: server closed the connection unexpectedly",
        'broken_arithmetic: Error occurred while executing op "broken_arithmetic": ZeroDivisionError: division by zero',
    ]
    out, err = capfd.readouterr()
    assert "STEP_FAILURE" not in out + err and "Stack Trace" not in out + err, (out + err)[-2000:]
