"""Secrets (API keys) that cannot leak by accident.

A :class:`Secret` shows as ``'***'`` in ``repr``, ``str`` and f-strings; the
value comes out only through :meth:`Secret.reveal`, which is called where the
key goes on the wire and nowhere else.

As a second line of defence every revealed value is remembered (for the life
of the process) so :func:`redact` can scrub it from text we did not write,
such as an error body a server echoed back. The set only grows and holds no
state a test must reset: redacting more never hurts.

:func:`redact` also masks the user info of any URL (``https://user:pw@host``
shows as ``https://***@host``: proxy URLs carry passwords) and the head of a
known key that a cut left before ``...``/``…``, so a message shortened
after redaction still shows no part of a key; :func:`redact_cut` cuts a
text and masks a head the cut left at its end.
"""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = ["RedactingFilter", "Secret", "redact"]

_MASK: Final = "***"
# Keys shorter than this are not scrubbed from free text: "a" would mangle every
# message, and a key that short is not a secret worth the name.
_MIN_SCRUB_LEN: Final = 6
_known: set[str] = set()
# The user info of a URL: "scheme://user:password@" (also inside a repr or a longer text).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#@\s'\"<>]*@")
# What a cut leaves after the head of a text: an ellipsis (maybe after a repr's quote).
_CUT = re.compile(r"['\"]?(?:\.\.\.|…)")
# The same, or the text's very end (for text known to be cut there).
_CUT_OR_END = re.compile(r"['\"]?(?:\.\.\.|…)|['\"]?$")


class Secret:
    """A string that never shows itself. Compare with ``==``; get it with :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret wants a str, got {type(value).__name__}")
        self._value = value
        stripped = value.strip()
        if len(stripped) >= _MIN_SCRUB_LEN:
            # The stripped form too: a message may hold the key without the newline a secrets file left.
            _known.update((value, stripped))
            _guard_loggers()

    def reveal(self) -> str:
        """The secret value, for an ``Authorization`` header and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __copy__(self) -> Secret:
        return self  # immutable: a copy may be the same object (and copying must not go through pickling)

    def __deepcopy__(self, memo: object) -> Secret:
        return self

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the key to wherever the pickle goes.
        raise TypeError("a Secret cannot be pickled")


def redact(text: str) -> str:
    """``text`` with every known secret, and the user info of every URL, replaced by ``***``.

    Run it on the raw text, before cutting or tidying whitespace. As a net
    for text cut before it was redacted, the head of a known key (6
    characters or more) is masked too where an ellipsis follows it.
    """
    if "@" in text and "://" in text:
        text = _USERINFO.sub(r"\1***@", text)
    if not _known:
        return text
    for value in _known:
        if value in text:
            text = text.replace(value, _MASK)
    return _mask_heads(text, _CUT)


def redact_cut(text: str, limit: int) -> str:
    """``text`` redacted and cut to at most ``limit`` characters, leaving no head of a key at the cut."""
    text = redact(text)
    if len(text) <= limit:
        return text
    return _mask_heads(text[:limit], _CUT_OR_END)[:limit]


def _mask_heads(text: str, cut: re.Pattern[str]) -> str:
    for value in _known:
        head = value[:_MIN_SCRUB_LEN]
        start = text.find(head)
        while start >= 0:
            end = start + _MIN_SCRUB_LEN
            while end < len(text) and end - start < len(value) and text[end] == value[end - start]:
                end += 1
            if cut.match(text, end):
                text = text[:start] + _MASK + text[end:]
                end = start + len(_MASK)
            start = text.find(head, end)
    return text


#: Loggers of the HTTP stack that may print what a server sent (httpcore logs
#: response headers at DEBUG, and a server may echo the key back in one).
_HTTP_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.connection_pool",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_guarded = False


def _guard_loggers() -> None:
    # A filter on a logger runs only for records made by that very logger (not
    # for its children's), so each HTTP logger gets one. It runs only when
    # that logger is enabled for the record's level: free unless debugging.
    global _guarded
    if _guarded:
        return
    _guarded = True
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs known secrets from every record's message.

    The CLI installs it on its log handler, and it guards httpx's and
    httpcore's loggers as soon as a key exists; applications can add it to
    their own handlers. It never raises, even for a malformed log call.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call: the handler reports it, a filter must not raise
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
