"""Every error clawdesk raises, as one tree::

    ClawdeskError
    ├── ConfigError            bad config.toml or option; names the key path
    ├── InvalidModelId         a model id that is not ``provider/model``
    ├── ProviderNotFound       no loaded provider by that name
    ├── PluginError            a plugin that could not be loaded or used
    ├── ProviderError          a provider failed a call; carries .provider, .retryable, .request_id
    │   ├── AuthFailed               (401; also a missing API key)
    │   ├── PermissionDenied         (403)
    │   ├── RateLimited              (429; .retry_after seconds or None)
    │   ├── QuotaExceeded            (402, out of credit or a quota that will not reset soon)
    │   ├── InvalidRequest           (400, 413, 422: the request itself is wrong)
    │   ├── CapabilityMissing        (this model cannot do what was asked; .capability)
    │   ├── ContextLengthExceeded    (the prompt does not fit this model's context window)
    │   ├── ContentFiltered          (a safety filter blocked the prompt; nothing was answered)
    │   ├── ModelNotFound            (404, unknown model; .model)
    │   ├── ConnectionFailed         (refused, DNS, TLS, a connection broken before the answer)
    │   ├── TimedOut                 (connect/read/write/pool or overall deadline)
    │   ├── Truncated                (the answer ended, or broke off, before its end marker)
    │   ├── ApiError                 (any other status; .status; retryable for 408/409/5xx)
    │   └── StreamInterrupted        (failed after events were delivered; .delivered, .cause)
    ├── AllProvidersFailed     every candidate of a fallback chain failed; .attempts
    ├── InvalidOutput          structured output that does not parse or fit; .text, .problems
    └── ToolStepsExceeded      a tool loop still asked for tools after max_steps answers; .run

``retryable`` says whether asking the *same* provider again may succeed; the
fallback engine uses it together with the error's kind to decide between
retrying, moving on and stopping (see ``docs/fallback.md``). Messages are one
line and never contain a secret: every message passes through
:func:`clawdesk._secret.redact`.

Foreign exceptions (httpx's, a server's status codes) are turned into these in
one place, the wire toolkit (:mod:`clawdesk.provider`), and raised ``from``
the original. The classes show as ``clawdesk.<Name>`` in tracebacks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from ._secret import redact, redact_cut

if TYPE_CHECKING:
    from ._tools import ToolRun
    from ._types import Capability, ChatResponse, StreamEvent

__all__ = [
    "AllProvidersFailed",
    "ApiError",
    "AuthFailed",
    "CapabilityMissing",
    "ClawdeskError",
    "ConfigError",
    "ConnectionFailed",
    "ContentFiltered",
    "ContextLengthExceeded",
    "InvalidModelId",
    "InvalidOutput",
    "InvalidRequest",
    "ModelNotFound",
    "PermissionDenied",
    "PluginError",
    "ProviderError",
    "ProviderNotFound",
    "QuotaExceeded",
    "RateLimited",
    "StreamInterrupted",
    "TimedOut",
    "Timeout",
    "ToolStepsExceeded",
    "Truncated",
]


# C0 and C1 control characters (escape sequences from a hostile error body
# must not reach a terminal), and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _one_line(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", redact(str(text))).split())


def _without_credentials(url: str) -> str:
    # Whatever a plugin passes, the error keeps no user info, query or fragment (where keys hide).
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:
        return "<unparsable URL>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _shown(name: str, limit: int = 60) -> str:
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


class ClawdeskError(Exception):
    """The root of every error clawdesk raises."""

    def __init__(self, message: str) -> None:
        self.message = _one_line(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigError(ClawdeskError):
    """Configuration that cannot be used. ``path`` is the dotted key, e.g. ``providers.mistral.timeout_secs``."""

    def __init__(self, message: str, *, path: str | None = None, file: str | None = None) -> None:
        self.path = path
        self.file = file
        #: What is wrong, without where.
        self.reason = _one_line(message)
        # "file: path: message", "file: message", "path: message" (never "file:: message").
        where = ": ".join(x for x in (file, path) if x)
        super().__init__(f"{where}: {message}" if where else message)


class InvalidModelId(ClawdeskError, ValueError):
    """A model id that is not ``provider/model``."""


class ProviderNotFound(ClawdeskError, LookupError):
    """No provider of that name is loaded. ``known`` lists the ones that are."""

    def __init__(self, name: str, known: Sequence[str] = (), *, reason: str | None = None) -> None:
        self.name = name
        self.known = tuple(known)
        hint = f"; loaded providers: {', '.join(self.known)}" if self.known else "; no providers are loaded"
        why = f" ({reason})" if reason else ""
        super().__init__(f"no provider named {_shown(name)}{why}{hint}")


class PluginError(ClawdeskError):
    """A plugin that could not be loaded, validated or used. ``plugin`` names it."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        self.detail = _one_line(message)
        super().__init__(f"plugin {plugin!r}: {message}")


