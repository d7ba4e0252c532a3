"""``uv run`` starts the command without compiling anything: on a fresh clone the first ``uv run``
creates the environment, and the next ones neither print uv's "Bytecode compiled N files" nor
pay for it (uv's ``compile-bytecode`` setting did both on every ``uv run``, astral-sh/uv#12202;
the environment is compiled once instead, by ``adtech demo``: test_readme_commands.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from adtech_assets.settings import PROJECT_ROOT

from .checkout_export import clean_export


def _terminal_env() -> dict[str, str]:
    """A fresh terminal's environment: not the test runner's venv, no adtech or uv settings."""
    venv_bin = str(PROJECT_ROOT / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ADTECH_", "DAGSTER_", "UV_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


def test_a_second_uv_run_compiles_no_bytecode(tmp_path: Path):
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv on PATH")
    clone = clean_export(tmp_path / "clone")
    runs = [subprocess.run([uv, "run", "adtech", "--help"], cwd=clone, env=_terminal_env(),
                           capture_output=True, text=True, timeout=600) for _ in range(2)]
    for done in runs:
        assert done.returncode == 0 and "usage: adtech" in done.stdout, done.stderr
    assert (clone / ".venv").is_dir(), "the first uv run created the clone's environment"
    assert "Bytecode compiled" not in runs[1].stderr, runs[1].stderr
