"""The package's layers hold: the engine and the databases never need Dagster, and no module
imports one above it.

``engine/``, ``db/`` and the modules they stand on run in a pass with nothing to do, which
never loads Dagster (test_idle_pass.py runs that pass); here every one of them is imported in a
fresh interpreter where ``dagster`` cannot be imported at all, so a module that needs it fails
by name. The layer order is read from the source: each module's ``adtech_assets`` imports
(also those inside functions) may only point at its own layer or one below.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import adtech_assets

PACKAGE = Path(adtech_assets.__file__).parent
# From the bottom up. A module imports only from its own layer or a lower one.
LAYERS = [
    ["adtech_assets.errors", "adtech_assets.redaction", "adtech_assets.settings", "adtech_assets.catalog"],
    ["adtech_assets.db"],
    ["adtech_assets.engine"],
    ["adtech_assets.runtime"],
    ["adtech_assets.defs"],
    ["adtech_assets.cli"],
    ["adtech_assets.definitions"],
]
# What runs without Dagster: every module of these layers, and of the CLI what a pass with
# nothing to do imports.
DAGSTER_FREE = ["adtech_assets.errors", "adtech_assets.redaction", "adtech_assets.settings",
                "adtech_assets.catalog", "adtech_assets.db", "adtech_assets.engine",
                "adtech_assets.runtime.gc_tuning", "adtech_assets.runtime.worker_marks",
                "adtech_assets.cli.main", "adtech_assets.cli.output", "adtech_assets.cli.home",
                "adtech_assets.cli.sync.command", "adtech_assets.cli.sync.plan", "adtech_assets.cli.sync.report"]

BLOCK_DAGSTER = """
import importlib, json, sys

class NoDagster:
    def find_spec(self, name, path=None, target=None):
        if name == "dagster" or name.startswith(("dagster.", "dagster_")):
            raise ImportError(f"dagster is blocked: {name}")
        return None

sys.meta_path.insert(0, NoDagster())
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed[name] = str(exc)
print(json.dumps(failed))
"""


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def layer_of(name: str) -> int:
    for index, layer in enumerate(LAYERS):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in layer):
            return index
    raise AssertionError(f"{name} belongs to no layer: add it to LAYERS")


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("adtech_assets"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("adtech_assets"))
    return names - {"adtech_assets"}


def test_engine_and_databases_import_without_dagster():
    names = [name for name in modules() if any(name == p or name.startswith(p + ".") for p in DAGSTER_FREE)]
    assert len(names) > 30, names
    result = subprocess.run([sys.executable, "-c", BLOCK_DAGSTER, json.dumps(names)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    failed = json.loads(result.stdout)
    assert failed == {}, f"these modules need Dagster: {failed}"


def test_the_block_catches_a_module_that_needs_dagster():
    """The check above could fail: a Dagster module is refused under the same block."""
    result = subprocess.run([sys.executable, "-c", BLOCK_DAGSTER, json.dumps(["adtech_assets.defs.keys"])],
                            capture_output=True, text=True, timeout=120)
    assert "adtech_assets.defs.keys" in json.loads(result.stdout)


def test_no_module_imports_a_layer_above_its_own():
    found = modules()
    upward = [f"{name} -> {target}" for name, path in found.items() for target in imported(path)
              if layer_of(target) > layer_of(name)]
    assert upward == []
