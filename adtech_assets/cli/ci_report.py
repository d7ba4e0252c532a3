"""``python -m adtech_assets.cli.ci_report``: the verdict on every run recorded in ``$DAGSTER_HOME``.

Exit 0 when every run succeeded and every ERROR-severity check evaluated in them passed; 1
otherwise (or when there is no run to judge); 2 when ``DAGSTER_HOME`` is unset or not a
directory, so there is nothing to read. A failed WARN-severity check (``no_rows_outside_partitions``)
is printed as a warning and does not fail the report: the same rule as ``adtech sync``
(``SyncReport.failed_checks`` / ``warnings``). Prints each run and each check with its counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from adtech_assets import settings

COUNT_PREFIXES = ("postgres", "clickhouse", "mismatched", "rows_")


def _home() -> Path | None:
    raw = settings.dagster_home()
    if not raw:
        print("ci_report: error: DAGSTER_HOME is not set, so there are no runs to read: export "
              "DAGSTER_HOME=<the directory the dagster asset materialize runs used> before both "
              "(see the README's CI block)", file=sys.stderr)
        return None
    home = Path(raw)
    if not home.is_dir():
        print(f"ci_report: error: DAGSTER_HOME={raw} is not a directory: create it before the "
              "dagster asset materialize runs (mkdir -p \"$DAGSTER_HOME\") so they are recorded there",
              file=sys.stderr)
        return None
    return home


def main() -> int:
    if _home() is None:
        return 2
    from dagster import (
        AssetCheckSeverity,
        DagsterEventType,
        DagsterInstance,
        DagsterRunStatus,
    )

    failures = warnings = 0
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        if not runs:
            print(f"ci_report: no runs found in DAGSTER_HOME={settings.dagster_home()}", file=sys.stderr)
            return 1
        for run in reversed(runs):  # oldest first, as they ran
            ok = run.status == DagsterRunStatus.SUCCESS
            failures += not ok
            print(f"run {run.run_id[:8]} {run.job_name} {run.status.value}")
            records = instance.get_records_for_run(
                run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
            for record in records:
                evaluation = record.event_log_entry.dagster_event.event_specific_data
                counts = {
                    key: getattr(value, "value", value)
                    for key, value in evaluation.metadata.items()
                    if key.startswith(COUNT_PREFIXES)
                }
                blocking = evaluation.severity == AssetCheckSeverity.ERROR
                if evaluation.passed:
                    status = "passed"
                elif blocking:
                    status, failures = "FAILED", failures + 1
                else:
                    status, warnings = "WARNING", warnings + 1
                print(f"  check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} {status} {counts}")
    print(f"ci_report: {len(runs)} run(s), {failures} failure(s), {warnings} warning(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
