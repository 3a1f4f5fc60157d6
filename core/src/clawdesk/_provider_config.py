"""The base of every provider's configuration class.

A plugin subclasses :class:`ProviderConfig` (an attrs class) to change
defaults or add fields, and returns the subclass from its
``provider_config_type`` hook. Core fills it from the ``[providers.<name>]``
table of ``config.toml``, takes the key from the variable ``api_key_env``
names (then those ``api_key_env_fallbacks`` name) when the file has none, and
rejects unknown keys and wrong types with a :class:`~clawdesk.ConfigError`
naming the key path.

Field validators raise ``ValueError`` with a short reason; core adds the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from attrs import field, frozen

from ._secret import Secret

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_FRAME_BYTES",
    "ProviderConfig",
    "check_http_url",
    "check_non_negative",
    "check_size",
    "check_timeout",
    "clean_key",
    "key_variables",
]

# An hour is already far longer than any sane wait for a chat answer; larger
# values are almost always a unit mistake (milliseconds written as seconds).
MAX_TIMEOUT_SECS = 3600.0


def check_http_url(_inst: Any, attribute: Any, value: str) -> None:
    """Validator: an absolute ``http://`` or ``https://`` URL with a host (and a valid port, if any)."""
    problem = _url_problem(value)
    if problem:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {_shown(value)} ({problem})")


def _url_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "not a string"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "it contains whitespace or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        return str(exc)
    if parts.scheme.lower() not in ("http", "https"):
        return f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
    if not parts.hostname:
        return "no host"
    if parts.username is not None or parts.password is not None:
        # A password here would show in every repr and log line of the URL.
        return "credentials belong in api_key, not in the URL"
    if port == 0:
        return "port 0"
    return None


def _shown(value: object) -> str:
    if isinstance(value, str) and "@" in value:
        # Never echo what may be a password: "https://user:pw@host" shows as "https://***@host".
        scheme, sep, rest = value.partition("://")
        if sep and "@" in rest.split("/", 1)[0]:
            value = f"{scheme}://***@{rest.split('@', 1)[1]}"
    text = repr(value)
    return text if len(text) <= 80 else text[:76] + "...'"


def check_timeout(_inst: Any, attribute: Any, value: float) -> None:
    """Validator: a timeout in seconds, above 0 and at most an hour."""
    if not (0 < value <= MAX_TIMEOUT_SECS):
        raise ValueError(f"expected seconds between 0 (exclusive) and {MAX_TIMEOUT_SECS:g}, got {value!r}")


#: The largest answer read whole (a non-streamed body, after decompression) unless
#: ``max_body_bytes`` says otherwise: 32 MiB. A chat answer is a few KiB; a model
#: listing of a big catalogue well under 1 MiB.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
#: The largest single stream frame (one SSE event, one NDJSON line, one
#: event-stream message) unless ``max_frame_bytes`` says otherwise: 16 MiB (the
#: same as :data:`clawdesk.provider.DEFAULT_MAX_FRAME_BYTES`).
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024


