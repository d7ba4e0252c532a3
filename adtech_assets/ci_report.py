"""``python -m adtech_assets.ci_report``: exit 1 unless every run in ``$DAGSTER_HOME``
succeeded and every asset check evaluated in them passed. Prints each check with its counts."""

from __future__ import annotations

import sys

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus


def main() -> int:
    failures = 0
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        if not runs:
            print("ci_report: no runs found in DAGSTER_HOME", file=sys.stderr)
            return 1
        for run in runs:
            ok = run.status == DagsterRunStatus.SUCCESS
            failures += not ok
            print(f"run {run.run_id[:8]} {run.status.value}")
            records = instance.get_records_for_run(
                run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
            for record in records:
                evaluation = record.event_log_entry.dagster_event.event_specific_data
                counts = {
                    key: getattr(value, "value", value)
                    for key, value in evaluation.metadata.items()
                    if key.startswith(("postgres", "clickhouse", "mismatched", "rows_"))
                }
                failures += not evaluation.passed
                status = "passed" if evaluation.passed else "FAILED"
                print(f"  check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} {status} {counts}")
    print(f"ci_report: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
