"""The README's promise that its commands work as printed: every shell command in the ```bash
blocks of README.md and docs/*.md is run, exactly as printed, on the embedded defaults (embedded
Postgres, embedded chDB, no ADTECH_* or DAGSTER_* variable set), and must exit 0.

What differs from a user's terminal is only where it runs: a temporary copy of the repository
(its files as they are in the checkout, committed or not, without .venv, .data and .git), so
``$PWD/.data`` is the copy's and the checkout's ``.data`` is never touched, and ``uv run``
creates the copy's own virtual environment as it would on a fresh clone. The commands of one file
run in order in one emulated terminal session: what a command exports (``export DAGSTER_HOME=...``
in the CI block) holds for the next ones of that file.

Not run, by the rules in ``SKIP_RULES`` (and ``SKIPPED`` lists every command they skip, so a new
Docker-only line is a decision, not an accident):
- anything with ``docker`` in it, and what only works with the compose stack (its ``.env``,
  its servers on localhost:8123 / :3000): there is no Docker here; test_deployment_compose.py
  covers the compose file;
- ``uv run pytest``: the test suite itself, which runs this module: running it from here would
  recurse;
- the screenshot script, which needs Chromium and a running UI (test_ui_end_to_end.py drives
  the UI over GraphQL).
A command printed again in a later file (``uv run adtech demo``, the UI command) is run once.

The UI command (``dg dev``) runs until stopped: it is started, must serve the code location
``adtech_assets`` with its assets over GraphQL, and is then stopped as a user does (Ctrl-C, i.e.
SIGINT to its process group; then SIGTERM and SIGKILL if anything is left). Every wait is
bounded and polls at growing intervals, sized for a loaded 2-core machine.

Besides the exit codes: no command prints a BetaWarning or a SupersessionWarning, Dagster's
telemetry/welcome banner, a Python traceback, or uv's "Bytecode compiled" (uv checking the whole
environment's bytecode again on every ``uv run``); the demo's last lines say how to query and how
to stop the embedded Postgres it leaves running; and afterwards Dagster imports from bytecode
even where PYTHONDONTWRITEBYTECODE is set (the demo compiled the environment once).

The whole run (a fresh virtual environment, the demo's 1M impressions, the UI started once, the
CI block, the queries) takes two to three minutes here, as one test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adtech_assets.db.postgres.embedded import stop_embedded_postgres
from adtech_assets.settings import PROJECT_ROOT

DOCUMENTS = ["README.md", *sorted(str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "docs").glob("*.md"))]

SKIP_RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"\bdocker\b"), "needs Docker (the compose stack)"),
    (re.compile(r"\.env\b"), "the compose stack's .env (Docker)"),
    (re.compile(r"\blocalhost:(8123|3000)\b"), "talks to the compose stack's servers (Docker)"),
    (re.compile(r"\buv run pytest\b"), "the test suite itself: it runs this module, so it would recurse"),
    (re.compile(r"screenshot_asset_graph\.py"), "needs Chromium and a running UI (test_ui_end_to_end covers the UI)"),
]
# Every command the rules skip, by document and first words: a new one must be added here.
SKIPPED = [
    ("README.md", "uv run pytest"),
    ("docs/deployment.md", "cp .env.example .env"),
    ("docs/deployment.md", "docker compose --profile sample up -d --build"),
    ("docs/deployment.md", "docker compose ps"),
    ("docs/deployment.md", "open http://localhost:3000"),
    ("docs/deployment.md", "docker compose exec clickhouse"),
    ("docs/deployment.md", "set -a; . ./.env; set +a"),
    ("docs/deployment.md", "curl -u \"adtech:$CLICKHOUSE_ADTECH_PASSWORD\""),
    ("docs/deployment.md", "docker compose exec code-location adtech sync"),
    ("docs/deployment.md", "docker compose up -d clickhouse"),
    ("docs/deployment.md", "ADTECH_TEST_CLICKHOUSE_URL="),
    ("docs/ui.md", "uv run python docs/screenshot_asset_graph.py --page graph"),
    ("docs/ui.md", "uv run python docs/screenshot_asset_graph.py --page kpi"),
    ("docs/ui.md", "uv run python docs/screenshot_asset_graph.py --page partition"),
]
UI_COMMAND = re.compile(r"\b(dg|dagster) dev\b")

# What no command may print.
NOISE = {
    "a BetaWarning": "BetaWarning",
    "a SupersessionWarning": "SupersessionWarning",
    "Dagster's welcome banner": "Welcome to Dagster",
    "Dagster's telemetry notice": "we collect usage statistics",
    "a traceback": "Traceback (most recent call last)",
    "uv's bytecode check of the whole environment (astral-sh/uv#12202)": "Bytecode compiled",
}

COMMAND_TIMEOUT = 900  # the demo on a loaded machine, with a fresh virtual environment
UI_START_TIMEOUT = 300
UI_STOP_STEPS = [(signal.SIGINT, 45), (signal.SIGTERM, 20), (signal.SIGKILL, 10)]
# Ctrl-C reaches every process of `dg dev` at once. When it finds the daemon inside a sensor
# tick, the code server is gone before the tick's call returns, and the daemon logs that error
# with its stack before it stops (Dagster's own shutdown race, as dagster-io/dagster#14523 for a
# reload). The only tracebacks allowed after the Ctrl-C: exactly that chain.
SHUTDOWN_RACE_ERRORS = ("grpc._channel._InactiveRpcError:",
                        "dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server")
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".data", ".dagster_home", "__pycache__", "*.pyc",
                                     ".pytest_cache", "dist", "*.egg-info", "tmp*")


@dataclass
class Command:
    document: str
    text: str
    skip_reason: str | None = None


@dataclass
class Outcome:
    command: Command
    returncode: int | None = None
    output: str = ""
    notes: list[str] = field(default_factory=list)
    stopped_at: int | None = None  # the UI command: where its output was when Ctrl-C came

    def judged_for_tracebacks(self) -> str:
        """The output in which no traceback may appear: all of it, but for the UI command's
        after Ctrl-C when its only tracebacks are Dagster's shutdown race (noted)."""
        if self.stopped_at is None:
            return self.output
        after = self.output[self.stopped_at:]
        if tracebacks_are_only_the_shutdown_race(after):
            self.notes.append("after Ctrl-C: Dagster's shutdown race (a sensor tick's call to the stopped code server)")
            return self.output[:self.stopped_at]
        return self.output

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def tracebacks_are_only_the_shutdown_race(text: str) -> bool:
    """Whether ``text`` has tracebacks and each exception they end in is one of
    SHUTDOWN_RACE_ERRORS (the line after a traceback's indented frames)."""
    lines = text.splitlines()
    raised = []
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            frames = i + 1
            while frames < len(lines) and (lines[frames].startswith(" ") or not lines[frames]):
                frames += 1
            raised.append(lines[frames] if frames < len(lines) else "")
    return bool(raised) and all(r.startswith(SHUTDOWN_RACE_ERRORS) for r in raised)


