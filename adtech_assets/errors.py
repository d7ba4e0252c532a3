"""The one error type a user sees: it names the problem and what to do about it.

A plain exception, so that the modules that raise it import without Dagster (a pass with
nothing to do never loads Dagster). At a step's boundary it becomes a ``dagster.Failure``
(``defs.step_failures``).
"""

import shutil
from pathlib import Path


class AdtechError(Exception):
    """A problem the user can fix (config, reachability, credentials, schema, data).

    The CLI prints it as a single line without a traceback; in a step it is the step's failure
    description. Messages never contain secrets. Retrying cannot help, so steps do not.
    """

    retriable = False


class TransientError(AdtechError):
    """A database that did not answer (refused, timed out): a retry may well succeed, so steps
    retry it as their ``RetryPolicy`` says, and the CLI still prints one line when it gives up."""

    retriable = True


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, the root cause last: a
    driver wraps the reason (a full disk, a refused connection) in exceptions of its own."""
    chain = [exc]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) is not None and nxt not in chain:
        chain.append(nxt)
    return chain


def disk_full(path: Path, cause: str, remedy: str) -> AdtechError:
    """The line for a write that found no room on the disk holding ``path``: the path, the
    disk's free and total space (of its nearest existing folder), the cause and ``remedy``."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    return AdtechError(f"no room to write in {path} ({cause}): {_size(usage.free)} free of "
                       f"{_size(usage.total)} on its disk: free space on that disk or {remedy}")


def _size(n: float) -> str:
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    step = 0
    while n >= 1024 and step < len(units) - 1:
        n, step = n / 1024, step + 1
    return f"{n:.0f} bytes" if step == 0 else f"{n:.1f} {units[step]}"
