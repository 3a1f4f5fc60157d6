"""``clawdesk chat``: one answer (or an interactive session) through the fallback engine.

Without ``-m`` the configured chain is used (:func:`~clawdesk.default_candidates`);
``-m provider/model`` pins one model (retries still apply). ``-o KEY VALUE``
sets an option (``temperature``, ``max_tokens``, ...) or, as
``PROVIDER.KEY``, a provider option; ``-a FILE|URL`` attaches an image (or a
PDF). ``-c`` / ``--cid ID`` continue a logged conversation. ``--explain``
prints every attempt and skip on stderr as it happens; ``--json`` prints one
object at the end (also on failure: ``error``, the ``attempts`` and, for a
stream cut short, the ``content`` delivered before the cut).

On a terminal: the model's reasoning is shown dimmed before the answer (else
it goes to stderr, so a pipe gets only the answer), and a small spinner on
stderr waits for the first token (never with ``--json`` or when piped). An
answer cut short by the length limit or a content filter adds a warning line
on stderr.

Every exchange is logged (see :mod:`clawdesk._logs`) unless logging is off
(``clawdesk logs off``) or ``--no-log`` is given. Errors are raised to
:mod:`clawdesk._cli`, which prints one line and sets the exit status; the
interactive session prints them and goes on.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from attrs import define, field

from ._errors import (
    AllProvidersFailed,
    ClawdeskError,
    ConfigError,
    ProviderError,
    ProviderNotFound,
    StreamInterrupted,
)
from ._types import (
    ChatOptions,
    ChatResponse,
    ContentPart,
    DocumentPart,
    FinishReason,
    ImagePart,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningEffort,
    TextDelta,
    ToolCall,
    Usage,
)

if TYPE_CHECKING:
    from ._client import Clawdesk
    from ._fallback import Attempt
    from ._logs import LogEntry, LogStore

__all__ = ["ChatSettings", "run_chat", "run_interactive", "settings_from_args"]

#: The largest attachment read from a file.
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024

# `-o KEY VALUE`: ChatOptions fields (and the two halves of `reasoning`) and the type each takes.
_OPTION_TYPES: dict[str, Any] = {
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "max_tokens": int,
    "seed": int,
    "stop": tuple[str, ...],
    "timeout": float,
    "reasoning_effort": str,
    "reasoning_budget": int,
}
_EFFORTS = [e.value for e in ReasoningEffort]

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
)

DIM, UNDIM = "\x1b[2m", "\x1b[22m"


# -- settings: options, attachments, continuation ---------------------------------------------------


@define
class ChatSettings:
    """What one ``clawdesk chat`` run asks for, checked before anything is sent."""

    model: str | None
    system: str | None
    options: ChatOptions
    option_values: dict[str, Any]
    attachments: list[ContentPart] = field(factory=list)
    attachment_meta: list[dict[str, Any]] = field(factory=list)
    history: list[Message] = field(factory=list)
    conversation_id: str | None = None
    log: bool = True


def _value(raw: str) -> Any:
    """A ``-o`` value: JSON when it parses (``0.2``, ``true``, ``["a"]``), else the text itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _structure(hint: Any, raw: str, path: str) -> Any:
    from ._config import _structure_value

    parsed = _value(raw)
    if hint == tuple[str, ...] and not isinstance(parsed, list):
        parsed = [raw]  # one stop sequence, as typed
    if hint is str:
        parsed = raw
    return _structure_value(hint, parsed, path, None)


