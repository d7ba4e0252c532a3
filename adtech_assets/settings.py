"""Configuration: every environment variable adtech reads, read here and nowhere else, validated
once, with defaults for the embedded engines.

Every setting is an environment variable (see the README's configuration table); the Dagster
resources receive the two connection URLs through ``dagster.EnvVar`` so secrets never appear in
code, config or logs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from adtech_assets.errors import AdtechError
from adtech_assets.redaction import redact_text, redact_url

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Running from a source checkout (the repo, or an editable install) rather than an installed
# wheel, where PROJECT_ROOT is site-packages.
SOURCE_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()

PG_URL = "ADTECH_PG_URL"
CLICKHOUSE_URL = "ADTECH_CLICKHOUSE_URL"
DATA_DIR = "ADTECH_DATA_DIR"
PARTITIONS_START = "ADTECH_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2025-01-01"
SYNC_INTERVAL_SECONDS = "ADTECH_SYNC_INTERVAL_SECONDS"
SYNC_CRON = "ADTECH_SYNC_CRON"
RECONCILE_CRON = "ADTECH_RECONCILE_CRON"
RECONCILE_LOOKBACK_DAYS = "ADTECH_RECONCILE_LOOKBACK_DAYS"
VERIFY_INTERVAL_SECONDS = "ADTECH_VERIFY_INTERVAL_SECONDS"
CLICKHOUSE_CLUSTER = "ADTECH_CLICKHOUSE_CLUSTER"
CHANGE_SOURCE = "ADTECH_CHANGE_SOURCE"
SLOT = "ADTECH_SLOT"
SLOT_WARN_BYTES = "ADTECH_SLOT_WARN_BYTES"
SLOT_FAIL_BYTES = "ADTECH_SLOT_FAIL_BYTES"
RETAIN_BEFORE = "ADTECH_RETAIN_BEFORE"
DAGSTER_HOME = "DAGSTER_HOME"


def raw(name: str) -> str | None:
    """The variable ``name`` as the user set it; None when unset or empty."""
    return os.environ.get(name) or None


def is_set(name: str) -> bool:
    return raw(name) is not None


def pg_url() -> str | None:
    """The source Postgres (a URL or libpq keywords); None: the embedded server."""
    return os.environ.get(PG_URL) or None


def clickhouse_url() -> str | None:
    """The target ClickHouse (a server URL or ``chdb:///path``); None: the embedded engine."""
    return os.environ.get(CLICKHOUSE_URL) or None


def clickhouse_cluster() -> str | None:
    """The ClickHouse cluster every DDL statement runs ON (validated), None for a single node."""
    cluster = os.environ.get(CLICKHOUSE_CLUSTER) or None
    return validate_identifier(cluster, CLICKHOUSE_CLUSTER) if cluster else None


def libpq_environment() -> dict[str, str]:
    """libpq's own variables (``PGPASSWORD``, ``PGUSER``, ...), which change what a connection
    string means: a connection pool keys on them, messages redact ``PGPASSWORD``, and the
    asyncpg read falls back to libpq where one it does not handle is set."""
    return {k: v for k, v in os.environ.items() if k.startswith("PG")}


def dagster_home() -> str | None:
    """``$DAGSTER_HOME`` as set, None when unset (the CLI then uses ``<data dir>/dagster``)."""
    return os.environ.get(DAGSTER_HOME) or None


def data_dir() -> Path:
    """Where the embedded engines keep their data: ``$ADTECH_DATA_DIR``, else ``<repo>/.data`` in
    a source checkout and ``./.data`` (the current directory) for an installed package."""
    default = PROJECT_ROOT / ".data" if SOURCE_CHECKOUT else Path.cwd() / ".data"
    return Path(os.environ.get(DATA_DIR) or default).resolve()


def partitions_start() -> date:
    """The first daily partition. A start after today (UTC) would leave no partition at all, so
    every load and check would have nothing to judge: refused."""
    raw = os.environ.get(PARTITIONS_START) or DEFAULT_PARTITIONS_START
    try:
        start = date.fromisoformat(raw)
    except ValueError:
        raise AdtechError(
            f"{PARTITIONS_START}={raw!r} is not a date: set it to the first day to load, as YYYY-MM-DD"
        ) from None
    today = datetime.now(timezone.utc).date()
    if start > today:
        raise AdtechError(
            f"{PARTITIONS_START}={raw!r} lies in the future (today is {today.isoformat()} UTC), so there "
            "is no day to load: set it to the first day of your data, today or earlier"
        )
    return start


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise AdtechError(f"{name}={raw!r} must be a whole number of at least 1")
    return value


def sync_interval_seconds() -> int:
    return _positive_int(SYNC_INTERVAL_SECONDS, 5)


def reconcile_lookback_days() -> int | None:
    """Days back the sweep fingerprints in Postgres; unset: the whole history (a cost knob)."""
    return _positive_int(RECONCILE_LOOKBACK_DAYS, 1) if os.environ.get(RECONCILE_LOOKBACK_DAYS) else None


def verify_interval_seconds() -> int:
    """How often the sensor looks for drift in ClickHouse and fingerprints Postgres after
    updates or deletes, at most (an idle tick between looks reads only the write counters)."""
    return _positive_int(VERIFY_INTERVAL_SECONDS, 120)


def change_source() -> str:
    """``auto`` (the change log where the server offers it, else scans), ``log`` (the change log
    or fail) or ``scan`` (never create a slot)."""
    value = (os.environ.get(CHANGE_SOURCE) or "auto").lower()
    if value not in ("auto", "log", "scan"):
        raise AdtechError(f"{CHANGE_SOURCE}={value!r} must be auto, log or scan")
    return value


def slot_name() -> str | None:
    """The replication slot's name as set (validated); None: ``adtech_<database>``."""
    value = os.environ.get(SLOT) or None
    if value and not re.fullmatch(r"[a-z0-9_]{1,63}", value):
        raise AdtechError(f"{SLOT}={value!r} must be 1-63 lower-case letters, digits or underscores")
    return value


def slot_bounds() -> tuple[int, int]:
    """WAL a slot may hold before its check warns, and before it fails (bytes)."""
    return (_positive_int(SLOT_WARN_BYTES, 1 << 30), _positive_int(SLOT_FAIL_BYTES, 16 << 30))


def retain_before(today: date | None = None) -> date | None:
    """``ADTECH_RETAIN_BEFORE``: days before it are frozen in ClickHouse (a date, or a number of
    days back from today, UTC); None when unset."""
    value = os.environ.get(RETAIN_BEFORE) or None
    if value is None:
        return None
    today = today or datetime.now(timezone.utc).date()
    if value.isdigit():
        return date.fromordinal(today.toordinal() - int(value))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AdtechError(f"{RETAIN_BEFORE}={value!r} must be a date (YYYY-MM-DD) or a number of days back") from None


def _cron(name: str, default: str | None) -> str | None:
    from dagster._utils.schedules import is_valid_cron_string

    value = os.environ.get(name) or default
    if value and not is_valid_cron_string(value):
        raise AdtechError(f"{name}={value!r} is not a cron expression (e.g. '*/5 * * * *')")
    return value


def sync_cron() -> str | None:
    return _cron(SYNC_CRON, None)


def reconcile_cron() -> str:
    return _cron(RECONCILE_CRON, "17 * * * *")


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_identifier(value: str, what: str) -> str:
    """Identifiers from configuration go into SQL unquoted, so they must be plain names."""
    if not _IDENTIFIER.match(value):
        raise AdtechError(f"{what}={value!r} is not a plain identifier (letters, digits, underscore)")
    return value


@dataclass(frozen=True)
class ClickHouseTarget:
    """A parsed ``ADTECH_CLICKHOUSE_URL``: either a server over HTTP(S) or an embedded path."""

    embedded_path: Path | None = None
    host: str = ""
    port: int = 8123
    username: str = "default"
    password: str = field(default="", repr=False)
    secure: bool = False

    @property
    def is_embedded(self) -> bool:
        return self.embedded_path is not None

    def describe(self) -> str:
        if self.embedded_path is not None:
            return f"embedded ClickHouse (chDB) at {self.embedded_path}"
        scheme = "https" if self.secure else "http"
        return f"ClickHouse server {scheme}://{self.username}@{self.host}:{self.port}"


def parse_clickhouse_url(url: str | None) -> ClickHouseTarget:
    """``http[s]://user:password@host:port`` or ``chdb:///absolute/path``; empty means embedded.

    The password may also come as ``?password=``, which wins over the userinfo's, as in libpq."""
    if not url:
        return ClickHouseTarget(embedded_path=data_dir() / "clickhouse")
    hint = f"set {CLICKHOUSE_URL} to http[s]://user:password@host:port or chdb:///absolute/path"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AdtechError(
            f"{CLICKHOUSE_URL}={redact_url(url)!r} is malformed ({redact_text(str(exc))}): {hint}"
        ) from None
    if parts.scheme == "chdb":
        if parts.netloc or not parts.path.startswith("/"):
            raise AdtechError(f"{CLICKHOUSE_URL}={redact_url(url)!r} needs an absolute path: {hint}")
        return ClickHouseTarget(embedded_path=Path(parts.path))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AdtechError(f"{CLICKHOUSE_URL}={redact_url(url)!r} is not a ClickHouse URL: {hint}")
    secure = parts.scheme == "https"
    query_password = dict(parse_qsl(parts.query, keep_blank_values=True)).get("password")
    return ClickHouseTarget(
        host=parts.hostname,
        port=port or (8443 if secure else 8123),
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or "") if query_password is None else query_password,
        secure=secure,
    )
