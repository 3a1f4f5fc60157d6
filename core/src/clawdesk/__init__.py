"""clawdesk: one small, strict interface to many LLM backends.

Importing this package is cheap: the data types, errors and hook markers are
imported at once; the client, the converter and the sync wrapper (which pull
in anyio and cattrs) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import (
    Config,
    FallbackConfig,
    HttpConfig,
    RateLimit,
    StateConfig,
    config_from_dict,
    load_config,
    parse_config,
)
from ._errors import (
    AllProvidersFailed,
    ApiError,
    AuthFailed,
    CapabilityMissing,
    ClawdeskError,
    ConfigError,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidModelId,
    InvalidOutput,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    PluginError,
    ProviderError,
    ProviderNotFound,
    QuotaExceeded,
    RateLimited,
    StreamInterrupted,
    TimedOut,
    Timeout,
    ToolStepsExceeded,
    Truncated,
)
from ._modelid import parse_model_id
from ._negotiate import missing_capabilities, required_capabilities
from ._registry import PluginStatus, Provider, Registry
from ._retry import Decision, RetryPolicy
from ._secret import Secret
from ._state import Admission, LocalState, StateStore
from ._stream import ChatStream, Target, response_from_events
from ._types import (
    Capability,
    ChatOptions,
    ChatRequest,
    ChatResponse,
    ContentPart,
    DocumentPart,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    ModelInfo,
    Reasoning,
    ReasoningDelta,
    ReasoningEffort,
    ReasoningPart,
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
    from ._client import Clawdesk, ProviderModels, default_candidates
    from ._converter import make_converter
    from ._fallback import Attempt, Caller, ChatResult, FallbackEngine
    from ._keys import load_keys
    from ._redis import RedisState
    from ._sync import SyncChatStream, SyncClawdesk, SyncToolStream
    from ._tools import FunctionTool, ToolResultEvent, ToolRun, ToolStream, function_tool

__all__ = [
    "Admission",
    "AllProvidersFailed",
    "ApiError",
    "Attempt",
    "AuthFailed",
    "Caller",
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
    "ContentFiltered",
    "ContentPart",
    "ContextLengthExceeded",
    "Decision",
    "DocumentPart",
    "FallbackConfig",
    "FallbackEngine",
    "Finish",
    "FinishReason",
    "FunctionTool",
    "HttpConfig",
    "ImagePart",
    "InvalidModelId",
    "InvalidOutput",
    "InvalidRequest",
    "LocalState",
    "Message",
    "ModelInfo",
    "ModelNotFound",
    "PermissionDenied",
    "PluginError",
    "PluginStatus",
    "Provider",
    "ProviderError",
    "ProviderModels",
    "ProviderNotFound",
    "QuotaExceeded",
    "RateLimit",
    "RateLimited",
    "Reasoning",
    "ReasoningDelta",
    "ReasoningEffort",
    "ReasoningPart",
    "RedisState",
    "Registry",
    "ResponseFormat",
    "ResponseFormatKind",
    "RetryPolicy",
    "Role",
    "Secret",
    "StateConfig",
    "StateStore",
    "StreamEvent",
    "StreamInterrupted",
    "SyncChatStream",
    "SyncClawdesk",
    "SyncToolStream",
    "Target",
    "TextDelta",
    "TextPart",
    "TimedOut",
    "Timeout",
    "Tool",
    "ToolCall",
    "ToolCallEvent",
    "ToolChoice",
    "ToolChoiceMode",
    "ToolResultEvent",
    "ToolRun",
    "ToolStepsExceeded",
    "ToolStream",
    "Truncated",
    "Usage",
    "UsageEvent",
    "config_from_dict",
    "default_candidates",
    "function_tool",
    "load_config",
    "load_keys",
    "make_converter",
    "missing_capabilities",
    "parse_config",
    "parse_model_id",
    "required_capabilities",
    "response_from_events",
]

# Names whose modules import anyio/httpx/cattrs: loaded on first access so that
# `import clawdesk` (and so `clawdesk plugins`) stays cheap.
_LAZY = {
    "Attempt": "._fallback",
    "Caller": "._fallback",
    "ChatResult": "._fallback",
    "FallbackEngine": "._fallback",
    "RedisState": "._redis",
    "default_candidates": "._client",
    "Clawdesk": "._client",
    "ProviderModels": "._client",
    "make_converter": "._converter",
    "SyncClawdesk": "._sync",
    "SyncChatStream": "._sync",
    "SyncToolStream": "._sync",
    "load_keys": "._keys",
    **dict.fromkeys(("FunctionTool", "ToolResultEvent", "ToolRun", "ToolStream", "function_tool"), "._tools"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clawdesk' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    _public(value)
    globals()[name] = value
    return value


def _public(value: object) -> None:
    # Tracebacks say clawdesk.AuthFailed, not clawdesk._errors.AuthFailed (as httpx does). Only
    # exceptions: attrs and cattrs resolve a data class's string annotations in the module its
    # __module__ names, which would then be this one, where Mapping or Literal are not defined.
    if isinstance(value, type) and issubclass(value, BaseException) and value.__module__.startswith("clawdesk._"):
        value.__module__ = __name__


def __dir__() -> list[str]:
    return sorted(__all__)


for _name in __all__:
    if _name not in _LAZY:
        _public(globals()[_name])
del _name
