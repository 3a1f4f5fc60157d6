"""The ``[providers.anthropic]`` table, and the ``anthropic`` table of ``provider_options``.

Nothing here imports httpx or touches the network. Besides core's
``api_key_env`` lookup, the only thing read from the environment is
``ANTHROPIC_BASE_URL``, when the table sets no ``base_url``.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from attrs import field, frozen

from clawdesk.provider import ProviderConfig, check_http_url, check_timeout

__all__ = [
    "API_VERSIONS",
    "BASE_URL_ENV",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "PLUGIN",
    "SAMPLING_REMOVED_IN",
    "AnthropicConfig",
    "AnthropicOptions",
    "samples",
]

#: The plugin's own name: the ``source`` of the reasoning it makes (a named instance has another ``config.name``).
PLUGIN = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
DEFAULT_API_VERSION = "2023-06-01"
#: The API version that removed ``temperature``, ``top_p`` and ``top_k`` (sending any of them is a 400).
SAMPLING_REMOVED_IN = "2026-10-21"
#: The API versions Anthropic serves (``anthropic-version``); others are refused in the config.
API_VERSIONS = ("2023-06-01", SAMPLING_REMOVED_IN)

# Beta names as the API spells them (``interleaved-thinking-2025-05-14``): no commas, no spaces.
_BETA = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def samples(api_version: str) -> bool:
    """Whether requests under ``api_version`` may carry ``temperature``, ``top_p`` and ``top_k``."""
    return api_version < SAMPLING_REMOVED_IN


def _default_base_url() -> str:
    # Read when the config is built: a base_url in config.toml never reaches this factory.
    value = os.environ.get(BASE_URL_ENV, "").strip()
    return value.rstrip("/") if value else DEFAULT_BASE_URL


def _check_version(_inst: object, _attr: Any, value: str) -> None:
    if value not in API_VERSIONS:
        raise ValueError(f"expected one of {', '.join(map(repr, API_VERSIONS))}, got {value!r}")


def _check_betas(_inst: object, _attr: Any, value: tuple[str, ...]) -> None:
    for name in value:
        if not isinstance(name, str) or not _BETA.fullmatch(name):
            raise ValueError(f"expected beta names such as 'interleaved-thinking-2025-05-14', got {name!r}")


def _to_betas(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _check_max_tokens(_inst: object, _attr: Any, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or value < 1):
        raise ValueError(f"expected an integer >= 1, got {value!r}")


@frozen(kw_only=True)
class AnthropicConfig(ProviderConfig):
    """Anthropic's settings: the base fields with the Claude API's defaults, and three of its own.

    - ``base_url``: ``https://api.anthropic.com`` unless ``$ANTHROPIC_BASE_URL``
      says otherwise (requests go to ``{base_url}/v1/messages`` and
      ``{base_url}/v1/models``).
    - ``api_version``: the ``anthropic-version`` header sent with every
      request: ``"2023-06-01"`` (the default) or ``"2026-10-21"``, under which
      ``temperature``, ``top_p`` and ``top_k`` no longer exist (a request with
      any of them is refused before sending).
    - ``betas``: beta feature names sent as ``anthropic-beta`` (joined with
      ``,``); an unknown name is the API's to refuse (400).
    - ``max_tokens``: what a request without ``ChatOptions.max_tokens``
      sends (the API requires the field); ``None`` (the default) sends the
      model's own output limit from the built-in catalogue or a refresh
      (4096 for a model neither knows), at most 21,333 for a whole,
      non-streamed answer (about ten minutes of output: the most the
      official SDK sends without streaming).
    - ``first_byte_timeout_secs``: the wait for an answer to start (600 s,
      as the official SDK waits); it bounds a whole non-streamed answer,
      which the API sends only once it is complete. ``timeout_secs`` bounds
      connecting and each wait for more of a stream.

    The key comes from ``api_key`` or, when the table has none,
    ``$ANTHROPIC_API_KEY``; core refuses a call without either
    (:class:`~clawdesk.AuthFailed`) before any request.
    """

    api_key_env: str | None = "ANTHROPIC_API_KEY"
    requires_api_key: bool = True
    base_url: str = field(factory=_default_base_url, validator=check_http_url)
    default_model: str = "claude-sonnet-5-5"
    api_version: str = field(default=DEFAULT_API_VERSION, validator=_check_version)
    betas: tuple[str, ...] = field(default=(), converter=_to_betas, validator=_check_betas)
    max_tokens: int | None = field(default=None, validator=_check_max_tokens)
    first_byte_timeout_secs: float = field(default=600.0, validator=check_timeout)


def _check_user_id(_inst: object, _attr: Any, value: str | None) -> None:
    if value is not None and not (0 < len(value) <= 256):
        raise ValueError("expected 1 to 256 characters (an opaque id such as a hash, never a name or an email)")


@frozen(kw_only=True)
class AnthropicOptions:
    """What ``provider_options={"anthropic": {...}}`` may hold: the Messages API's own settings.

    Prompt caching (a ``cache_control`` breakpoint at the end of each part
    asked for; the API allows four, these use at most three):

    - ``cache_system``: cache the system prompt;
    - ``cache_tools``: cache the tool definitions;
    - ``cache_messages``: cache the conversation so far (a breakpoint on the
      last block of the last message: the next turn reads it back);
    - ``cache_ttl``: ``"5m"`` (the API's default) or ``"1h"`` for those
      breakpoints.

    The rest, each sent only when set:

    - ``user_id``: ``metadata.user_id``, an opaque id of the end user;
    - ``service_tier``: ``"auto"`` or ``"standard_only"``;
    - ``disable_parallel_tool_use``: at most one tool call per answer
      (``tool_choice.disable_parallel_tool_use``);
    - ``betas``: beta names for this request, added to the config's.

    Cache reads and writes come back in :class:`~clawdesk.Usage`
    (``cache_read_tokens``, ``cache_write_tokens``).
    """

    cache_system: bool = False
    cache_tools: bool = False
    cache_messages: bool = False
    cache_ttl: Literal["5m", "1h"] | None = None
    user_id: str | None = field(default=None, validator=_check_user_id)
    service_tier: Literal["auto", "standard_only"] | None = None
    disable_parallel_tool_use: bool | None = None
    betas: tuple[str, ...] = field(default=(), converter=_to_betas, validator=_check_betas)
