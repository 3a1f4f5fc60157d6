"""The ``[providers.mistral]`` table, and the ``mistral`` table of ``provider_options``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from attrs import field, frozen

from clawdesk.provider import ProviderConfig, check_http_url

__all__ = ["DEFAULT_BASE_URL", "MistralConfig", "MistralOptions"]

DEFAULT_BASE_URL = "https://api.mistral.ai/v1"


@frozen(kw_only=True)
class MistralConfig(ProviderConfig):
    """Mistral's settings: the base fields with La Plateforme's defaults.

    ``base_url`` includes the ``/v1`` prefix (requests go to
    ``{base_url}/chat/completions`` and ``{base_url}/models``). The key comes
    from ``api_key`` or, when the table has none, ``$MISTRAL_API_KEY``; core
    refuses a call without either (:class:`~clawdesk.AuthFailed`) before any
    request.

    ``stream_usage`` says whether a stream asks for its token usage with
    ``stream_options: {"include_usage": true}``. La Plateforme refuses that
    field (422) and sends usage anyway; a compatible server (vLLM,
    llama.cpp's llama-server) sends usage only when asked. Unset, it is
    asked for everywhere but on ``*.mistral.ai``.
    """

    api_key_env: str | None = "MISTRAL_API_KEY"
    requires_api_key: bool = True
    base_url: str = field(default=DEFAULT_BASE_URL, validator=check_http_url)
    default_model: str = "mistral-large-latest"
    stream_usage: bool | None = None


def _penalty(_inst: object, attribute: Any, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and -2 <= value <= 2):
        raise ValueError(f"expected a number from -2 to 2, got {value!r}")


def _string_keys(_inst: object, attribute: Any, value: Mapping[str, Any] | None) -> None:
    if value is not None and not all(isinstance(key, str) for key in value):
        raise ValueError("expected a table with string keys")


def _prediction(_inst: object, attribute: Any, value: str | Mapping[str, Any] | None) -> None:
    if value is None or isinstance(value, str):
        return
    if (
        set(value) <= {"type", "content"}
        and value.get("type", "content") == "content"
        and isinstance(value.get("content", ""), str)
    ):
        return
    raise ValueError("expected a string or {type = 'content', content = '...'}")


@frozen(kw_only=True)
class MistralOptions:
    """What ``provider_options={"mistral": {...}}`` may hold: Mistral's own request fields.

    Each is sent as the request field of the same name when set, and left
    out (the server's default) when ``None``:

    - ``safe_prompt``: prepend Mistral's safety prompt;
    - ``parallel_tool_calls``: let the model ask for several tools at once;
    - ``presence_penalty``, ``frequency_penalty``: from -2 to 2;
    - ``prompt_mode``: ``"reasoning"`` (the default system prompt of
      reasoning models) or ``"none"`` (sent as ``null``: no such prompt);
    - ``prompt_cache_key``: groups requests that share a prompt prefix;
    - ``metadata``: a table of your own, echoed in Mistral's logs;
    - ``prediction``: the expected output (predicted outputs), a string or
      ``{type = "content", content = "..."}``.

    Settings clawdesk has its own options for (``temperature``, ``seed``,
    ``reasoning``...) are not here: use :class:`~clawdesk.ChatOptions`.
    """

    safe_prompt: bool | None = None
    parallel_tool_calls: bool | None = None
    presence_penalty: float | None = field(default=None, validator=_penalty)
    frequency_penalty: float | None = field(default=None, validator=_penalty)
    prompt_mode: Literal["reasoning", "none"] | None = None
    prompt_cache_key: str | None = None
    metadata: Mapping[str, Any] | None = field(default=None, validator=_string_keys)
    prediction: str | Mapping[str, Any] | None = field(default=None, validator=_prediction)
