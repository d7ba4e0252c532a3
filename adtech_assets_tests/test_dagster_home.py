"""The Dagster home's settings across releases: a dagster.yaml that an earlier adtech wrote, and
nobody edited, is brought up to this release's; an edited one is kept to the byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, asset, materialize

from adtech_assets.cli import home as home_module
from adtech_assets.cli.home import (
    dagster_home,
    instance_yaml,
    written_by_earlier_release,
)

EARLIER = sorted(p for p in home_module._EARLIER_YAML.iterdir() if p.name.endswith(".yaml"))
# sha256 of instance_yaml(Path("/adtech-home")): change instance_yaml, and this test asks for the text
# it replaces to join earlier_dagster_yaml/ (else homes written by this release never update).
CURRENT_DIGEST = "a9ca71ccd3772cecd85db8931ff60108e86aec91a26bd12f7367fc81875c61ce"


def earlier_text(path, home: Path) -> str:
    return path.read_text().replace("{events}", home_module._events_folder(home))


def home_with(tmp_path, monkeypatch, text: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(text)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_every_release_has_written_a_different_yaml():
    """Six earlier texts, each valid YAML once its folder is filled in, none equal to another or
    to this release's (which would make the upgrade a no-op or the list ambiguous)."""
    texts = [earlier_text(p, Path("/adtech-home")) for p in EARLIER]
    assert len(EARLIER) == 6 and len(set(texts)) == 6
    assert instance_yaml(Path("/adtech-home")) not in texts
    for text in texts:
        assert yaml.safe_load(text)["telemetry"] == {"enabled": False}


def test_changing_the_written_yaml_keeps_the_earlier_one():
    digest = hashlib.sha256(instance_yaml(Path("/adtech-home")).encode()).hexdigest()
    assert digest == CURRENT_DIGEST, (
        "instance_yaml changed: add the text it wrote before to adtech_assets/cli/earlier_dagster_yaml/ "
        "(with {events} for the event-log folder), then set CURRENT_DIGEST to " + digest)


@asset
def probe() -> int:
    return 1


@pytest.mark.parametrize("earlier", EARLIER, ids=lambda p: p.stem)
def test_a_home_an_earlier_release_wrote_gets_this_releases_settings(tmp_path, monkeypatch, earlier):
    """The home opens with adtech's run coordinator (backfills within seconds), whichever release
    wrote it, and keeps the history stored under the earlier settings."""
    written = earlier_text(earlier, tmp_path / "home")
    # The history as that release stored it, in <home>/history/runs, opened with today's module
    # names. Release 3's file names no folder for the event log, which today's requires: such a
    # home did not open at all before this upgrade; its runs lie in the same folder.
    storing = home_module._module_renamed(written) if "BatchingSqlite" not in written or "base_dir" in written \
        else instance_yaml(tmp_path / "home")
    home = home_with(tmp_path, monkeypatch, storing)
    with DagsterInstance.from_config(str(home)) as instance:
        run_id = materialize([probe], instance=instance).run_id
    (home / "dagster.yaml").write_text(written)
    assert written_by_earlier_release(written, home)
    assert dagster_home() == home.resolve()
    assert (home / "dagster.yaml").read_text() == instance_yaml(home)
    assert not [p.name for p in home.iterdir() if p.name.endswith(".tmp")]  # written whole, in place
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_coordinator).__name__ == "PromptQueuedRunCoordinator"
        assert [r.run_id for r in instance.get_runs()] == [run_id]
        assert instance.get_latest_materialization_event(probe.key) is not None


def test_a_home_renamed_on_sight_before_is_recognised(tmp_path, monkeypatch):
    """A home of a release before the package's layout, whose event-log module an earlier adtech
    renamed in place (comment and all else kept), is an earlier release's too."""
    written = earlier_text(home_module._EARLIER_YAML / "4_event_log_folder.yaml", tmp_path / "home")
    renamed = written.replace("module: adtech_assets.event_log_storage\n",
                              "module: adtech_assets.runtime.event_log_storage\n")
    assert renamed != written
    home = home_with(tmp_path, monkeypatch, renamed)
    dagster_home()
    assert (home / "dagster.yaml").read_text() == instance_yaml(home)


@pytest.mark.parametrize("edit", [
    lambda text: text + "# mine\n",
    lambda text: text.replace("enabled: false", "enabled: true"),
    lambda text: text.replace("dequeue_interval_seconds: 1", "dequeue_interval_seconds: 5"),
], ids=["comment added", "telemetry on", "queue every 5 s"])
def test_an_edited_home_is_kept_to_the_byte(tmp_path, monkeypatch, edit):
    written = earlier_text(home_module._EARLIER_YAML / "6_run_coordinator.yaml", tmp_path / "home")
    edited = edit(written)
    assert edited != written
    home = home_with(tmp_path, monkeypatch, edited)
    dagster_home()
    assert (home / "dagster.yaml").read_text() == edited


def test_a_home_written_for_another_folder_is_kept(tmp_path, monkeypatch):
    """A moved home names its former event-log folder: it is the user's to fix (design.md),
    not a file to overwrite."""
    elsewhere = earlier_text(home_module._EARLIER_YAML / "6_run_coordinator.yaml", tmp_path / "old")
    home = home_with(tmp_path, monkeypatch, elsewhere)
    dagster_home()
    assert (home / "dagster.yaml").read_text() == elsewhere
