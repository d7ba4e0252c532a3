"""``adtech seed <table> --count N`` says where its rows go (issue 24): the window is --days back
from now, so the default 30 days touch 31 UTC dates, and both ``--help`` and the line the
command prints say so, with the window's bounds; the rows lie within what was said."""

from __future__ import annotations

import re
from datetime import date, datetime

import psycopg

from adtech_assets_tests.helpers import add_advertiser, add_campaign, cli_env, run_cli


def test_help_says_the_window_is_31_dates_by_default(tmp_path):
    result = run_cli(["seed", "--help"], cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "from N days back to now: N + 1 UTC dates (31 with the default 30)" in text, text
    assert "--count COUNT rows for advertisers/campaigns/impressions, spread over --days" in text, text


def test_seed_impressions_says_the_window_it_spread_them_over(pg_url, postgres, tmp_path):
    add_campaign(postgres, "spring", add_advertiser(postgres, "acme"))  # impressions go to campaigns
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{tmp_path}/clickhouse")
    result = run_cli(["seed", "impressions", "--count", "500", "--seed", "0.25"], env)
    assert result.returncode == 0, result.stderr
    said = re.search(r"inserted 500 impressions spread over the last 30 day\(s\), "
                     r"(\S+ \S+) \.\. (\S+ \S+) UTC \((\d+) dates; --days N sets it\)", result.stdout)
    assert said, result.stdout
    start, end = (datetime.strptime(bound, "%Y-%m-%d %H:%M") for bound in said.group(1, 2))
    assert int(said[3]) == (end.date() - start.date()).days + 1 == 31
    with psycopg.connect(pg_url) as conn:
        first, last, dates = conn.execute(
            "SELECT min(created_at), max(created_at), count(DISTINCT created_at::date) FROM impressions").fetchone()
    assert start <= first and last.replace(second=0, microsecond=0) <= end, (first, last, start, end)
    assert dates <= 31 and date.fromisoformat(str(first.date())) >= start.date()

    two = run_cli(["seed", "impressions", "--count", "10", "--days", "2"], env)
    assert two.returncode == 0 and "spread over the last 2 day(s)" in two.stdout and "(3 dates;" in two.stdout, two