def check_size(_inst: Any, attribute: Any, value: int) -> None:
    """Validator: a size cap in bytes, at least 1 KiB (a smaller cap would refuse every answer)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ValueError(f"expected a number of bytes >= 1024, got {value!r}")


def check_non_negative(_inst: Any, attribute: Any, value: float) -> None:
    """Validator: a count of at least 0."""
    if value < 0:
        raise ValueError(f"expected a number >= 0, got {value!r}")


@frozen(kw_only=True)
class ProviderConfig:
    """Settings every provider has.

    - ``api_key``: the credential; when absent, read from the environment
      variable ``api_key_env`` names.
    - ``api_key_env``: where the key comes from when the table has none
      (each plugin sets its default, e.g. ``MISTRAL_API_KEY``; a named
      instance such as ``[providers.groq]`` sets its own).
    - ``api_key_env_fallbacks``: further variables tried, in order, when
      ``api_key_env`` is unset or empty (a backend whose tools read the key
      from more than one variable, e.g. ``GEMINI_API_KEY`` then
      ``GOOGLE_API_KEY``); ``[]`` in a table turns them off.
    - ``requires_api_key``: whether a call without a key is refused (with
      :class:`~clawdesk.AuthFailed`, by core, before the plugin runs).
    - ``base_url``: where the backend listens (http or https).
    - ``default_model``: used when a request names only the provider.
    - ``max_retries``: retries of one call on a retryable error, used when the
      provider is called on its own (a fallback chain uses its own setting).
    - ``timeout_secs``: the longest wait for connecting and for each read.
    - ``verify_tls``: certificate checks; on unless turned off explicitly.
    - ``max_body_bytes``: the largest answer read whole, counted after
      decompression as it is decoded (a compression bomb stops at the cap);
      past it the call fails with :class:`~clawdesk.ApiError` (not retried).
    - ``max_frame_bytes``: the largest single stream frame (an SSE event, an
      NDJSON line, an event-stream message), likewise.
    - ``name``: set by core, never read from the file: the provider's name
      as callers use it (``ollama``, or a named instance such as ``gpu2``),
      for error messages and the like.
    """

    api_key: Secret | None = field(default=None, repr=False)
    api_key_env: str | None = None
    api_key_env_fallbacks: tuple[str, ...] = ()
    requires_api_key: bool = False
    base_url: str = field(default="http://127.0.0.1", validator=check_http_url)
    default_model: str = ""
    max_retries: int = field(default=3, validator=check_non_negative)
    timeout_secs: float = field(default=30.0, validator=check_timeout)
    verify_tls: bool = True
    max_body_bytes: int = field(default=DEFAULT_MAX_BODY_BYTES, validator=check_size)
    max_frame_bytes: int = field(default=DEFAULT_MAX_FRAME_BYTES, validator=check_size)
    name: str = ""

    def __attrs_post_init__(self) -> None:
        # The base checks hold for subclasses too, also when a subclass
        # redeclares a field (to change its default) without its validator.
        for name, check in (
            ("base_url", check_http_url),
            ("timeout_secs", check_timeout),
            ("max_retries", check_non_negative),
        ):
            try:
                check(self, None, getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None

    def usable(self, env: Mapping[str, str]) -> bool:
        """Whether a call could be tried with this config and ``env`` alone, without more setup.

        The chain used when nothing names a model takes only usable providers
        (see :meth:`clawdesk.Clawdesk.default_candidates`). By default: a key
        is set, or none is needed. A plugin whose credentials come from
        elsewhere (AWS's files and variables, say) overrides it with a cheap
        check: no network, at most a look at the environment and whether a
        file exists.
        """
        return bool(self.api_key) or not self.requires_api_key


def key_variables(config: object) -> tuple[str, ...]:
    """The environment variables ``config``'s key is read from, in the order they are tried.

    ``api_key_env`` first, then ``api_key_env_fallbacks``; empty names and
    repeats are left out, so the result may be empty.
    """
    first = getattr(config, "api_key_env", None)
    rest = getattr(config, "api_key_env_fallbacks", None) or ()
    return tuple(dict.fromkeys(name for name in (first, *rest) if isinstance(name, str) and name))


def clean_key(key: Secret) -> Secret:
    """``key`` without surrounding whitespace; ``ValueError`` (never showing the key) if it cannot be sent.

    A key read from a secrets file usually ends with a newline, and one pasted
    from a web page may carry a space: both are stripped. What is left must be
    printable ASCII without whitespace, as an HTTP header value needs; a
    control character or a non-ASCII letter inside a key is a copy-paste
    accident that no server would accept, so it is refused here, where the
    error can name the setting, rather than failing on the wire.
    """
    value = key.reveal()
    stripped = value.strip()
    if not stripped.isascii():
        raise ValueError("the key contains a non-ASCII character (an HTTP header carries ASCII only)")
    if any(ch.isspace() or not ch.isprintable() for ch in stripped):
        raise ValueError("the key contains whitespace or a control character inside it")
    return key if stripped == value else Secret(stripped)
