"""The one error type a user sees: it names the problem and what to do about it.

A plain exception, so that the modules that raise it import without Dagster (a pass with
nothing to do never loads Dagster). At a step's boundary it becomes a ``dagster.Failure``
(``defs.step_failures``).
"""


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
