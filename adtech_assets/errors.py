"""The one error type a user sees: it names the problem and what to do about it."""


class AdtechError(Exception):
    """A problem the user can fix (config, reachability, credentials, data).

    The CLI prints it as a single line without a traceback; assets turn it into a
    ``dagster.Failure`` with the same text. Messages never contain secrets.
    """
