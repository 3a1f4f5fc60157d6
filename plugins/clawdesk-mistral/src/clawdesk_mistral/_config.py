"""The ``[providers.mistral]`` table."""

from __future__ import annotations

from typing import ClassVar

from attrs import field, frozen

from clawdesk import ProviderConfig, check_http_url

__all__ = ["DEFAULT_BASE_URL", "MistralConfig"]

DEFAULT_BASE_URL = "https://api.mistral.ai/v1"


@frozen(kw_only=True)
class MistralConfig(ProviderConfig):
    """Mistral's settings: the base fields with La Plateforme's defaults.

    ``base_url`` includes the ``/v1`` prefix (requests go to
    ``{base_url}/chat/completions`` and ``{base_url}/models``). The key comes
    from ``api_key`` or, when the table has none, ``$MISTRAL_API_KEY``; a call
    without either fails with :class:`~clawdesk.AuthFailed` before any request.
    """

    api_key_env: ClassVar[str | None] = "MISTRAL_API_KEY"
    requires_api_key: ClassVar[bool] = True

    base_url: str = field(default=DEFAULT_BASE_URL, validator=check_http_url)
    default_model: str = "mistral-large-latest"