def bash_commands(markdown: str) -> list[str]:
    """The commands of every ```bash block, one per logical line: backslash continuations joined,
    blank and comment-only lines dropped (a trailing comment stays: bash ignores it)."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", markdown, flags=re.S | re.M):
        pending = ""
        for line in block.splitlines():
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            command = (pending + line).strip()
            pending = ""
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def documented_commands() -> list[Command]:
    commands = []
    for document in DOCUMENTS:
        for text in bash_commands((PROJECT_ROOT / document).read_text()):
            reason = next((why for rule, why in SKIP_RULES if rule.search(text)), None)
            commands.append(Command(document, text, reason))
    return commands


def same_command(text: str) -> tuple[str, ...]:
    """A command's words without its trailing comment: two printings of one command compare equal."""
    try:
        return tuple(shlex.split(text, comments=True))
    except ValueError:
        return (text,)


def _base_env(root: Path) -> dict[str, str]:
    """A fresh terminal's environment: none of adtech's or Dagster's settings (embedded defaults),
    not the test runner's virtual environment."""
    venv_bin = str(PROJECT_ROOT / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ADTECH_", "DAGSTER_")) and k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["PWD"] = str(root)
    return env


def _stop_group(process: subprocess.Popen, steps=UI_STOP_STEPS) -> list[str]:
    """Signal the process group step by step until it is gone; what it took, for the report."""
    notes = []
    for sig, grace in steps:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(process):
            process.poll()
            time.sleep(0.25)
        if not _group_alive(process):
            notes.append(f"stopped by {sig.name}")
            break
        notes.append(f"{sig.name}: still running after {grace} s")
    process.wait(timeout=30)
    return notes


def _group_alive(process: subprocess.Popen) -> bool:
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _run(command: Command, env: dict[str, str], state: Path, log: Path) -> tuple[int, dict[str, str]]:
    """One command in bash, as typed into a terminal whose environment is ``env``; returns its
    exit code and the environment it leaves (its exports) for the next command."""
    script = f"{command.text}\n__rc=$?\nenv -0 > '{state}'\nexit $__rc\n"
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "-c", script], cwd=env["PWD"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            returncode = process.wait(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            _stop_group(process, [(signal.SIGTERM, 20), (signal.SIGKILL, 10)])
            return -1, env
    if state.exists() and state.stat().st_size:
        pairs = (item.split("=", 1) for item in state.read_text().split("\0") if "=" in item)
        env = {k: v for k, v in pairs if k not in ("_", "SHLVL", "OLDPWD")}
        state.unlink()
    return returncode, env


WORKSPACE = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on RepositoryLocation { repositories { assetNodes { id } } }
  ... on PythonError { message } } } } } }"""


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.load(response)


def _serve_and_stop(command: Command, env: dict[str, str], log: Path) -> Outcome:
    """Start the UI command, wait until its webserver serves the code location with its assets,
    then stop it with Ctrl-C (escalating). Exit code 0 means: it served, and it stopped."""
    outcome = Outcome(command)
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "-c", command.text], cwd=env["PWD"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline, pause, url = time.monotonic() + UI_START_TIMEOUT, 0.5, None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                outcome.notes.append(f"exited with {process.returncode} before serving")
                outcome.returncode = process.returncode or 1
                return outcome
            if url is None:
                # the webserver says where it listens (another port if 3000 is taken)
                found = re.search(r"Serving dagster-webserver on (http://\S+?) in process", log.read_text(errors="replace"))
                url = found and found[1]
            if url:
                try:
                    entries = _graphql(url, WORKSPACE)["data"]["workspaceOrError"]["locationEntries"]
                    loaded = [e for e in entries if e["name"] == "adtech_assets" and e["loadStatus"] == "LOADED"
                              and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"]
                    if loaded and any(r["assetNodes"] for r in loaded[0]["locationOrLoadError"]["repositories"]):
                        outcome.notes.append(f"served adtech_assets at {url}")
                        outcome.returncode = 0
                        return outcome
                except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, TypeError):
                    pass
            time.sleep(pause)
            pause = min(pause * 1.5, 5)
        outcome.notes.append(f"did not serve the code location within {UI_START_TIMEOUT} s")
        outcome.returncode = 1
        return outcome
    finally:
        before = log.read_bytes()
        outcome.notes += _stop_group(process)
        if not any(note.startswith("stopped by") for note in outcome.notes):
            outcome.returncode = outcome.returncode or 1
        written = log.read_bytes()
        outcome.output = written.decode(errors="replace")
        outcome.stopped_at = len(before.decode(errors="replace")) if written.startswith(before) else None


def run_documented_commands(workdir: Path) -> list[Outcome]:
    """Every documented command, run once, in a temporary copy of the repository under ``workdir``."""
    root = workdir / "repo"
    shutil.copytree(PROJECT_ROOT, root, ignore=COPY_IGNORE, symlinks=True)
    outcomes: list[Outcome] = []
    seen: set[tuple[str, ...]] = set()
    try:
        for document in DOCUMENTS:
            env = _base_env(root)  # each document: a new terminal in the repository
            for command in (c for c in documented_commands() if c.document == document):
                if command.skip_reason or same_command(command.text) in seen:
                    outcomes.append(Outcome(command, notes=[command.skip_reason or "already run above"]))
                    continue
                seen.add(same_command(command.text))
                log = workdir / f"command-{len(outcomes):02d}.log"
                started = time.monotonic()
                if UI_COMMAND.search(command.text):
                    outcome = _serve_and_stop(command, env, log)
                else:
                    returncode, env = _run(command, env, workdir / "env.state", log)
                    outcome = Outcome(command, returncode, log.read_text(errors="replace"))
                outcome.notes.append(f"{time.monotonic() - started:.1f} s")
                outcomes.append(outcome)
                print(f"[{outcome.returncode}] {document}: {command.text[:100]}  ({'; '.join(outcome.notes)})")
    finally:
        with warnings.catch_warnings():  # platformdirs, imported by embedded_postgres, on XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            stop_embedded_postgres(root / ".data")  # the docs' last commands restart it (dg launch)
    return outcomes


def modules_read_from_source(root: Path) -> list[str]:
    """The modules of the copy's environment that ``import dagster`` finds without their bytecode:
    where PYTHONDONTWRITEBYTECODE is set, every process would compile them again."""
    probe = ("import dagster, os, sys, sysconfig\n"
             "site = sysconfig.get_paths()['purelib']\n"
             "print('\\n'.join(sorted(m.__file__ for m in list(sys.modules.values())\n"
             "    if (getattr(m, '__cached__', None) or '').startswith(site) and not os.path.exists(m.__cached__))))")
    env = {**_base_env(root), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([str(root / ".venv" / "bin" / "python"), "-c", probe], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


RACE = """\
2026-12-07 10:55:28 +0000 - dagster.daemon.SensorDaemon - ERROR - Sensor daemon caught an error for sensor postgres_changes
Traceback (most recent call last):
  File "/x/.venv/lib/python3.11/site-packages/grpc/_channel.py", line 999, in _end_unary_response_blocking
    raise _InactiveRpcError(state)  # pytype: disable=not-instantiable
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:
\tstatus = StatusCode.UNKNOWN
>

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/x/.venv/lib/python3.11/site-packages/dagster/_grpc/client.py", line 195, in _raise_grpc_exception
    raise DagsterUserCodeUnreachableError(
dagster._core.errors.DagsterUserCodeUnreachableError: Could not reach user code server. gRPC Error code: UNKNOWN
2026-12-07 10:55:28 +0000 - dagster.daemon - INFO - Received interrupt, shutting down daemon threads...
"""


def test_only_dagsters_shutdown_race_is_allowed_after_ctrl_c():
    """The chain the daemon logs when Ctrl-C stops the code server inside a sensor tick passes;
    any other exception, after it or instead of it, does not, nor does an output without one."""
    assert tracebacks_are_only_the_shutdown_race(RACE)
    other = "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: no\n"
    assert not tracebacks_are_only_the_shutdown_race(RACE + other)
    assert not tracebacks_are_only_the_shutdown_race(other)
    assert not tracebacks_are_only_the_shutdown_race("2026-12-07 - dagster - INFO - Dagster services shut down.\n")
    ui = Outcome(Command("README.md", "dg dev"), 0, "served\n" + RACE, stopped_at=len("served\n"))
    assert ui.judged_for_tracebacks() == "served\n"
    early = Outcome(Command("README.md", "dg dev"), 0, RACE + "served\n", stopped_at=len(RACE))
    assert "Traceback" in early.judged_for_tracebacks(), "a traceback before Ctrl-C always counts"


def test_the_skip_rules_skip_exactly_the_listed_commands():
    skipped = [(c.document, c.text) for c in documented_commands() if c.skip_reason]
    assert len(skipped) == len(SKIPPED), skipped
    for (document, text), (listed_document, start) in zip(skipped, SKIPPED):
        assert document == listed_document and text.startswith(start), (document, text, start)
    ran = [c.text for c in documented_commands() if not c.skip_reason]
    assert "uv run adtech demo        # migrate, seed 1M sample impressions, sync, print the five KPIs" in ran
    assert any(UI_COMMAND.search(text) for text in ran), "the UI command is run"
    assert not any("uv run pytest" in text for text in ran), "the test suite would run itself"


@pytest.mark.long(85)
def test_every_command_runs_as_printed():
    """One test, not one per promise over a shared fixture: pytest-xdist would run a module-scoped
    fixture once per worker, i.e. the whole sequence several times at once."""
    assert shutil.which("uv"), "uv is not on PATH: the README's commands start with `uv run`"
    workdir = Path(tempfile.mkdtemp(prefix="adtech-readme-"))  # not under pytest's basetemp: see conftest
    try:
        outcomes = run_documented_commands(workdir)
        from_source = modules_read_from_source(workdir / "repo")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ran = [o for o in outcomes if o.returncode is not None]
    problems = []

    # every command that ran exited 0
    for o in ran:
        if o.returncode != 0:
            problems.append(f"{o.command.document}: {o.command.text}\nexit {o.returncode} "
                            f"({'; '.join(o.notes)})\n{o.tail()}")
    assert len(ran) >= 10, [o.command.text for o in ran]

    # none printed a beta/superseded warning, Dagster's banner or a traceback
    for o in ran:
        for what, text in NOISE.items():
            if text in (o.judged_for_tracebacks() if text == NOISE["a traceback"] else o.output):
                problems.append(f"{o.command.text} printed {what}:\n{o.tail()}")

    # the environment is compiled once: Dagster imports from bytecode
    if from_source:
        problems.append(f"{len(from_source)} modules of `import dagster` have no bytecode, e.g. {from_source[:3]}")

    # the UI command served the code location and stopped on Ctrl-C
    ui = [o for o in ran if UI_COMMAND.search(o.command.text)]
    assert ui, "the UI command ran"
    for o in ui:
        if not any(note.startswith("served adtech_assets") for note in o.notes) or "stopped by SIGINT" not in o.notes:
            problems.append(f"the UI command: {o.notes}\n{o.tail()}")

    # the demo ends with how to open the UI, query and stop (not "Query:" for adtech sync)
    demo = next(o for o in ran if o.command.text.startswith("uv run adtech demo"))
    last = demo.output.strip().splitlines()[-5:]
    for label, command in (("Open the UI:", "uv run dg dev"), ("Query the KPIs:", "uv run adtech query"),
                           ("Stop Postgres:", "uv run adtech stop")):
        if not any(line.startswith(label) and command in line for line in last):
            problems.append(f"the demo's last lines lack {label} {command}: {last}")
    if any(line.startswith("Query:") and "adtech sync" in line for line in last):
        problems.append(f"the demo still labels adtech sync as Query: {last}")
    if shapes := [line for line in demo.output.splitlines() if line.startswith("shape:")]:
        problems.append(f"the demo prints polars' shape lines above its tables: {shapes}")
    stop = next(o for o in ran if o.command.text == "uv run adtech stop")
    if "stopped the embedded Postgres" not in stop.output:
        problems.append(f"adtech stop after the demo: {stop.output}")

    # the CI block's report found the runs the block recorded (and the demo's, same DAGSTER_HOME)
    report = next(o for o in ran if "adtech_assets.cli.ci_report" in o.command.text)
    if not (re.search(r"ci_report: \d+ run\(s\), 0 failure\(s\)", report.output)
            and len(re.findall(r"^run \w{8} \S+ SUCCESS$", report.output, flags=re.M)) >= 2):
        problems.append(f"ci_report:\n{report.output}")

    assert not problems, "\n\n".join(problems)
