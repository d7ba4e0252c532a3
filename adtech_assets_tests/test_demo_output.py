"""What ``adtech demo`` prints reads as a user expects: a load says which days it loads and why
in words that hold for the whole range (not the first day's reason "and 30 more"), and each KPI
table sits under the line that names it, without polars' ``shape:`` line."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dagster import DagsterInstance

from adtech_assets.catalog import PREVIEW_ORDER
from adtech_assets.cli.demo import print_kpis
from adtech_assets.cli.sync.runs import run_sync
from adtech_assets_tests.helpers import add_advertiser, add_campaign, add_events

FIRST = date(2025, 6, 10)
IMPRESSIONS_PER_DAY = (2, 5, 1)  # three days, each with its own count


def test_the_sync_says_why_it_loads_a_range_and_the_kpis_print_without_shape_lines(resources, capsys):
    campaign = add_campaign(resources["postgres"], "spring", add_advertiser(resources["postgres"], "acme"))
    for offset, count in enumerate(IMPRESSIONS_PER_DAY):
        noon = datetime.combine(FIRST + timedelta(days=offset), datetime.min.time()) + timedelta(hours=12)
        add_events(resources["postgres"], "impressions", [(campaign, noon)] * count)
    add_events(resources["postgres"], "clicks", [(campaign, datetime.combine(FIRST, datetime.min.time()))])

    said: list[str] = []
    report = run_sync(DagsterInstance.ephemeral(), resources, say=said.append)
    assert report.ok, (report.failed_checks, report.errors, said)
    [line] = [s for s in said if s.startswith("facts: loading")]
    last = FIRST + timedelta(days=len(IMPRESSIONS_PER_DAY) - 1)
    assert line.startswith(f"facts: loading {FIRST} .. {last} (3 days, "), line
    # why, once for the range: not one day's reason with its count, "and 2 more"
    assert line.endswith(": rows not loaded yet"), line

    print_kpis(resources["clickhouse"])
    printed = capsys.readouterr().out.splitlines()
    assert not [p for p in printed if p.startswith("shape:")], printed
    for view in PREVIEW_ORDER:
        assert any(p.startswith(f"analytics.{view}  (") for p in printed), (view, printed)
