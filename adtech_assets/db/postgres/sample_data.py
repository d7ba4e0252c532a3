"""The sample-data generator behind ``adtech seed``: set-based SQL (``generate_series``) from
``seeds/generate/``, one statement per table, never row by row.

Every verb takes a seed so the same options give the same data, and a window ``[start, end)``
over which rows are spread (default: the last ``days`` days up to now). The SQL never calls
``random()``: each draw is a hash of (row, purpose, seed) mapped to [0, 1)
(``hashint8extended(row, hashtextextended(purpose, seed))``, low 32 bits: its well-mixed half;
the high half is visibly less uniform), so a row depends on the seed and its position alone,
not on the order in which Postgres evaluates rows, and draws for different purposes (which
campaign, which time, clicked or not) are independent of each other (``setseed`` + ``random()``
would replay the impressions' stream for the clicks, so the impressions picked for a click
would be those whose campaign draw was small). Without a seed, a random one is drawn per call.

The shape is an ad platform's: campaigns differ in volume (Zipf-like) and in CTR (``ctr`` times
0.5..2), events follow a daily rhythm in UTC hours (and quieter weekends), clicks come a second
to 15 minutes after their impression. See ``seeds/generate/*.sql`` for the details.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from adtech_assets.db.postgres.client import Postgres
from adtech_assets.db.sql_files import seed_sql


@dataclass(frozen=True)
class SeedWindow:
    start: datetime
    end: datetime

    @classmethod
    def last_days(cls, days: int, end: datetime | None = None) -> "SeedWindow":
        end = end or datetime.now(timezone.utc).replace(tzinfo=None)
        return cls(start=end - timedelta(days=days), end=end)


def seed_key(seed: float | None) -> int:
    """The 64-bit hash seed the SQL draws from: a fixed function of ``seed`` (any float; the CLI
    keeps it in -1..1), or a fresh random one when ``seed`` is None."""
    if seed is None:
        return secrets.randbits(63)
    digest = hashlib.sha256(repr(float(seed)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _run(postgres: Postgres, name: str, seed: float | None, **params) -> int:
    with postgres.connect() as conn, conn.transaction():
        cur = conn.execute(seed_sql(f"generate/{name}"), {**params, "seed": seed_key(seed)})
        return cur.rowcount


def seed_advertisers(pg: Postgres, count: int, window: SeedWindow, seed: float | None = None) -> int:
    return _run(pg, "advertisers", seed, count=count, window_start=window.start, window_end=window.end)


def seed_campaigns(pg: Postgres, count: int, window: SeedWindow, seed: float | None = None) -> int:
    return _run(pg, "campaigns", seed, count=count, window_start=window.start, window_end=window.end)


def seed_impressions(pg: Postgres, count: int, window: SeedWindow, seed: float | None = None) -> int:
    return _run(pg, "impressions", seed, count=count, window_start=window.start, window_end=window.end)


def seed_clicks(
    pg: Postgres, ctr: float, window: SeedWindow, after_id: int = 0, seed: float | None = None
) -> int:
    """Clicks for impressions with ``id > after_id`` (the ones a batch just added)."""
    return _run(pg, "clicks", seed, ctr=ctr, after_id=after_id, window_end=window.end)


def max_impression_id(pg: Postgres) -> int:
    with pg.connect() as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM impressions").fetchone()[0]


@dataclass(frozen=True)
class BatchCounts:
    advertisers: int
    campaigns: int
    impressions: int
    clicks: int


def seed_batch(
    pg: Postgres,
    *,
    advertisers: int,
    campaigns: int,
    impressions: int,
    ctr: float,
    window: SeedWindow,
    seed: float | None = None,
) -> BatchCounts:
    """A coherent batch: advertisers, their campaigns, impressions and the clicks on them."""
    first_new = max_impression_id(pg)
    return BatchCounts(
        advertisers=seed_advertisers(pg, advertisers, window, seed),
        campaigns=seed_campaigns(pg, campaigns, window, seed),
        impressions=seed_impressions(pg, impressions, window, seed),
        clicks=seed_clicks(pg, ctr, window, after_id=first_new, seed=seed),
    )


def stats(pg: Postgres) -> list[tuple]:
    with pg.connect() as conn:
        return conn.execute(seed_sql("generate/stats")).fetchall()


def reset(pg: Postgres) -> None:
    with pg.connect() as conn:
        conn.execute(seed_sql("generate/reset"))
