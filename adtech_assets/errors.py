"""The one error type a user sees: it names the problem and what to do about it.

It is a ``dagster.Failure`` so that a step raising it fails with its text as the description,
and, unless it is a ``TransientError``, without retries: Dagster's ``RetryPolicy`` is
bypassed for a ``Failure(allow_retries=False)`` (a bad setting, a source column gone, a value
that cannot be converted fail the same way on every attempt). Other exceptions (a connection
dropped mid-query) are retried as the policy says.
"""

from dagster import Failure


class AdtechError(Failure):
    """A problem the user can fix (config, reachability, credentials, schema, data).

    The CLI prints it as a single line without a traceback; in a step it is the step's failure
    description. Messages never contain secrets. Retrying cannot help, so steps do not.
    """

    retriable = False

    def __init__(self, message: str):
        super().__init__(description=message, allow_retries=self.retriable)

    def __reduce__(self):  # picklable with its one argument, as a plain exception is
        return (type(self), (self.description,))


class TransientError(AdtechError):
    """A database that did not answer (refused, timed out): a retry may well succeed, so steps
    retry it as their ``RetryPolicy`` says, and the CLI still prints one line when it gives up."""

    retriable = True
