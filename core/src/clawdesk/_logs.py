"""The CLI's log: every ``clawdesk chat`` exchange in a SQLite database.

``logs.db`` in the clawdesk home (see :mod:`clawdesk._home`), created with
mode 0600. One row per exchange in table ``responses``:

============================  ==================================================================
column                        what
============================  ==================================================================
``id``                        the exchange's id (sortable by time)
``conversation_id``           the conversation it belongs to (``chat -c`` / ``--cid`` continue one)
``datetime_utc``              when it started, ISO 8601 in UTC
``requested_model``           ``-m`` as given, or ``NULL`` for the fallback chain
``provider``, ``model``       who answered (``NULL`` when nobody did)
``prompt``, ``system``        what was asked, and the system prompt
``options_json``              the ``-o`` options, as JSON
``attachments_json``          each attachment's kind, media type, and URL or file name, size and sha256
``prompt_json``               the user message in clawdesk's JSON shape (attachments' data included)
``response``, ``reasoning``   the answer's text and its reasoning (what was delivered, on failure)
``response_json``             the assistant message in clawdesk's JSON shape (signatures, tool calls)
``finish_reason``             ``stop``, ``length``, ``tool_calls``, ``content_filter``, ...
``input_tokens``,             the usage as the provider reported it (``usage_json`` holds it all)
``output_tokens``
``attempts_json``             every try and skip of the fallback chain
``duration_ms``               how long the exchange took
``error``                     the one-line error, when it failed (``NULL`` on success)
============================  ==================================================================

What is stored is what the user typed (as typed) and what came back: the
answer, its reasoning, the attempts and the one-line error, each scrubbed of
every API key clawdesk knows (:func:`clawdesk._secret.redact`) before it is
written, so that even a backend echoing the key back cannot put it here.

Logging is on by default; ``clawdesk logs off`` creates the file
``logs-off`` in the clawdesk home, ``clawdesk logs on`` removes it.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attrs import frozen

from ._errors import ConfigError
from ._home import logs_off_path, logs_path, private_dir
from ._secret import redact

__all__ = ["LogEntry", "LogStore", "logging_enabled", "new_id", "set_logging"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    datetime_utc TEXT NOT NULL,
    requested_model TEXT,
    provider TEXT,
    model TEXT,
    prompt TEXT NOT NULL,
    system TEXT,
    options_json TEXT NOT NULL,
    attachments_json TEXT NOT NULL,
    prompt_json TEXT NOT NULL,
    response TEXT,
    reasoning TEXT,
    response_json TEXT,
    finish_reason TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    usage_json TEXT,
    attempts_json TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS responses_conversation ON responses (conversation_id, id);
"""
_COLUMNS = (
    "id",
    "conversation_id",
    "datetime_utc",
    "requested_model",
    "provider",
    "model",
    "prompt",
    "system",
    "options_json",
    "attachments_json",
    "prompt_json",
    "response",
    "reasoning",
    "response_json",
    "finish_reason",
    "input_tokens",
    "output_tokens",
    "usage_json",
    "attempts_json",
    "duration_ms",
    "error",
)


_last_id = [0, 0]  # the last id's millisecond and its sequence number within that millisecond
_id_lock = threading.Lock()


def new_id() -> str:
    """A new id that sorts by time: 12 hex digits of milliseconds since the epoch, 4 of a sequence, 6 random.

    Ids made in the same millisecond by one process still sort in the order they were made (the
    sequence counts up; a clock that steps back keeps the last millisecond), so "newest first" holds
    for a burst of exchanges too.
    """
    ms = time.time_ns() // 1_000_000
    with _id_lock:
        if ms <= _last_id[0]:
            ms = _last_id[0]
            _last_id[1] += 1
        else:
            _last_id[0], _last_id[1] = ms, 0
        sequence = _last_id[1]
    return f"{ms:012x}{sequence & 0xFFFF:04x}{secrets.token_hex(3)}"


def now_utc() -> str:
    """The time now, as ``2026-12-02T14:31:07.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@frozen(kw_only=True)
class LogEntry:
    """One logged exchange; the fields are the columns of the module docstring's table."""

    id: str
    conversation_id: str
    datetime_utc: str
    requested_model: str | None
    provider: str | None
    model: str | None
    prompt: str
    system: str | None
    options: Mapping[str, Any]
    attachments: Sequence[Mapping[str, Any]]
    prompt_json: Mapping[str, Any]
    response: str | None
    reasoning: str | None
    response_json: Mapping[str, Any] | None
    finish_reason: str | None
    input_tokens: int | None
    output_tokens: int | None
    usage: Mapping[str, Any] | None
    attempts: Sequence[Mapping[str, Any]]
    duration_ms: int
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``clawdesk logs list --json`` prints; the messages' JSON is left out)."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "datetime_utc": self.datetime_utc,
            "requested_model": self.requested_model,
            "provider": self.provider,
            "model": self.model,
            "prompt": self.prompt,
            "system": self.system,
            "options": dict(self.options),
            "attachments": [dict(a) for a in self.attachments],
            "response": self.response,
            "reasoning": self.reasoning,
            "finish_reason": self.finish_reason,
            "usage": dict(self.usage) if self.usage is not None else None,
            "attempts": [dict(a) for a in self.attempts],
            "duration_secs": self.duration_ms / 1000,
            "error": self.error,
        }


