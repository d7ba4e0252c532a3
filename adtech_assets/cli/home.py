"""The Dagster home of the ``adtech`` command: ``$DAGSTER_HOME``, else ``<data dir>/dagster``,
with the instance settings adtech writes into a new one."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from adtech_assets import settings
from adtech_assets.errors import AdtechError, disk_full, exception_chain

EVENT_LOG_MODULE = "adtech_assets.runtime.event_log_storage"
RUN_COORDINATOR_MODULE = "adtech_assets.runtime.run_coordinator"
ONE_LINE_FAILURES = "adtech_assets.defs.step_failures.OneLineFailures"
# Where homes made by releases before the package's layout named it: rewritten on sight, so an
# older home keeps opening (the UI and the daemon read dagster.yaml as it is).
_FORMER_EVENT_LOG_MODULE = "module: adtech_assets.event_log_storage\n"
# The dagster.yaml texts earlier releases wrote ({events}: the home's event-log folder): a home's
# file equal to one of them, as written, is brought up to this release's; an edited one is kept.
_EARLIER_YAML = files(__package__) / "earlier_dagster_yaml"
# What SQLite says when the disk under the home's database files is full: "disk I/O error" when
# it cannot even grow its journal, which other I/O trouble causes too, so only on a disk that
# has less than this left
_SQLITE_DISK_FULL, _SQLITE_IO_ERROR = "database or disk is full", "disk I/O error"
_NEARLY_FULL_BYTES = 64 << 20


def instance_yaml(home: Path) -> str:
    """What adtech writes into a dagster.yaml it creates (or finds empty): no telemetry (Dagster
    would otherwise print its notice and welcome banner in the first command of every new home);
    the daemon's run queue looks every second instead of every 5 (a sensor's run starts sooner:
    part of the freshness of the KPIs), and so does its backfill loop instead of every 30 (a
    backfill launched from the UI gets its run within seconds: ``runtime.run_coordinator``, as
    Dagster has no setting for it); the SQLite event log that stores a backfill's asset
    events as one batch, in the folder Dagster's own would use (a path, as Dagster's settings
    name folders: a home moved elsewhere gets a new dagster.yaml by removing the old one); and a
    step failure adtech explains printed as one line on the console (``OneLineFailures``)."""
    events = _events_folder(home)
    return f"""\
# Dagster instance settings (https://docs.dagster.io/deployment/oss/dagster-yaml)
telemetry:
  enabled: false
# Dagster's run queue, looking every second; the backfill daemon too (Dagster's are 5 s and 30 s)
run_coordinator:
  module: {RUN_COORDINATOR_MODULE}
  class: PromptQueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
    backfill_interval_seconds: 1
# Dagster's SQLite event log, storing a backfill's asset events in one transaction
# (adtech_assets/runtime/event_log_storage.py); runs and schedules in Dagster's default storage.
event_log_storage:
  module: {EVENT_LOG_MODULE}
  class: BatchingSqliteEventLogStorage
  config:
    base_dir: {events}
# A step failure that adtech explains, as one line on the console (the run's log keeps its stack)
python_logs:
  dagster_handler_config:
    handlers:
      adtech_step_failures:
        class: {ONE_LINE_FAILURES}
"""


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, or ``<data dir>/dagster`` so that runs keep their history anyway.
    A missing or empty ``dagster.yaml`` there gets ``instance_yaml``, and so does one that an
    earlier release wrote and nobody edited (its home would otherwise miss later settings, such
    as the UI's backfills starting within seconds); any other is kept as it is.
    Sets ``DAGSTER_HOME`` for the Dagster instance this process opens."""
    configured = settings.dagster_home()
    home = Path(configured or settings.data_dir() / "dagster").resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
        instance_settings = home / "dagster.yaml"
        text = instance_settings.read_text() if instance_settings.exists() else ""
        if not text.strip() or written_by_earlier_release(text, home):
            _replace(instance_settings, instance_yaml(home))
        elif _FORMER_EVENT_LOG_MODULE in text:
            _replace(instance_settings, _module_renamed(text))
        (home / ".adtech-instance.lock").touch(exist_ok=True)
    except OSError as exc:  # PermissionError, NotADirectoryError (a file on the way), read-only, full
        if exc.errno == errno.ENOSPC:
            raise _home_full(home, exc.strerror) from None
        setting = (f"set {settings.DAGSTER_HOME} to a writable folder" if configured else
                   f"set {settings.DATA_DIR} (or {settings.DAGSTER_HOME}) to a writable folder")
        raise AdtechError(f"the Dagster home {home} is not writable ({exc.strerror}): {setting}") from None
    os.environ[settings.DAGSTER_HOME] = str(home)
    return home


def written_by_earlier_release(text: str, home: Path) -> bool:
    """Whether ``text`` is, to the byte, a dagster.yaml that an earlier adtech wrote into
    ``home`` (with the event log's module renamed on sight, as this module does)."""
    events = _events_folder(home)
    return any(_module_renamed(text) == _module_renamed(earlier.read_text().replace("{events}", events))
               for earlier in _EARLIER_YAML.iterdir() if earlier.name.endswith(".yaml"))


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a Dagster process starting meanwhile (the UI's run
    workers, the daemon) reads either the old settings or the new, never half of them."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _module_renamed(text: str) -> str:
    return text.replace(_FORMER_EVENT_LOG_MODULE, f"module: {EVENT_LOG_MODULE}\n")


def _events_folder(home: Path) -> str:
    """The home's event-log folder as dagster.yaml names it (a quoted YAML scalar)."""
    return json.dumps(str(Path(home).resolve() / "history" / "runs"))


@contextmanager
def opened_instance(home: Path):
    """The Dagster instance of ``home``. Its SQLite storage creates its tables on first use, and
    two processes doing that at once fail: the first use is serialized on a lock file. A disk
    too full for its files ends the command with one line saying so, not SQLite's traceback."""
    from dagster import DagsterInstance

    try:
        with open(home / ".adtech-instance.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            instance = DagsterInstance.get()
            try:
                instance.get_runs(limit=1)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        with instance:
            yield instance
    except AdtechError:
        raise
    except Exception as exc:
        if (cause := _write_failure(exc, home)) is not None:
            raise _home_full(home, cause) from None
        raise


def _write_failure(exc: BaseException, home: Path) -> str | None:
    """What a failed write to the home's files said, when a full disk is its cause; None for
    other errors."""
    import sqlite3

    for cause in exception_chain(exc):
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return cause.strerror
        if isinstance(cause, sqlite3.OperationalError) and (str(cause) == _SQLITE_DISK_FULL or (
                str(cause) == _SQLITE_IO_ERROR and shutil.disk_usage(home).free < _NEARLY_FULL_BYTES)):
            return f"SQLite: {cause}"
    return None


def _home_full(home: Path, cause: str) -> AdtechError:
    return disk_full(home, cause, f"set {settings.DAGSTER_HOME} to a folder on another disk")
