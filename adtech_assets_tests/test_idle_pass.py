"""A pass with nothing to do never imports Dagster, and a pass that needs Dagster always does.

Dagster is needed when a source's write counters moved since the latest recorded observations
(then they are observed), when something is to load, and when a run worker of this host died
(its runs are marked failed). Each case is a real ``adtech sync`` process reporting whether it
imported Dagster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dagster import DagsterInstance, DagsterRunStatus

from adtech_assets.db.postgres.sample_data import SeedWindow, seed_batch
from adtech_assets.runtime.worker_marks import WORKERS, mark_worker
from adtech_assets.settings import PROJECT_ROOT

from .helpers import change, cli_env, kpi_differences, started_run

PROBE = ("import sys; from adtech_assets.cli.main import main; code = main(['sync']); "
         "print('DAGSTER_IMPORTED', 'dagster' in sys.modules); sys.exit(code)")


def probe_sync(env: dict[str, str]) -> tuple[bool, str]:
    """One ``adtech sync`` in its own process: whether it imported Dagster, and its output."""
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    imported = [line for line in done.stdout.splitlines() if line.startswith("DAGSTER_IMPORTED")]
    assert imported, done.stdout
    return imported[-1].endswith("True"), done.stdout


def a_started_run_of_a_dead_worker(home: str) -> str:
    """A run left STARTED by a worker process that is gone, with the worker's mark."""
    gone = subprocess.Popen(["sleep", "0"])
    gone.wait()
    with DagsterInstance.from_config(home) as instance:
        run_id = started_run(instance, gone.pid)
    mark_worker(home, gone.pid, "")
    return run_id


def test_only_a_pass_with_nothing_to_do_goes_without_dagster(postgres, pg_url, clickhouse, clickhouse_path, tmp_path):
    seed_batch(postgres, advertisers=2, campaigns=6, impressions=2000, ctr=0.1, window=SeedWindow.last_days(4), seed=0.3)
    env = cli_env(tmp_path, ADTECH_PG_URL=pg_url, ADTECH_CLICKHOUSE_URL=f"chdb://{clickhouse_path}")
    home = env["DAGSTER_HOME"]

    imported, out = probe_sync(env)  # the first load
    assert imported and "KPIs refreshed" in out, out
    imported, out = probe_sync(env)
    assert not imported and "nothing to load (0 Dagster runs)" in out, out

    # a new row: loaded, through Dagster, and the views follow
    change(postgres, "impressions", "INSERT INTO impressions (campaign_id, created_at) "
                                    "SELECT min(id), now() AT TIME ZONE 'UTC' FROM campaign")
    imported, out = probe_sync(env)
    assert imported and "1 day(s) loaded" in out, out
    assert kpi_differences(postgres, clickhouse) == {}
    assert not probe_sync(env)[0]

    # an update that changes nothing moves the counters: the sources are observed again
    change(postgres, "advertiser", "UPDATE advertiser SET name = name")
    imported, out = probe_sync(env)
    assert imported and "nothing to load" in out, out
    with DagsterInstance.from_config(home) as instance:
        from dagster import AssetRecordsFilter

        from adtech_assets.defs.assets.sources import COUNTERS_KEY
        from adtech_assets.defs.keys import source_key

        latest = instance.fetch_observations(AssetRecordsFilter(asset_key=source_key("advertiser")), limit=1).records
        recorded = latest[0].event_log_entry.asset_observation.metadata[COUNTERS_KEY].value
    observed = json.loads((tmp_path / "dagster_home" / ".adtech-observed-counters.json").read_text())
    assert recorded.startswith(f"inserts {observed['advertiser'][0]}, updates {observed['advertiser'][1]},"), recorded
    assert not probe_sync(env)[0]

    # a run worker that died: the next pass settles its run, then passes go without Dagster again
    run_id = a_started_run_of_a_dead_worker(home)
    imported, out = probe_sync(env)
    assert imported and f"run {run_id} was left STARTED" in out, out
    with DagsterInstance.from_config(home) as instance:
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
    assert not os.listdir(os.path.join(home, WORKERS))
    assert not probe_sync(env)[0]


def test_a_worker_that_is_alive_or_exited_cleanly_leaves_no_dead_mark(tmp_path):
    from adtech_assets.runtime.worker_marks import dead_worker_marks

    home = tmp_path / "home"
    home.mkdir()
    mark_worker(home, os.getpid(), "")
    assert dead_worker_marks(home) == []  # alive
    done = subprocess.run([sys.executable, "-c", "import os, sys; from adtech_assets.runtime.worker_marks import "
                           "mark_worker; mark_worker(sys.argv[1], os.getpid(), '')", str(home)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert dead_worker_marks(home) == []  # it removed its own mark on exit
    assert len(os.listdir(home / WORKERS)) == 1  # this process's own mark only
    killed = subprocess.run([sys.executable, "-c", "import os, signal, sys; from adtech_assets.runtime.worker_marks "
                             "import mark_worker; mark_worker(sys.argv[1], os.getpid(), ''); "
                             "os.kill(os.getpid(), signal.SIGKILL)", str(home)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9
    assert len(dead_worker_marks(home)) == 1