def logging_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``clawdesk chat`` logs by default (no ``logs-off`` file in the clawdesk home)."""
    return not logs_off_path(env).exists()


def set_logging(on: bool, env: Mapping[str, str] | None = None) -> None:
    """Turn logging on (remove ``logs-off``) or off (create it)."""
    marker = logs_off_path(env)
    if on:
        marker.unlink(missing_ok=True)
    else:
        private_dir(marker.parent)
        marker.touch()


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class LogStore:
    """The log database at ``path`` (default: :func:`~clawdesk._home.logs_path`), opened on first use.

    Every error (a file that is not a database, a directory that cannot be
    written) is a :class:`~clawdesk.ConfigError` naming the file.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else logs_path()
        self._db: sqlite3.Connection | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                if not self.path.exists():
                    private_dir(self.path.parent)
                    # Created here with 0600, before SQLite makes it with the umask's mode.
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
                db = sqlite3.connect(self.path, timeout=5.0)
                db.executescript(_SCHEMA)
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.commit()
            except (sqlite3.Error, OSError) as exc:
                raise ConfigError(f"cannot use the log database: {exc}", file=str(self.path)) from None
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def add(self, entry: LogEntry) -> None:
        """Store ``entry``; what came back (answer, reasoning, attempts, error) is scrubbed of known keys first."""
        row = {
            "id": entry.id,
            "conversation_id": entry.conversation_id,
            "datetime_utc": entry.datetime_utc,
            "requested_model": entry.requested_model,
            "provider": entry.provider,
            "model": entry.model,
            "prompt": entry.prompt,
            "system": entry.system,
            "options_json": _dumps(dict(entry.options)),
            "attachments_json": _dumps([dict(a) for a in entry.attachments]),
            "prompt_json": _dumps(dict(entry.prompt_json)),
            "response": _scrub(entry.response),
            "reasoning": _scrub(entry.reasoning),
            "response_json": _scrub(_dumps(dict(entry.response_json)) if entry.response_json is not None else None),
            "finish_reason": entry.finish_reason,
            "input_tokens": entry.input_tokens,
            "output_tokens": entry.output_tokens,
            "usage_json": _scrub(_dumps(dict(entry.usage)) if entry.usage is not None else None),
            "attempts_json": redact(_dumps([dict(a) for a in entry.attempts])),
            "duration_ms": entry.duration_ms,
            "error": _scrub(entry.error),
        }
        db = self._connect()
        try:
            with db:
                db.execute(
                    f"INSERT INTO responses ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    [row[c] for c in _COLUMNS],
                )
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot write the log database: {exc}", file=str(self.path)) from None

    def entries(
        self, *, limit: int | None = 3, query: str | None = None, conversation_id: str | None = None
    ) -> list[LogEntry]:
        """The newest ``limit`` entries (``None`` or 0: all), oldest first.

        ``query`` keeps those whose prompt, system prompt or answer contains
        it (case-insensitive for ASCII); ``conversation_id`` those of one
        conversation. A missing database has no entries (and is not created).
        """
        if not self.path.exists():
            return []
        where, params = [], []
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(prompt LIKE ? ESCAPE '\\' OR response LIKE ? ESCAPE '\\' OR system LIKE ? ESCAPE '\\')")
            params += [pattern] * 3
        if conversation_id:
            where.append("conversation_id = ?")
            params.append(conversation_id)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM responses"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = self._read(sql, params)
        return [_entry(row) for row in reversed(rows)]

    def latest_conversation(self) -> str | None:
        """The conversation of the newest entry, or ``None`` when there is none."""
        if not self.path.exists():
            return None
        rows = self._read("SELECT conversation_id FROM responses ORDER BY id DESC LIMIT 1", [])
        return str(rows[0][0]) if rows else None

    def conversation(self, conversation_id: str) -> list[LogEntry]:
        """Every entry of one conversation, oldest first (failed exchanges included)."""
        return self.entries(limit=None, conversation_id=conversation_id)

    def counts(self) -> tuple[int, int]:
        """How many conversations and how many exchanges are logged."""
        if not self.path.exists():
            return 0, 0
        rows = self._read("SELECT COUNT(DISTINCT conversation_id), COUNT(*) FROM responses", [])
        return int(rows[0][0]), int(rows[0][1])

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        db = self._connect()
        try:
            return list(db.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot read the log database: {exc}", file=str(self.path)) from None


def _scrub(text: str | None) -> str | None:
    return redact(text) if text is not None else None


def _entry(row: Sequence[Any]) -> LogEntry:
    data = dict(zip(_COLUMNS, row, strict=True))

    def loads(key: str, default: Any) -> Any:
        text = data[key]
        return json.loads(text) if text else default

    return LogEntry(
        id=data["id"],
        conversation_id=data["conversation_id"],
        datetime_utc=data["datetime_utc"],
        requested_model=data["requested_model"],
        provider=data["provider"],
        model=data["model"],
        prompt=data["prompt"],
        system=data["system"],
        options=loads("options_json", {}),
        attachments=loads("attachments_json", []),
        prompt_json=loads("prompt_json", {}),
        response=data["response"],
        reasoning=data["reasoning"],
        response_json=loads("response_json", None),
        finish_reason=data["finish_reason"],
        input_tokens=data["input_tokens"],
        output_tokens=data["output_tokens"],
        usage=loads("usage_json", None),
        attempts=loads("attempts_json", []),
        duration_ms=data["duration_ms"],
        error=data["error"],
    )
