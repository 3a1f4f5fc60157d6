"""The Ollama provider for clawdesk: the local default, no key needed."""

from ._config import DEFAULT_BASE_URL, OllamaConfig, OllamaOptions, base_url_from_host

__all__ = ["DEFAULT_BASE_URL", "OllamaConfig", "OllamaOptions", "base_url_from_host"]
