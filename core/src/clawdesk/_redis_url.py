"""Redis URLs: ``redis://``, ``rediss://`` (TLS) and ``unix://``, read without any I/O.

Kept apart from :mod:`clawdesk._redis` so that checking ``[state] url`` while
loading a config imports no socket code. A URL may hold a password: no error
here quotes the URL, and :attr:`RedisUrl.safe` is the form fit for messages.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

from attrs import field, frozen

from ._secret import Secret

__all__ = ["RedisUrl", "parse_redis_url"]

_FORMS = "redis://[[user]:password@]host[:port][/db], rediss://... (TLS) or unix:///path/to/redis.sock[?db=N]"


@frozen(kw_only=True)
class RedisUrl:
    """Where a Redis server is and how to log in. ``password`` never shows in a repr."""

    scheme: str
    host: str = ""
    port: int = 6379
    path: str = ""
    db: int = 0
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    @property
    def safe(self) -> str:
        """The URL without user name or password, for logs and messages."""
        if self.scheme == "unix":
            return f"unix://{self.path}" + (f"?db={self.db}" if self.db else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/{self.db}"


def parse_redis_url(url: str) -> RedisUrl:
    """Read ``url``; raises :class:`ValueError` saying what is wrong, without quoting the URL.

    Edge cases: no port means 6379; no path (or ``/``) means database 0; a
    user name without a password is refused (Redis has no such login);
    percent-escapes in user name and password are decoded; query parameters
    other than ``db`` (and ``db`` given twice, in the path and the query) are
    refused rather than ignored.
    """
    if not isinstance(url, str):
        raise ValueError(f"expected a string, got {type(url).__name__}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"not a valid URL; expected {_FORMS}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        shown = scheme if scheme.isalnum() and len(scheme) <= 10 else "?"
        raise ValueError(f"unsupported scheme {shown!r}; expected {_FORMS}")
    if parts.fragment:
        raise ValueError(f"a Redis URL has no #fragment; expected {_FORMS}")
    username = unquote(parts.username) if parts.username else None
    password = Secret(unquote(parts.password)) if parts.password else None
    if username and password is None:
        raise ValueError("a user name needs a password (redis://user:password@host)")
    query = parse_qsl(parts.query, keep_blank_values=True)
    db_from_query = None
    for key, value in query:
        if key != "db" or db_from_query is not None:
            raise ValueError(f"unsupported query parameter {key!r} (only db=N is read)")
        db_from_query = _db(value)
    if scheme == "unix":
        if parts.hostname:  # unix://host/path has no meaning; unix:///path (empty host) is the form
            raise ValueError(f"a unix socket URL has no host; expected {_FORMS}")
        if not parts.path or parts.path == "/":
            raise ValueError(f"a unix socket URL needs the socket's path; expected {_FORMS}")
        return RedisUrl(
            scheme=scheme,
            path=parts.path,
            db=db_from_query or 0,
            username=username or None,
            password=password,
        )
    host = parts.hostname
    if not host:
        raise ValueError(f"no host; expected {_FORMS}")
    path = parts.path.strip("/")
    if path and db_from_query is not None:
        raise ValueError("the database is given twice (path and ?db=)")
    db = _db(path) if path else (db_from_query or 0)
    return RedisUrl(
        scheme=scheme,
        host=host,
        port=port if port is not None else 6379,
        db=db,
        username=username or None,
        password=password,
    )


def _db(text: str) -> int:
    if not text.isdigit() or len(text) > 5:
        raise ValueError("the database must be a number (redis://host:6379/0)")
    return int(text)
