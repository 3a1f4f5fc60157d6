"""What one server's chat completions wire does differently: a :class:`Dialect`, and the known ones.

Every server that speaks OpenAI's chat completions speaks it "in all but
details". The details are data here, so that one encoder and one decoder
serve them all and a provider is a dialect plus its catalogue and its error
quirks. Pure attrs data, no I/O and no httpx: a plugin may import it at
module level.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

import attrs
from attrs import frozen

__all__ = ["AUTO", "DIALECTS", "Dialect", "dialect_for_url", "is_local_url"]

#: The ``dialect`` setting that picks a dialect by ``base_url`` (see :func:`dialect_for_url`).
AUTO = "auto"

ReasoningMode = Literal["effort", "high-or-none", "openrouter", "none"]


@frozen(kw_only=True)
class Dialect:
    """One server's way of speaking the chat completions wire.

    - ``name``: the value of a provider's ``dialect`` setting (``"openai"``,
      ``"llama.cpp"``...); ``label`` names the server in error messages.
    - ``max_tokens_field``: ``max_completion_tokens`` (OpenAI, which refuses
      ``max_tokens`` for reasoning models) or ``max_tokens`` (most others).
    - ``seed_field`` and ``seed_min``: the seed's field name and lowest value.
    - ``stream_usage``: ask for usage in streams with
      ``stream_options: {"include_usage": true}`` (a server that refuses the
      field gets none, and a stream then reports usage only if it volunteers it).
    - ``top_k``: the server takes ``top_k``; else a request with one is refused
      (:class:`~clawdesk.CapabilityMissing`).
    - ``temperature_max``: the highest temperature taken; ``max_stop`` the most
      stop sequences (``None``: no limit).
    - ``reasoning``: how :attr:`~clawdesk.ChatOptions.reasoning` is sent:
      ``"effort"`` (``reasoning_effort``, the effort as is, ``Reasoning()`` as
      ``"medium"``, a token budget refused), ``"high-or-none"``
      (``reasoning_effort`` ``"high"`` or ``"none"``: a server with one
      level), ``"openrouter"`` (a ``reasoning`` object: an effort, a token
      budget or ``enabled``), ``"none"`` (no setting: any reasoning option is
      refused).
    - ``documents``: PDFs go as ``file`` parts (inline data only).
    - ``json_object``: ``"native"`` sends ``{"type": "json_object"}``;
      ``"schema"`` sends a JSON schema ``{"type": "object"}`` instead, for a
      server that takes ``json_object`` without enforcing it.
    - ``requires_key``: whether a call without an API key is refused;
      ``key_env`` the variable that holds the service's key by convention
      (``None``: none, so no key of another service is ever sent to it).
    - ``request_id_header``: the response header with the server's request id.
    - ``close_after_stream``: the server closes the connection after a
      streamed answer whatever its headers say; a stream asks for
      ``Connection: close`` so the connection is never reused.
    - ``media_in_all_turns``: images (and documents) are taken in assistant and
      tool turns too, not only in user turns.
    - ``image_url_string``: an image's ``image_url`` is the URL string, not
      ``{"url": ...}``.
    - ``reasoning_parts``: earlier reasoning in assistant turns is left out
      (``"omit"``: the wire has no place for it) or sent as ``thinking``
      content chunks (``"thinking"``).
    - ``tool_result_name``: a tool result carries the tool's ``name``.
    - ``message_names``: system, user and assistant messages may carry a
      ``name``; else a message with one is refused.
    """

    name: str
    label: str
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    seed_field: str = "seed"
    seed_min: int | None = None
    stream_usage: bool = True
    top_k: bool = False
    temperature_max: float = 2.0
    max_stop: int | None = None
    reasoning: ReasoningMode = "none"
    documents: bool = False
    json_object: Literal["native", "schema"] = "native"
    requires_key: bool = True
    key_env: str | None = None
    request_id_header: str = "x-request-id"
    close_after_stream: bool = False
    media_in_all_turns: bool = False
    image_url_string: bool = False
    reasoning_parts: Literal["omit", "thinking"] = "omit"
    tool_result_name: bool = False
    message_names: bool = True


#: The servers known by name, for a provider's ``dialect`` setting. What each row says
#: comes from the server's documentation; docs/openai.md says which were tried for real.
DIALECTS: Mapping[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            name="openai",
            label="OpenAI",
            key_env="OPENAI_API_KEY",
            max_tokens_field="max_completion_tokens",
            max_stop=4,
            reasoning="effort",
            documents=True,
        ),
        # The common ground for a server not named here: the fields every compatible server knows.
        Dialect(name="openai-compatible", label="the server"),
        Dialect(name="vllm", label="vLLM", top_k=True, reasoning="effort", requires_key=False),
        Dialect(
            name="llama.cpp",
            label="llama.cpp's llama-server",
            top_k=True,
            json_object="schema",
            requires_key=False,
            close_after_stream=True,
        ),
        Dialect(name="lmstudio", label="LM Studio", top_k=True, requires_key=False),
        Dialect(
            name="groq",
            label="Groq",
            key_env="GROQ_API_KEY",
            max_tokens_field="max_completion_tokens",
            max_stop=4,
            reasoning="effort",
        ),
        Dialect(name="deepseek", label="DeepSeek", max_stop=16, key_env="DEEPSEEK_API_KEY"),
        Dialect(name="together", label="Together", top_k=True, key_env="TOGETHER_API_KEY"),
        Dialect(
            name="openrouter", label="OpenRouter", top_k=True, reasoning="openrouter", key_env="OPENROUTER_API_KEY"
        ),
    )
}

_LOCAL = attrs.evolve(DIALECTS["openai-compatible"], label="the local server", requires_key=False)

# Hosts of the hosted services, for the "auto" dialect.
_HOSTS = {
    "api.openai.com": "openai",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.together.xyz": "together",
    "api.together.ai": "together",
    "openrouter.ai": "openrouter",
}


def is_local_url(base_url: str) -> bool:
    """Whether ``base_url``'s host is this machine or a private network (``localhost``, 127.x, 10.x, ::1...).

    Such a server is one the user runs; it usually needs no key.
    """
    try:
        host = urlsplit(base_url).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    import ipaddress  # here: the plugin's import stays cheap

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


@functools.lru_cache(maxsize=64)
def dialect_for_url(base_url: str) -> Dialect:
    """The dialect for ``base_url`` when the setting is ``"auto"``.

    A hosted service known by its host gets its own dialect; any other
    server gets ``openai-compatible``, with no key required when it runs on
    this machine or a private network (:func:`is_local_url`). Cached: a
    provider asks on every request, and the answer is a function of the URL.
    """
    try:
        host = (urlsplit(base_url).hostname or "").lower()
    except ValueError:
        host = ""
    known = _HOSTS.get(host)
    if known is not None:
        return DIALECTS[known]
    generic = DIALECTS["openai-compatible"]
    if is_local_url(base_url):
        return _LOCAL
    return generic