def parse_options(client: Clawdesk, pairs: Sequence[Sequence[str]]) -> tuple[ChatOptions, dict[str, Any]]:
    """``-o KEY VALUE`` pairs as :class:`~clawdesk.ChatOptions`, and the values as given (for the log).

    ``KEY`` is a chat option or ``PROVIDER.OPTION`` (checked against that
    provider's options class). Raises :class:`~clawdesk.ConfigError` naming
    the option for an unknown one or a value of the wrong type.
    """
    kwargs: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    tables: dict[str, dict[str, Any]] = {}
    for key, raw in pairs:
        where = f"-o {key}"
        provider, dot, option = key.partition(".")
        if dot:
            tables.setdefault(provider, {})[option] = _provider_option(client, provider, option, raw, where)
            shown[key] = tables[provider][option]
            continue
        hint = _OPTION_TYPES.get(key)
        if hint is None:
            close = difflib.get_close_matches(key, list(_OPTION_TYPES), n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"unknown option ({guess}options: {', '.join(_OPTION_TYPES)}; or PROVIDER.OPTION for a provider's own)",
                path=where,
            )
        value = _structure(hint, raw, where)
        if key == "reasoning_effort" and value not in _EFFORTS:
            raise ConfigError(f"expected one of {', '.join(_EFFORTS)}, got {raw!r}", path=where)
        kwargs[key] = value
        shown[key] = list(value) if isinstance(value, tuple) else value
    effort = kwargs.pop("reasoning_effort", None)
    budget = kwargs.pop("reasoning_budget", None)
    if effort is not None or budget is not None:
        try:
            kwargs["reasoning"] = Reasoning(effort=effort, budget_tokens=budget)
        except ValueError as exc:
            raise ConfigError(str(exc), path="-o reasoning_budget") from None
    try:
        options = ChatOptions(**kwargs, provider_options=tables)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"-o: {exc}") from None
    return options, shown


def _provider_option(client: Clawdesk, name: str, option: str, raw: str, where: str) -> Any:
    from ._config import structure_fields

    try:
        plugin = client.plugin(name)
    except ProviderNotFound as exc:
        raise ConfigError(exc.message, path=where) from None
    options_type = plugin.options_type
    if options_type is None:
        raise ConfigError(f"the {plugin.name} provider takes no provider options", path=where)
    first: ConfigError | None = None
    # The value as JSON first (true, 8192), then as the text typed ("low", "5m").
    for candidate in dict.fromkeys([json.dumps(_value(raw)), json.dumps(raw)]):
        value = json.loads(candidate)
        try:
            structure_fields(options_type, {option: value}, path=f"-o {name}")
        except ConfigError as exc:
            first = first or exc
            continue
        return value
    assert first is not None
    raise ConfigError(first.message.replace(f"-o {name}.{option}: ", ""), path=where) from None


def load_attachment(item: str) -> tuple[ContentPart, dict[str, Any]]:
    """``-a FILE|URL`` as a message part and what the log keeps of it (never the data).

    An ``http(s):`` or ``data:image/...`` URL is an image by reference; a
    file must be a PNG, JPEG, GIF or WebP image or a PDF (judged by its first
    bytes, not its name), at most 20 MiB. Raises :class:`~clawdesk.ConfigError`.
    """
    where = f"-a {item}"
    lowered = item.lower()
    if lowered.startswith(("http://", "https://", "data:image/")):
        return ImagePart(url=item), {"type": "image", "url": item if not lowered.startswith("data:") else "data:..."}
    path = Path(item)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_ATTACHMENT_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("no such file (attachments are files or http(s) URLs)", path=where) from None
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}", path=where) from None
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ConfigError(f"larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB", path=where)
    media_type = next((m for magic, at, m in _MAGIC if data[at : at + len(magic)] == magic), None)
    if media_type == "image/webp" and not data.startswith(b"RIFF"):
        media_type = None
    if media_type is None:
        raise ConfigError("not an image (PNG, JPEG, GIF, WebP) or a PDF", path=where)
    meta = {
        "type": "document" if media_type == "application/pdf" else "image",
        "media_type": media_type,
        "name": path.name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if media_type == "application/pdf":
        return DocumentPart(data=data, media_type=media_type, name=path.name), meta
    return ImagePart(data=data, media_type=media_type), meta


def settings_from_args(client: Clawdesk, args: argparse.Namespace, store: LogStore | None) -> ChatSettings:
    """Check ``args`` (options, attachments, the conversation to continue) before anything is sent."""
    from ._logs import logging_enabled

    options, shown = parse_options(client, args.option or [])
    timeout = getattr(args, "timeout", None)
    if timeout is not None:
        options = _with_timeout(options, timeout)
        shown["timeout"] = options.timeout
    settings = ChatSettings(model=args.model, system=args.system, options=options, option_values=shown)
    for item in args.attachment or []:
        part, meta = load_attachment(item)
        settings.attachments.append(part)
        settings.attachment_meta.append(meta)
    settings.log = args.log if args.log is not None else logging_enabled()
    if args.cont or args.cid:
        _continue(settings, store, args.cid)
    return settings


def _with_timeout(options: ChatOptions, raw: str) -> ChatOptions:
    """``options`` with ``--timeout SECS`` applied; a value that is not seconds > 0 is a one-line error."""
    import math

    import attrs

    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= 3600):
        raise ConfigError(f"--timeout: expected seconds between 0 (exclusive) and 3600, got {raw!r}")
    return attrs.evolve(options, timeout=seconds)


