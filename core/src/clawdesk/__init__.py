"""clawdesk: one small, strict interface to many LLM backends.

Importing this package is cheap: the data types, errors and hook markers are
imported at once; the client, the converter and the sync wrapper (which pull
in anyio and cattrs) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import Config, FallbackConfig, load_config, parse_config
from ._errors import (
    AllProvidersFailed,
    ApiError,
    AuthFailed,
    CapabilityMissing,
    ClawdeskError,
    ConfigError,
    ConnectionFailed,
    InvalidModelId,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    PluginError,
    ProviderError,
    ProviderNotFound,
    RateLimited,
    StreamInterrupted,
    Timeout,
)
from ._hookspecs import hookimpl
from ._modelid import parse_model_id
from ._negotiate import missing_capabilities, required_capabilities
from ._provider_config import ProviderConfig, check_http_url, check_non_negative, check_timeout
from ._registry import PluginStatus, Provider, Registry
from ._secret import Secret
from ._types import (
    Capability,
    ChatOptions,
    ChatRequest,
    ChatResponse,
    ContentPart,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    ModelInfo,
    ReasoningDelta,
    ResponseFormat,
    ResponseFormatKind,
    Role,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallEvent,
    ToolChoice,
    ToolChoiceMode,
    Usage,
    UsageEvent,
)

if TYPE_CHECKING:
    from ._client import ChatStream, Clawdesk, ProviderModels, Target
    from ._converter import make_converter
    from ._fallback import Attempt, ChatResult, FallbackEngine, default_candidates
    from ._sync import SyncClawdesk

__all__ = [
    "AllProvidersFailed",
    "ApiError",
    "Attempt",
    "AuthFailed",
    "Capability",
    "CapabilityMissing",
    "ChatOptions",
    "ChatRequest",
    "ChatResponse",
    "ChatResult",
    "ChatStream",
    "Clawdesk",
    "ClawdeskError",
    "Config",
    "ConfigError",
    "ConnectionFailed",
    "ContentPart",
    "FallbackConfig",
    "FallbackEngine",
    "Finish",
    "FinishReason",
    "ImagePart",
    "InvalidModelId",
    "InvalidRequest",
    "Message",
    "ModelInfo",
    "ModelNotFound",
    "PermissionDenied",
    "PluginError",
    "PluginStatus",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderModels",
    "ProviderNotFound",
    "RateLimited",
    "ReasoningDelta",
    "Registry",
    "ResponseFormat",
    "ResponseFormatKind",
    "Role",
    "Secret",
    "StreamEvent",
    "StreamInterrupted",
    "SyncClawdesk",
    "Target",
    "TextDelta",
    "TextPart",
    "Timeout",
    "Tool",
    "ToolCall",
    "ToolCallEvent",
    "ToolChoice",
    "ToolChoiceMode",
    "Usage",
    "UsageEvent",
    "check_http_url",
    "check_non_negative",
    "check_timeout",
    "default_candidates",
    "hookimpl",
    "load_config",
    "make_converter",
    "missing_capabilities",
    "parse_config",
    "parse_model_id",
    "required_capabilities",
]

# Names whose modules import anyio/httpx/cattrs: loaded on first access so that
# `import clawdesk` (and so `clawdesk plugins`) stays cheap.
_LAZY = {
    "Attempt": "._fallback",
    "ChatResult": "._fallback",
    "FallbackEngine": "._fallback",
    "default_candidates": "._fallback",
    "ChatStream": "._client",
    "Clawdesk": "._client",
    "ProviderModels": "._client",
    "Target": "._client",
    "make_converter": "._converter",
    "SyncClawdesk": "._sync",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clawdesk' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
