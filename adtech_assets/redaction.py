"""Secrets out of every text a user or a log can see, one function per form that carries one.

libpq takes a password in a URL's userinfo (``postgresql://u:pw@h/db``), as a URL query
parameter (``?password=pw``), as a keyword (``host=h password=pw``) or from ``PGPASSWORD``; the
ClickHouse URL in its userinfo or as ``?password=``. Redacting by form keeps what identifies the
target (user, host, port, database). Texts we did not write (a driver's error) may quote any
form, or the bare value, so ``redact_text`` applies every rule and removes known values too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote

MASK = "***"
# libpq's secret keywords (``pq.Conninfo.get_defaults()``); ``password`` is also ClickHouse's.
SECRET_KEYS = frozenset(
    {"password", "sslpassword", "scram_client_key", "scram_server_key", "oauth_client_secret"}
)

_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
_URL = re.compile(_SCHEME + r"[^\s'\"<>]*")
# user ':' password '@' -- the last '@' before the path, as urlsplit reads the netloc
_USERINFO_PASSWORD = re.compile(rf"^(?P<head>{_SCHEME}[^:/?#@]*):[^/?#]*@")
# keyword '=' value, as libpq reads it: spaces allowed around '=', a value quoted with '...'
# (backslash escapes) or unquoted up to the next space
_KEYWORD_SECRET = re.compile(
    rf"(?<![\w.-])(?P<key>{'|'.join(sorted(SECRET_KEYS))})(?P<eq>\s*=\s*)"
    r"(?:'(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)+)"
)


def redact_url(url: str) -> str:
    """A URL with the password in its userinfo and every secret query parameter masked."""
    url = _USERINFO_PASSWORD.sub(rf"\g<head>:{MASK}@", url, count=1)
    base, mark, rest = url.partition("?")
    if not mark:
        return url
    query, hash_, fragment = rest.partition("#")
    pairs = []
    for pair in query.split("&"):
        key, eq, _ = pair.partition("=")
        pairs.append(f"{key}={MASK}" if eq and unquote(key) in SECRET_KEYS else pair)
    return f"{base}?{'&'.join(pairs)}{hash_}{fragment}"


def redact_keywords(conninfo: str) -> str:
    """A libpq keyword string (``host=h password=pw``) with every secret value masked."""
    return _KEYWORD_SECRET.sub(rf"\g<key>\g<eq>{MASK}", conninfo)


def redact_conninfo(conninfo: str) -> str:
    """A connection string in either libpq form (URL or keywords), secrets masked."""
    return redact_url(conninfo) if re.match(rf"\s*{_SCHEME}", conninfo) else redact_keywords(conninfo)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """A text we did not write (a driver's message): the known ``secrets`` (decoded, and as a URL
    quotes them) masked wherever they occur, then any URL or keyword form in it."""
    values = {v for s in secrets if s for v in (s, quote(s, safe=""), quote(s))}
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    return redact_keywords(_URL.sub(lambda m: redact_url(m.group(0)), text))


def first_line(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The first line of a driver's message, redacted: the reason part of one of our errors."""
    text = redact_text(str(exc), secrets).strip()  # before cutting: no secret is cut in half
    return text.splitlines()[0][:300] if text else type(exc).__name__
