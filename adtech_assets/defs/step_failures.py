"""An ``AdtechError`` leaves a step as a ``dagster.Failure``.

So the step fails with the error's text as its description and, unless it is a
``TransientError``, without retries: Dagster's ``RetryPolicy`` is bypassed for a
``Failure(allow_retries=False)`` (a bad setting, a source column gone, a value that cannot be
converted fail the same way on every attempt). Other exceptions (a connection dropped
mid-query) are retried as the policy says.

The Failure is raised without its cause: the line says it all, and Dagster prints a cause's
stack after the step's own (``dg launch`` and the UI showed two stack traces per step). On the
console the step's own stack goes too (``OneLineFailures``); the run's log keeps it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import TypeVar

from dagster import Failure

from adtech_assets.errors import AdtechError

# The failure's metadata entry naming the AdtechError class it came from
ERROR_CLASS = "adtech/error"

F = TypeVar("F", bound=Callable)


def as_step_failure(compute: F) -> F:
    """``compute`` (an asset's, a check's or an observation's function, or a generator of
    results), raising any AdtechError as the Failure that says it."""

    def failure(exc: AdtechError) -> Failure:
        return Failure(description=str(exc), allow_retries=exc.retriable, metadata={ERROR_CLASS: type(exc).__name__})

    if inspect.isgeneratorfunction(compute):
        @functools.wraps(compute)
        def results(*args, **kwargs):
            try:
                yield from compute(*args, **kwargs)
            except AdtechError as exc:
                raise failure(exc) from None

        return results  # type: ignore[return-value]

    @functools.wraps(compute)
    def step(*args, **kwargs):
        try:
            return compute(*args, **kwargs)
        except AdtechError as exc:
            raise failure(exc) from None

    return step  # type: ignore[return-value]


def adtech_error_of(failure_data) -> str | None:
    """The AdtechError class name that a step failure came from (None for other failures)."""
    user = failure_data.user_failure_data
    entry = user.metadata.get(ERROR_CLASS) if user and user.metadata else None
    return getattr(entry, "value", entry) if entry is not None else None


class OneLineFailures(logging.Handler):
    """Prints nothing: it shortens, for the console, a step failure that adtech explains to its
    headline and the sentence (a range given end first made ``dg launch`` print 70 lines of
    Dagster's frames around one sentence). Other failures keep their stack.

    Dagster's console logger cannot be swapped for the CLI (a job's loggers are used only when
    the run config names them), but the handlers of the instance's ``python_logs`` get each
    record first, once the run's event log has stored it, and the loggers print the same
    record's message after them. ``cli.home.instance_yaml`` installs it."""

    def emit(self, record: logging.LogRecord) -> None:
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is None or not event.is_step_failure or not isinstance(record.msg, str):
            return
        data = event.step_failure_data
        if adtech_error_of(data) is None:
            return
        headline = record.msg.split("\n\n", 1)[0].rstrip(".")
        record.msg = f"{headline}: {data.user_failure_data.description}"