class ProviderError(ClawdeskError):
    """A provider failed a call.

    ``provider`` names it, ``retryable`` says whether the same call may succeed
    when repeated, ``status`` is the HTTP status when there was one, ``url``
    the address that was asked (never with credentials), ``request_id``
    the backend's id for the request, when it gave one (also in the message,
    for support tickets), and ``retry_after`` the wait in seconds the backend
    asked for before trying again (``None`` when it did not say).
    """

    kind: ClassVar[str] = "provider_error"
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        url: str | None = None,
        retryable: bool | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.retry_after = retry_after
        self.status = status
        self.url = _without_credentials(url) if url else url
        self.retryable = self.default_retryable if retryable is None else retryable
        # Redacted again after the cut: a key the id echoed must not leave its head at the end.
        self.request_id = redact_cut(_one_line(request_id), 200) if request_id else None
        self.detail = _one_line(message)
        super().__init__(self._compose())

    def _compose(self) -> str:
        head = f"{self.provider}: {self.kind}"
        if self.status is not None:
            head += f" (HTTP {self.status})"
        text = f"{head}: {self.detail}" if self.detail else head
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def _renamed(self, provider: str) -> None:
        """Report this error under ``provider`` (core does this for named instances of a plugin)."""
        if provider != self.provider:
            self.provider = provider
            self.message = _one_line(self._compose())
            self.args = (self.message,)


class AuthFailed(ProviderError):
    """The credentials were refused (401) or are missing."""

    kind = "auth_failed"


class PermissionDenied(ProviderError):
    """The credentials are valid but not allowed to do this (403)."""

    kind = "permission_denied"


class RateLimited(ProviderError):
    """Too many requests (429). ``retry_after`` is the wait the server asked for, in seconds."""

    kind = "rate_limited"
    default_retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        if retry_after is not None:
            message = f"{message}; retry after {retry_after:g}s" if message else f"retry after {retry_after:g}s"
        super().__init__(message, retry_after=retry_after, **kw)


class QuotaExceeded(ProviderError):
    """Out of credit or quota (402, a 429 that says the quota is spent, a per-day limit).

    Not retryable: waiting seconds will not help. A chain moves on to the next candidate.
    """

    kind = "quota_exceeded"


class InvalidRequest(ProviderError):
    """The request itself is wrong for any provider (400, 413, 422, a bad option value). A chain stops here."""

    kind = "invalid_request"


class CapabilityMissing(ProviderError):
    """This candidate cannot do what the request needs (tools, vision, an option it lacks).

    ``capability`` names the capability when there is one; ``option`` names a
    :class:`~clawdesk.ChatOptions` field or provider option this provider or
    model cannot honour. Another candidate may: a chain moves on.
    """

    kind = "capability_missing"

    def __init__(
        self, message: str, *, capability: Capability | None = None, option: str | None = None, **kw: Any
    ) -> None:
        self.capability = capability
        self.option = option
        super().__init__(message, **kw)


class ContextLengthExceeded(ProviderError):
    """The prompt (with the room asked for the answer) does not fit the model's context window.

    A chain moves on: a model with a larger window may take it.
    """

    kind = "context_length_exceeded"


class ContentFiltered(ProviderError):
    """A safety filter blocked the request before any answer (a blocked prompt).

    ``reason`` is the backend's own word for it (``SAFETY``, ``refusal``,
    ...). An answer that a filter stopped part-way is not an error: it ends
    with :attr:`~clawdesk.FinishReason.CONTENT_FILTER`. A chain moves on.
    """

    kind = "content_filtered"

    def __init__(self, message: str, *, reason: str | None = None, **kw: Any) -> None:
        self.reason = reason
        super().__init__(message, **kw)


class ModelNotFound(ProviderError):
    """The provider does not know the model (or the endpoint: 404)."""

    kind = "model_not_found"

    def __init__(self, message: str, *, model: str | None = None, **kw: Any) -> None:
        self.model = model
        super().__init__(message, **kw)


