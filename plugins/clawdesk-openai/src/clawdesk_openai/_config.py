"""The ``[providers.openai]`` table (and every named instance of the plugin), and the ``openai`` provider options.

One plugin serves OpenAI and every compatible server: a named instance
(``[providers.groq] plugin = "openai"``) sets its own ``base_url``,
``api_key_env`` and, where the server is not recognised by its host, its
``dialect``. Importing this module is cheap (attrs only, no I/O).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from attrs import Factory, field, frozen

from clawdesk.provider import ProviderConfig, check_http_url, check_timeout

if TYPE_CHECKING:
    from clawdesk_openai_compat import Dialect

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "ORGANIZATION_ENV",
    "PROJECT_ENV",
    "DialectName",
    "OpenAIConfig",
    "OpenAIOptions",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
BASE_URL_ENV = "OPENAI_BASE_URL"
ORGANIZATION_ENV = "OPENAI_ORG_ID"
PROJECT_ENV = "OPENAI_PROJECT_ID"

#: The values of ``dialect``: ``auto`` and every known server (:data:`clawdesk_openai_compat.DIALECTS`).
DialectName = Literal[
    "auto",
    "openai",
    "openai-compatible",
    "vllm",
    "llama.cpp",
    "lmstudio",
    "groq",
    "deepseek",
    "together",
    "openrouter",
]


def _base_url(config: OpenAIConfig) -> str:
    # The table's base_url wins; then the variable base_url_env names; then OpenAI.
    name = config.base_url_env
    value = os.environ.get(name, "").strip() if name else ""
    return value or DEFAULT_BASE_URL


def _key_env(config: OpenAIConfig) -> str | None:
    # OPENAI_API_KEY goes with OpenAI, and with a base_url from $OPENAI_BASE_URL (the pair OpenAI's SDKs read);
    # any other server gets its own service's variable or none, so that one service's key never reaches another.
    name = config.base_url_env
    if name and config.base_url == os.environ.get(name, "").strip():
        return "OPENAI_API_KEY"
    return config.server.key_env


def _requires_key(config: OpenAIConfig) -> bool:
    return config.server.requires_key


def _openai_only(variable: str) -> Any:
    def default(config: OpenAIConfig) -> str | None:
        # OpenAI's organization and project ids go to OpenAI alone, never to another server.
        if config.server.name != "openai":
            return None
        return os.environ.get(variable, "").strip() or None

    return Factory(default, takes_self=True)


@frozen(kw_only=True)
class OpenAIConfig(ProviderConfig):
    """OpenAI's settings, or a compatible server's.

    - ``base_url`` includes the ``/v1`` prefix (requests go to
      ``{base_url}/chat/completions`` and ``{base_url}/models``); without one
      in the table it is ``$OPENAI_BASE_URL`` (the variable ``base_url_env``
      names), else ``https://api.openai.com/v1``.
    - ``dialect`` says which server it is (see
      :data:`clawdesk_openai_compat.DIALECTS`); ``auto`` goes by
      ``base_url``'s host: OpenAI, Groq, DeepSeek, Together and OpenRouter by
      their API hosts, any other server ``openai-compatible``.
    - ``api_key_env`` is ``OPENAI_API_KEY`` for OpenAI (and for a ``base_url``
      from ``$OPENAI_BASE_URL``, as OpenAI's SDKs pair them); for another
      server its service's own variable (``GROQ_API_KEY``,
      ``DEEPSEEK_API_KEY``, ``TOGETHER_API_KEY``, ``OPENROUTER_API_KEY``) or
      none, so one service's key is never sent to another.
    - ``requires_api_key`` follows the dialect: on for hosted services, off
      for local servers (vLLM, llama.cpp, LM Studio, and ``auto`` on a
      loopback or private address).
    - ``organization`` and ``project`` are sent as ``OpenAI-Organization``
      and ``OpenAI-Project``; to OpenAI only, they default to
      ``$OPENAI_ORG_ID`` and ``$OPENAI_PROJECT_ID``.
    - ``first_byte_timeout_secs`` is the wait for an answer to start (a
      reasoning model may think for minutes first; it bounds a whole
      non-streamed chat); ``timeout_secs`` bounds connecting and each later
      wait of a stream.
    """

    default_model: str = "gpt-4o-mini"
    base_url_env: str | None = BASE_URL_ENV
    base_url: str = field(default=Factory(_base_url, takes_self=True))
    dialect: DialectName = "auto"
    api_key_env: str | None = field(default=Factory(_key_env, takes_self=True))
    requires_api_key: bool = field(default=Factory(_requires_key, takes_self=True))
    organization: str | None = field(default=_openai_only(ORGANIZATION_ENV))
    project: str | None = field(default=_openai_only(PROJECT_ENV))
    first_byte_timeout_secs: float = field(default=300.0, validator=check_timeout)

    def __attrs_post_init__(self) -> None:
        name = self.base_url_env
        if name and self.base_url == os.environ.get(name, "").strip():
            # Said where the value came from: the table has no base_url to point at.
            try:
                check_http_url(self, None, self.base_url)
            except ValueError as exc:
                raise ValueError(f"base_url (from ${name}): {exc}") from None
        super().__attrs_post_init__()

    @property
    def server(self) -> Dialect:
        """The dialect in use: the one ``dialect`` names, or, for ``auto``, the one ``base_url`` calls for."""
        # Imported here: the dialects are not needed to list the plugin, only to use it.
        from clawdesk_openai_compat import DIALECTS, dialect_for_url

        return dialect_for_url(self.base_url) if self.dialect == "auto" else DIALECTS[self.dialect]


def _penalty(_inst: object, attribute: Any, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and -2 <= value <= 2):
        raise ValueError(f"expected a number from -2 to 2, got {value!r}")


def _logit_bias(_inst: object, attribute: Any, value: Mapping[str, Any] | None) -> None:
    if value is None:
        return
    for token, bias in value.items():
        if not (isinstance(token, str) and token.isdigit()):
            raise ValueError(f"expected token ids (digits) as keys, got {token!r}")
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not -100 <= bias <= 100:
            raise ValueError(f"expected a bias from -100 to 100 for token {token}, got {bias!r}")


def _string_table(_inst: object, attribute: Any, value: Mapping[str, Any] | None) -> None:
    if value is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("expected a table of strings")


@frozen(kw_only=True)
class OpenAIOptions:
    """What ``provider_options={"openai": {...}}`` may hold: request fields of OpenAI's chat completions.

    Each is sent as the field of the same name when set, and left out (the
    server's default) when ``None``. A named instance reads the ``openai``
    table, then its own name's table on top; a compatible server that does
    not know a field answers 400, which is raised as is.

    - ``parallel_tool_calls``: let the model ask for several tools at once;
    - ``presence_penalty``, ``frequency_penalty``: from -2 to 2;
    - ``logit_bias``: token id (a string of digits) to a bias from -100 to 100;
    - ``safety_identifier`` (and the older ``user``): who the end user is, hashed;
    - ``store``: keep the completion for distillation and evals;
    - ``metadata``: a table of strings stored with it;
    - ``service_tier``: ``auto``, ``default``, ``flex``, ``scale`` or ``priority``;
    - ``prompt_cache_key``: groups requests that share a prompt prefix;
    - ``verbosity``: ``low``, ``medium`` or ``high`` (GPT-5 models).

    Settings clawdesk has its own options for (``temperature``, ``seed``,
    ``reasoning``, ``response_format``...) are not here: use
    :class:`~clawdesk.ChatOptions`.
    """

    parallel_tool_calls: bool | None = None
    presence_penalty: float | None = field(default=None, validator=_penalty)
    frequency_penalty: float | None = field(default=None, validator=_penalty)
    logit_bias: Mapping[str, Any] | None = field(default=None, validator=_logit_bias)
    safety_identifier: str | None = None
    user: str | None = None
    store: bool | None = None
    metadata: Mapping[str, Any] | None = field(default=None, validator=_string_table)
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    prompt_cache_key: str | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
