"""Every error clawdesk raises, as one tree::

    ClawdeskError
    ├── ConfigError            bad config.toml or option; names the key path
    ├── InvalidModelId         a model id that is not ``provider/model``
    ├── ProviderNotFound       no loaded provider by that name
    ├── PluginError            a plugin that could not be loaded or used
    ├── ProviderError          a provider failed a call; carries .provider, .retryable
    │   ├── AuthFailed               (401; also a missing API key)
    │   ├── PermissionDenied         (403)
    │   ├── RateLimited              (429; .retry_after seconds or None)
    │   ├── InvalidRequest           (400, 413, 422: the request itself is wrong)
    │   ├── CapabilityMissing        (the model cannot do what was asked; .capability)
    │   ├── ModelNotFound            (404, unknown model; .model)
    │   ├── ConnectionFailed         (refused, reset, DNS, protocol error)
    │   ├── Timeout                  (connect/read/write/pool or overall deadline)
    │   ├── ApiError                 (any other status; .status; retryable for 408/409/5xx)
    │   └── StreamInterrupted        (failed after events were delivered; .delivered, .cause)
    └── AllProvidersFailed     every candidate of a fallback chain failed; .attempts

``retryable`` says whether asking the *same* provider again may succeed; the
fallback engine uses it together with the error's kind to decide between
retrying, moving on and stopping. Messages are one line and never contain a
secret: every message passes through :func:`clawdesk._secret.redact`.

Foreign exceptions (httpx's, a server's status codes) are turned into these in
one place, :mod:`clawdesk._http`, and raised ``from`` the original.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from ._secret import redact

if TYPE_CHECKING:
    from ._types import Capability, StreamEvent

__all__ = [
    "AllProvidersFailed",
    "ApiError",
    "AuthFailed",
    "CapabilityMissing",
    "ClawdeskError",
    "ConfigError",
    "ConnectionFailed",
    "InvalidModelId",
    "InvalidRequest",
    "ModelNotFound",
    "PermissionDenied",
    "PluginError",
    "ProviderError",
    "ProviderNotFound",
    "RateLimited",
    "StreamInterrupted",
    "Timeout",
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
        where = " ".join(x for x in (file and f"{file}:", path) if x)
        super().__init__(f"{where}: {message}" if where else message)


class InvalidModelId(ClawdeskError, ValueError):
    """A model id that is not ``provider/model``."""


class ProviderNotFound(ClawdeskError, LookupError):
    """No provider of that name is loaded. ``known`` lists the ones that are."""

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        self.known = tuple(known)
        hint = f"; loaded providers: {', '.join(self.known)}" if self.known else "; no providers are loaded"
        super().__init__(f"no provider named {_shown(name)}{hint}")


class PluginError(ClawdeskError):
    """A plugin that could not be loaded, validated or used. ``plugin`` names it."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        self.detail = _one_line(message)
        super().__init__(f"plugin {plugin!r}: {message}")


class ProviderError(ClawdeskError):
    """A provider failed a call.

    ``provider`` names it, ``retryable`` says whether the same call may succeed
    when repeated, ``status`` is the HTTP status when there was one and ``url``
    the address that was asked (never with credentials).
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
    ) -> None:
        self.provider = provider
        self.status = status
        self.url = _without_credentials(url) if url else url
        self.retryable = self.default_retryable if retryable is None else retryable
        self.detail = _one_line(message)
        head = f"{provider}: {self.kind}"
        if status is not None:
            head += f" (HTTP {status})"
        super().__init__(f"{head}: {self.detail}" if self.detail else head)


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
        self.retry_after = retry_after
        if retry_after is not None:
            message = f"{message}; retry after {retry_after:g}s" if message else f"retry after {retry_after:g}s"
        super().__init__(message, **kw)


class InvalidRequest(ProviderError):
    """The request itself is wrong (400, 413, 422, or an option the provider cannot honour)."""

    kind = "invalid_request"


class CapabilityMissing(ProviderError):
    """The model cannot do what the request needs (tools, vision, ...). ``capability`` names it."""

    kind = "capability_missing"

    def __init__(self, message: str, *, capability: Capability | None = None, **kw: Any) -> None:
        self.capability = capability
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


class Timeout(ProviderError):
    """The provider did not answer in time."""

    kind = "timeout"
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
    broke the stream. It is never retried or failed over: the caller already
    has part of an answer, and repeating it would deliver events twice.
    """

    kind = "stream_interrupted"

    def __init__(self, *, provider: str, delivered: Sequence[StreamEvent], cause: BaseException) -> None:
        self.delivered: tuple[StreamEvent, ...] = tuple(delivered)
        self.cause = cause
        status = getattr(cause, "status", None)
        super().__init__(
            f"after {len(self.delivered)} events: {cause}",
            provider=provider,
            status=status if isinstance(status, int) else None,
            url=getattr(cause, "url", None),
            retryable=False,
        )


class AllProvidersFailed(ClawdeskError):
    """Every candidate of a fallback chain failed. ``attempts`` lists each try in order."""

    def __init__(self, message: str, *, attempts: Sequence[Any]) -> None:
        self.attempts = tuple(attempts)
        super().__init__(message)