class ConnectionFailed(ProviderError):
    """The provider could not be reached, or the connection broke."""

    kind = "connection_failed"
    default_retryable = True


class TimedOut(ProviderError):
    """The provider did not answer in time.

    ``limit`` names the limit that fired, when known: ``"connect"``,
    ``"read"``, ``"write"``, ``"first_byte"`` (a provider's wait for the
    response headers), ``"pool"`` (no free connection in this client's own
    pool: never counted against the provider), ``"call"`` (the call's
    overall timeout), ``"idle"`` (no event within ``http.idle_timeout_secs``)
    or ``"deadline"`` (the fallback chain's).
    """

    kind = "timeout"
    default_retryable = True

    def __init__(self, message: str, *, limit: str | None = None, **kw: Any) -> None:
        self.limit = limit
        super().__init__(message, **kw)


#: The former name of :class:`TimedOut` (it collided with ``httpx.Timeout`` in every plugin).
Timeout = TimedOut


class Truncated(ProviderError):
    """The answer ended before its end marker: cleanly closed early, or cut by a reset.

    One error for both, whatever the backend and the framing, and retryable:
    before the first event reached the caller the engine may ask again; after
    it the caller gets :class:`StreamInterrupted` carrying this as its cause.
    """

    kind = "truncated"
    default_retryable = True


class ApiError(ProviderError):
    """Any other failure the provider reported, with its HTTP status (``None`` when there was none)."""

    kind = "api_error"

    def __init__(self, message: str, *, status: int | None = None, **kw: Any) -> None:
        if "retryable" not in kw or kw["retryable"] is None:
            kw["retryable"] = status is not None and (status in (408, 409, 429) or status >= 500)
        super().__init__(message, status=status, **kw)


class StreamInterrupted(ProviderError):
    """A stream failed after events had reached the caller.

    ``delivered`` holds those events in order and ``cause`` the error that
    broke the stream. ``delivered`` is bounded: it keeps the first
    ``http.max_delivered_events`` events (100,000 by default) and ``dropped``
    counts those left out. It is never retried or failed over: the caller already
    has part of an answer, and repeating it would deliver events twice.
    """

    kind = "stream_interrupted"

    def __init__(
        self, *, provider: str, delivered: Sequence[StreamEvent], cause: BaseException, dropped: int = 0
    ) -> None:
        self.delivered: tuple[StreamEvent, ...] = tuple(delivered)
        self.dropped = dropped
        self.cause = cause
        status = getattr(cause, "status", None)
        super().__init__(
            f"after {len(self.delivered) + dropped} events: {cause}",
            provider=provider,
            status=status if isinstance(status, int) else None,
            url=getattr(cause, "url", None),
            retryable=False,
        )
        # The cause's message already names it; kept as an attribute too.
        request_id = getattr(cause, "request_id", None)
        self.request_id = request_id if isinstance(request_id, str) else None


class AllProvidersFailed(ClawdeskError):
    """Every candidate of a fallback chain failed. ``attempts`` lists each try in order."""

    def __init__(self, message: str, *, attempts: Sequence[Any]) -> None:
        self.attempts = tuple(attempts)
        super().__init__(message)


class InvalidOutput(ClawdeskError):
    """The model's answer is not the structured output that was asked for (:meth:`Clawdesk.chat_structured`).

    ``text`` is the answer as it came; ``problems`` says what is wrong, one
    line each (``not JSON: ...``, ``$.age: expected an integer, got a
    string ('ten')``); ``response`` is the whole
    :class:`~clawdesk.ChatResponse` (``None`` when text was parsed directly).
    An answer cut short by ``max_tokens`` says so. The call itself worked:
    asking again may give a better answer.
    """

    def __init__(self, message: str, *, text: str, problems: Sequence[str], response: ChatResponse | None) -> None:
        self.text = text
        self.problems = tuple(problems)
        self.response = response
        super().__init__(message)


class ToolStepsExceeded(ClawdeskError):
    """A tool loop reached ``max_steps`` answers and the last one still asks for tools.

    ``run`` (a :class:`~clawdesk.ToolRun`) holds what happened so far: its
    ``response`` is the last answer, with its unanswered ``tool_calls``;
    none of those was run.
    """

    def __init__(self, run: ToolRun, max_steps: int) -> None:
        self.run = run
        self.max_steps = max_steps
        names = ", ".join(call.name for call in run.response.message.tool_calls)
        super().__init__(f"the model still asked for tools ({names}) after {max_steps} steps (max_steps={max_steps})")