def _continue(settings: ChatSettings, store: LogStore | None, cid: str | None) -> None:
    """Load the conversation to continue: its turns, its system prompt and (without ``-m``) its model."""
    from ._converter import make_converter

    if store is None:  # pragma: no cover - the CLI always has a store
        raise ConfigError("no log database to continue a conversation from")
    conversation = cid or store.latest_conversation()
    if conversation is None:
        raise ConfigError("no conversation to continue: the log is empty (see 'clawdesk logs')")
    entries = [e for e in store.conversation(conversation) if e.error is None and e.response_json is not None]
    if not entries:
        raise ConfigError(f"no conversation {conversation!r} in the log (see 'clawdesk logs list')")
    converter = make_converter()
    for entry in entries:
        settings.history.append(converter.structure(entry.prompt_json, Message))
        assert entry.response_json is not None
        settings.history.append(converter.structure(entry.response_json, Message))
    last = entries[-1]
    if settings.system is None:
        settings.system = last.system
    if settings.model is None and last.provider and last.model:
        settings.model = f"{last.provider}/{last.model}"
    settings.conversation_id = conversation


# -- the terminal -----------------------------------------------------------------------------------


def _tty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False


class Spinner:
    """A small spinner on stderr until the first token; a thread, so it needs nothing from the event loop."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self._stream = stream
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._enabled = enabled
        utf8 = (getattr(stream, "encoding", None) or "").lower().replace("-", "") == "utf8"
        self._frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏" if utf8 else "|/-\\"

    def start(self) -> None:
        if self._enabled and self._thread is None:
            self._thread = threading.Thread(target=self._spin, name="clawdesk-spinner", daemon=True)
            self._thread.start()

    def _spin(self) -> None:
        index = 0
        while not self._stop.is_set():
            self._stream.write("\r" + self._frames[index % len(self._frames)] + " ")
            self._stream.flush()
            index += 1
            self._stop.wait(0.08)

    def stop(self) -> None:
        """Stop and erase the spinner (idempotent); returns once the line is clean."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        self._stream.write("\r\x1b[K")
        self._stream.flush()


class Printer:
    """Where the events of an answer go: text on stdout, reasoning dimmed on a terminal (else on stderr)."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        out = sys.stdout
        dim_ok = _tty(out) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        self._reasoning_out: TextIO = out if dim_ok else sys.stderr
        self._dim = dim_ok
        self._in_reasoning = False
        self._reasoning_tail = "\n"
        self.open_line = False
        spin = not quiet and _tty(out) and _tty(sys.stderr) and os.environ.get("TERM") != "dumb"
        self.spinner = Spinner(sys.stderr, enabled=spin)

    def reasoning(self, text: str) -> None:
        if self.quiet or not text:
            return
        self.spinner.stop()
        out = self._reasoning_out
        if not self._in_reasoning:
            self._in_reasoning = True
            if self._dim:
                out.write(DIM)
        out.write(text)
        out.flush()
        self._reasoning_tail = text[-1]

    def _end_reasoning(self) -> None:
        if not self._in_reasoning:
            return
        self._in_reasoning = False
        out = self._reasoning_out
        if self._dim:
            out.write(UNDIM)
        # The answer starts after a blank line (on stdout), or the reasoning's last line ends (on stderr).
        if out is sys.stdout:
            out.write("\n" if self._reasoning_tail == "\n" else "\n\n")
        elif self._reasoning_tail != "\n":
            out.write("\n")
        out.flush()

    def text(self, text: str) -> None:
        if self.quiet or not text:
            return
        self.spinner.stop()
        self._end_reasoning()
        sys.stdout.write(text)
        sys.stdout.flush()
        self.open_line = not text.endswith("\n")

    def finish(self) -> None:
        """End the answer: stop the spinner, close the reasoning, end the line."""
        self.spinner.stop()
        self._end_reasoning()
        if self.open_line:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.open_line = False


# -- one exchange -----------------------------------------------------------------------------------


@define
class Outcome:
    """How one exchange went: the answer (or the error), who gave it, every attempt, how long it took."""

    response: ChatResponse | None
    attempts: list[Attempt]
    duration: float
    error: ClawdeskError | None = None
    partial_text: str = ""
    partial_reasoning: str = ""


def build_messages(settings: ChatSettings, prompt: str, *, attachments: bool) -> tuple[Message, list[Message]]:
    """The user message for ``prompt`` and every message to send (system, history, then it)."""
    content: list[ContentPart | str] = [prompt]
    if attachments:
        content += settings.attachments
    user = Message.user(content)
    messages = [Message.system(settings.system)] if settings.system else []
    return user, [*messages, *settings.history, user]


async def exchange(
    client: Clawdesk,
    settings: ChatSettings,
    messages: list[Message],
    *,
    stream: bool,
    printer: Printer,
    on_attempt: Callable[[Attempt], None],
) -> Outcome:
    """Send ``messages`` once, printing as it goes; errors are returned in the outcome, not raised."""
    seen: list[Attempt] = []

    def noted(attempt: Attempt) -> None:
        seen.append(attempt)
        on_attempt(attempt)

    started = time.monotonic()
    printer.spinner.start()
    try:
        if not stream:
            result = await client.engine.chat(settings.model, messages, settings.options, on_attempt=noted)
            printer.spinner.stop()
            response = result.response
            if response.message.reasoning:
                printer.reasoning(response.message.reasoning)
            printer.text(response.message.text)
            printer.finish()
            return Outcome(response, list(result.attempts), time.monotonic() - started)
        chat = client.engine.stream(settings.model, messages, settings.options, on_attempt=noted)
        async with chat:
            async for event in chat:
                if isinstance(event, TextDelta):
                    printer.text(event.text)
                elif isinstance(event, ReasoningDelta):
                    printer.reasoning(event.text)
        printer.finish()
        return Outcome(chat.response, list(chat.attempts), time.monotonic() - started)
    except ClawdeskError as exc:
        printer.finish()
        attempts = list(exc.attempts) if isinstance(exc, AllProvidersFailed) else _latest(seen)
        outcome = Outcome(None, attempts, time.monotonic() - started, error=exc)
        if isinstance(exc, StreamInterrupted):
            outcome.partial_text = "".join(e.text for e in exc.delivered if isinstance(e, TextDelta))
            outcome.partial_reasoning = "".join(e.text for e in exc.delivered if isinstance(e, ReasoningDelta))
        return outcome
    finally:
        printer.spinner.stop()


def _latest(seen: list[Attempt]) -> list[Attempt]:
    """The attempts as last reported (a started stream that failed reports its try twice)."""
    result: list[Attempt] = []
    for attempt in seen:
        if (
            result
            and attempt.outcome == "failed"
            and result[-1].outcome == "ok"
            and (result[-1].provider, result[-1].model, result[-1].number)
            == (attempt.provider, attempt.model, attempt.number)
        ):
            result[-1] = attempt
        else:
            result.append(attempt)
    return result


def warn_if_cut(response: ChatResponse) -> None:
    """One stderr line when the answer stopped early: the length limit or a content filter."""
    reason, raw = response.finish_reason, response.finish_reason_raw or response.finish_reason.value
    if reason is FinishReason.LENGTH:
        print(
            f"clawdesk: warning: the answer was cut short by the length limit (finish reason {_safe(repr(raw))}); "
            "raise it with -o max_tokens N",
            file=sys.stderr,
        )
    elif reason is FinishReason.CONTENT_FILTER:
        print(
            f"clawdesk: warning: a content filter stopped the answer part-way (finish reason {_safe(repr(raw))})",
            file=sys.stderr,
        )


def print_tool_calls(calls: Sequence[ToolCall]) -> None:
    for call in calls:
        print(f"[tool call {_safe(call.name)}({_json(dict(call.arguments))})]")


# -- logging ----------------------------------------------------------------------------------------


def log_entry(
    settings: ChatSettings,
    user: Message,
    prompt: str,
    outcome: Outcome,
    *,
    attachments: bool,
    started_utc: str,
    entry_id: str,
) -> LogEntry:
    """What the log keeps of one exchange (see :mod:`clawdesk._logs`)."""
    from ._converter import make_converter
    from ._logs import LogEntry

    converter = make_converter()
    response = outcome.response
    assert settings.conversation_id is not None
    error = outcome.error
    return LogEntry(
        id=entry_id,
        conversation_id=settings.conversation_id,
        datetime_utc=started_utc,
        requested_model=settings.model,
        provider=response.provider if response else None,
        model=response.model if response else None,
        prompt=prompt,
        system=settings.system,
        options=settings.option_values,
        attachments=settings.attachment_meta if attachments else [],
        prompt_json=converter.unstructure(user),
        response=response.message.text if response else (outcome.partial_text or None),
        reasoning=response.message.reasoning if response else (outcome.partial_reasoning or None),
        response_json=converter.unstructure(response.message) if response else None,
        finish_reason=response.finish_reason.value if response else None,
        input_tokens=response.usage.input_tokens if response else None,
        output_tokens=response.usage.output_tokens if response else None,
        usage=_usage(response.usage) if response else None,
        attempts=[a.to_dict() for a in outcome.attempts],
        duration_ms=round(outcome.duration * 1000),
        error=str(error) if error is not None else None,
    )


def _usage(usage: Usage) -> dict[str, Any]:
    """Input and output tokens always (``None`` when unknown), and the parts of them a provider reported."""
    data: dict[str, Any] = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    for key in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        value = getattr(usage, key)
        if value is not None:
            data[key] = value
    return data


def _loggable(outcome: Outcome) -> bool:
    # An answer, or a provider's failure; not a usage error (an unknown provider) that sent nothing.
    return outcome.error is None or isinstance(outcome.error, (ProviderError, AllProvidersFailed))


def _write_log(store: LogStore | None, entry: LogEntry) -> bool:
    """Store ``entry``; a log that cannot be written is a warning, never a failed chat."""
    if store is None:
        return False
    try:
        store.add(entry)
    except ConfigError as exc:
        print(f"clawdesk: warning: the exchange was not logged: {_safe(exc)} (--no-log skips logging)", file=sys.stderr)
        return False
    return True


# -- the command ------------------------------------------------------------------------------------


async def run_chat(client: Clawdesk, args: argparse.Namespace, prompt: str, store: LogStore | None) -> int:
    """``clawdesk chat`` with one prompt; returns the exit status or raises a clawdesk error."""
    from ._logs import new_id, now_utc

    settings = settings_from_args(client, args, store)
    if settings.conversation_id is None:
        settings.conversation_id = new_id()
    user, messages = build_messages(settings, prompt, attachments=True)

    def on_attempt(attempt: Attempt) -> None:
        if args.explain:
            print(f"clawdesk: {_safe(attempt)}", file=sys.stderr, flush=True)

    started_utc, entry_id = now_utc(), new_id()
    printer = Printer(quiet=args.json)
    outcome = await exchange(
        client, settings, messages, stream=not args.no_stream, printer=printer, on_attempt=on_attempt
    )
    logged = False
    if settings.log and _loggable(outcome):
        entry = log_entry(settings, user, prompt, outcome, attachments=True, started_utc=started_utc, entry_id=entry_id)
        logged = _write_log(store, entry)
    ids = {"id": entry_id if logged else None, "conversation_id": settings.conversation_id if logged else None}
    response = outcome.response
    if response is None:
        error = outcome.error
        assert error is not None
        if args.json and isinstance(error, (ProviderError, AllProvidersFailed)):
            kind = error.kind if isinstance(error, ProviderError) else "all_providers_failed"
            data: dict[str, Any] = {"error": {"kind": kind, "message": str(error)}}
            if isinstance(error, StreamInterrupted):
                data["content"] = outcome.partial_text
                data["reasoning"] = outcome.partial_reasoning or None
            data["attempts"] = [a.to_dict() for a in outcome.attempts]
            data.update(ids)
            _dump(data)
        raise error
    if args.explain:
        print(f"clawdesk: answered by {_safe(f'{response.provider}/{response.model}')}", file=sys.stderr)
    if args.json:
        _dump(
            {
                "provider": response.provider,
                "model": response.model,
                "content": response.message.text,
                "reasoning": response.message.reasoning,
                "tool_calls": [
                    {"id": c.id, "name": c.name, "arguments": dict(c.arguments)} for c in response.message.tool_calls
                ],
                "finish_reason": response.finish_reason.value,
                "usage": _usage(response.usage),
                "attempts": [a.to_dict() for a in outcome.attempts],
                **ids,
            }
        )
    else:
        print_tool_calls(response.message.tool_calls)
    warn_if_cut(response)
    return 0


def run_interactive(client_factory: Callable[[], Clawdesk], args: argparse.Namespace, store: LogStore | None) -> int:
    """The interactive session: read a prompt, answer it, keep the turns, until ``exit`` or Ctrl-D.

    Each turn runs in its own event loop (``input()`` blocks the main thread
    between them); the client and its fallback state live for the whole
    session, its HTTP connections for one turn. An error is printed and the
    session goes on.
    """
    import anyio

    from ._logs import new_id, now_utc

    if args.json:
        raise ConfigError("--json needs a prompt (an interactive session prints as it goes)")
    try:
        import readline  # noqa: F401 - line editing and history for input(), where the platform has it
    except ImportError:  # pragma: no cover - Windows
        pass
    client = client_factory()
    settings = settings_from_args(client, args, store)
    if settings.conversation_id is None:
        settings.conversation_id = new_id()
    who = settings.model or "the fallback chain"
    print(f"Chatting with {who}. Type 'exit' or press Ctrl-D to leave.", flush=True)
    if settings.history:
        print(f"(continuing conversation {settings.conversation_id}: {len(settings.history) // 2} earlier turns)")
    first = True

    def on_attempt(attempt: Attempt) -> None:
        if args.explain:
            print(f"clawdesk: {_safe(attempt)}", file=sys.stderr, flush=True)

    while True:
        try:
            line = input("> ")
        except EOFError:
            print()
            return 0
        prompt = line.strip()
        if prompt in ("exit", "quit"):
            return 0
        if not prompt:
            continue
        user, messages = build_messages(settings, prompt, attachments=first)
        started_utc, entry_id = now_utc(), new_id()

        async def turn(messages: list[Message] = messages) -> Outcome:
            try:
                return await exchange(
                    client,
                    settings,
                    messages,
                    stream=not args.no_stream,
                    printer=Printer(quiet=False),
                    on_attempt=on_attempt,
                )
            finally:
                await client.aclose()  # the next turn runs in a new event loop, with new connections

        outcome = anyio.run(turn)
        if settings.log and _loggable(outcome):
            entry = log_entry(
                settings, user, prompt, outcome, attachments=first, started_utc=started_utc, entry_id=entry_id
            )
            _write_log(store, entry)
        if outcome.response is None:
            print(f"clawdesk: error: {_safe(outcome.error)}", file=sys.stderr)
            continue
        print_tool_calls(outcome.response.message.tool_calls)
        warn_if_cut(outcome.response)
        settings.history += [user, outcome.response.message]
        first = False


def _safe(text: object) -> str:
    from ._cli import safe

    return safe(text)


def _json(data: object) -> str:
    from ._cli import json_text

    return json_text(data)


def _dump(data: object) -> None:
    from ._cli import _utf8, json_text

    # Escapes where stdout cannot take the characters, so the output stays valid JSON.
    sys.stdout.write(json_text(data, ascii_only=not _utf8(sys.stdout)))
    sys.stdout.write("\n")
    sys.stdout.flush()
