"""A clean export of the checkout: what a fresh clone of it would hold, for the tests that build
or run the project as a new user does, whatever the checkout's own ``.data/``, venv and caches."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from adtech_assets.settings import PROJECT_ROOT

# Without git (an unpacked archive): the tree without what never belongs to a clone.
LOCAL_ONLY_PATTERNS = (".git", ".venv", ".data", ".dagster_home", "__pycache__", "*.pyc", ".pytest_cache",
                       ".ruff_cache", "dist", "*.egg-info", "tmp*")


def clean_export(destination: Path) -> Path:
    """The checkout's files as a commit of its working tree would hold them (tracked files as
    they are now, and new files that git does not ignore), copied to ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT_ROOT, capture_output=True, timeout=60)
    if listed.returncode != 0:
        shutil.copytree(PROJECT_ROOT, destination, symlinks=True,
                        ignore=shutil.ignore_patterns(*LOCAL_ONLY_PATTERNS))
        return destination
    for name in sorted(set(filter(None, listed.stdout.decode().split("\0")))):
        source = PROJECT_ROOT / name
        if source.is_file() or source.is_symlink():  # a tracked file deleted in the tree is left out
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name, follow_symlinks=False)
    return destination
