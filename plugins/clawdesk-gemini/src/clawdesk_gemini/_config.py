"""The ``[providers.gemini]`` table, and the ``gemini`` table of ``provider_options``.

Nothing here imports httpx or touches the network: the config class is built
when the provider is first used. The key comes from core, which reads
``GEMINI_API_KEY`` and then ``GOOGLE_API_KEY`` (``api_key_env`` and
``api_key_env_fallbacks``) when the table has no ``api_key``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from attrs import Factory, field, frozen

from clawdesk import Capability
from clawdesk.provider import ProviderConfig, check_http_url, check_timeout

from ._models import ModelCache, builtin_capabilities

__all__ = [
    "DEFAULT_BASE_URL",
    "HARM_CATEGORIES",
    "HARM_THRESHOLDS",
    "GeminiConfig",
    "GeminiOptions",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"

#: The harm categories Gemini models filter (``HarmCategory`` of the v1beta API; the PaLM-era
#: categories of the same enum are refused by Gemini models, so they are not accepted here).
HARM_CATEGORIES = frozenset(
    {
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
    }
)
#: ``SafetySetting.threshold`` values (the unspecified one aside).
HARM_THRESHOLDS = frozenset({"BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"})


@frozen(kw_only=True)
class GeminiConfig(ProviderConfig):
    """Settings of the ``gemini`` provider (``[providers.gemini]`` in ``config.toml``).

    - ``api_key``: the Gemini API (AI Studio) key; else ``$GEMINI_API_KEY``,
      else ``$GOOGLE_API_KEY``. Required: core refuses a call without one
      (:class:`~clawdesk.AuthFailed`) before any request. It is sent only in
      the ``x-goog-api-key`` header, never in a URL.
    - ``api_key_env_fallbacks``: ``["GOOGLE_API_KEY"]`` while ``api_key_env``
      is ``GEMINI_API_KEY``; a table that names its own ``api_key_env`` (a
      named instance for another account) gets none unless it says so.
    - ``base_url``: ``https://generativelanguage.googleapis.com``; requests go
      to ``{base_url}/v1beta/models/{model}:generateContent`` (a proxy's path
      prefix may be part of it).
    - ``default_model``: ``gemini-2.5-flash``.
    - ``timeout_secs``: connecting, sending, and each wait for more of a
      streamed answer once it has started (60 s: a thinking model may pause
      between two chunks while it works out a tool call).
    - ``first_byte_timeout_secs``: the wait for an answer to start (300 s).
      A thinking model sends nothing until it has thought, and a
      non-streamed answer comes only when it is complete, so this bounds a
      whole non-streamed chat.
    """

    api_key_env: str | None = "GEMINI_API_KEY"
    # GOOGLE_API_KEY backs up GEMINI_API_KEY only: a named instance that reads its key from a
    # variable of its own must not quietly fall back to another account's key.
    api_key_env_fallbacks: tuple[str, ...] = field(
        default=Factory(
            lambda self: ("GOOGLE_API_KEY",) if self.api_key_env == "GEMINI_API_KEY" else (), takes_self=True
        )
    )
    requires_api_key: bool = True
    base_url: str = field(default=DEFAULT_BASE_URL, validator=check_http_url)
    default_model: str = "gemini-2.5-flash"
    timeout_secs: float = field(default=60.0, validator=check_timeout)
    first_byte_timeout_secs: float = field(default=300.0, validator=check_timeout)
    # What model listings learnt; lives and dies with this config object (one per
    # Clawdesk instance), so separate clients and tests never share it.
    _cache: ModelCache = field(factory=ModelCache, init=False, repr=False, eq=False)

    @property
    def model_cache(self) -> ModelCache:
        """What ``models --refresh`` learnt through this config."""
        return self._cache

    def capabilities(self, model: str) -> frozenset[Capability] | None:
        """What ``model`` can do: what the last listing through this config said, else the catalogue.

        ``None`` when neither knows it. A leading ``models/`` is ignored. No I/O.
        """
        model = model.removeprefix("models/")
        learnt = self._cache.capabilities(model)
        return learnt if learnt is not None else builtin_capabilities(model)


def _penalty(_inst: object, attribute: Any, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and -2.0 <= value < 2.0):
        raise ValueError(f"expected a number from -2 (inclusive) to 2 (exclusive), got {value!r}")


def _safety(_inst: object, attribute: Any, value: Mapping[str, Any] | None) -> None:
    if value is None:
        return
    for category, threshold in value.items():
        if category not in HARM_CATEGORIES:
            raise ValueError(
                f"unknown harm category {category!r} (expected one of {', '.join(sorted(HARM_CATEGORIES))})"
            )
        if threshold not in HARM_THRESHOLDS:
            raise ValueError(
                f"{category}: unknown threshold {threshold!r} (expected one of {', '.join(sorted(HARM_THRESHOLDS))})"
            )


def _cached_content(_inst: object, attribute: Any, value: str | None) -> None:
    if value is not None and not (value.startswith("cachedContents/") and len(value) > len("cachedContents/")):
        raise ValueError(f"expected the name of a cached content, 'cachedContents/<id>', got {value!r}")


def _budget(_inst: object, attribute: Any, value: int | None) -> None:
    if value is not None and value < -1:
        raise ValueError(f"expected -1 (dynamic), 0 (off) or a number of tokens, got {value!r}")


@frozen(kw_only=True)
class GeminiOptions:
    """What ``provider_options={"gemini": {...}}`` may hold: Gemini's own request fields.

    Each is sent when set and left to the server's default when ``None``:

    - ``safety_settings``: harm category to block threshold, e.g.
      ``{"HARM_CATEGORY_HARASSMENT": "BLOCK_ONLY_HIGH"}`` (sent as
      ``safetySettings``; names as Gemini spells them);
    - ``cached_content``: a context cache to answer from,
      ``"cachedContents/<id>"`` (``cachedContent``);
    - ``presence_penalty``, ``frequency_penalty``: from -2 to 2 (exclusive);
    - ``thinking_level``: ``"minimal"``, ``"low"``, ``"medium"`` or ``"high"``
      (``thinkingConfig.thinkingLevel``, Gemini 3 models); wins over
      :attr:`~clawdesk.ChatOptions.reasoning`'s effort;
    - ``thinking_budget``: thinking tokens, ``-1`` for dynamic, ``0`` for none
      where the model allows it (``thinkingConfig.thinkingBudget``); wins
      over :attr:`~clawdesk.ChatOptions.reasoning`'s budget;
    - ``include_thoughts``: whether the answer carries thought summaries
      (reasoning parts); by default they are asked for exactly when
      :attr:`~clawdesk.ChatOptions.reasoning` asks for reasoning;
    - ``media_resolution``: ``"low"``, ``"medium"`` or ``"high"``: how many
      tokens an image or a video frame costs (``mediaResolution``).

    Settings clawdesk has its own options for (``temperature``, ``top_k``,
    ``seed``, ``stop``, ``reasoning``, ``response_format``, ...) are set on
    :class:`~clawdesk.ChatOptions`.
    """

    safety_settings: Mapping[str, str] | None = field(default=None, validator=_safety)
    cached_content: str | None = field(default=None, validator=_cached_content)
    presence_penalty: float | None = field(default=None, validator=_penalty)
    frequency_penalty: float | None = field(default=None, validator=_penalty)
    thinking_level: Literal["minimal", "low", "medium", "high"] | None = None
    thinking_budget: int | None = field(default=None, validator=_budget)
    include_thoughts: bool | None = None
    media_resolution: Literal["low", "medium", "high"] | None = None
