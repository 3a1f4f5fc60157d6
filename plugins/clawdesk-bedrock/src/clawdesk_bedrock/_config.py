"""The ``[providers.bedrock]`` table, and the ``bedrock`` table of ``provider_options``.

Nothing here imports httpx or touches the network or the file system: the
config is checked when it is read, the credentials are found per call (see
:mod:`clawdesk_bedrock._credentials`).
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from typing import Any, Literal

from attrs import field, frozen

from clawdesk import Secret
from clawdesk.provider import ProviderConfig, check_http_url, check_timeout

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CONTROL_URL",
    "PLUGIN",
    "REGION_RE",
    "BedrockConfig",
    "BedrockOptions",
]

#: The plugin's name: the ``source`` of the reasoning it makes.
PLUGIN = "bedrock"
DEFAULT_BASE_URL = "https://bedrock-runtime.{region}.amazonaws.com"
DEFAULT_CONTROL_URL = "https://bedrock.{region}.amazonaws.com"
#: What an AWS region looks like (``us-east-1``, ``us-gov-west-1``, ``eu-isoe-west-1``). The region goes
#: into a host name and a signature: anything else is refused before it can reach either.
REGION_RE = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")


def _check_region(_inst: object, attribute: Any, value: str | None) -> None:
    if value is not None and not REGION_RE.fullmatch(value):
        raise ValueError(f"expected an AWS region such as 'us-east-1', got {value!r}")


def _check_template(_inst: object, attribute: Any, value: str) -> None:
    check_http_url(_inst, attribute, value)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid URL template: {exc}") from None
    if names - {"region"}:
        raise ValueError(f"the only placeholder a URL may hold is {{region}}, got {sorted(names - {'region'})}")


@frozen(kw_only=True)
class BedrockConfig(ProviderConfig):
    """Bedrock's settings.

    - ``region``: the AWS region; when absent, ``$AWS_REGION``,
      ``$AWS_DEFAULT_REGION``, then the profile's ``region``.
    - ``base_url`` / ``control_url``: the runtime (Converse) and control-plane
      (model listing) endpoints; ``{region}`` is replaced by the region.
      Point them at a VPC endpoint or a FIPS endpoint
      (``https://bedrock-runtime-fips.{region}.amazonaws.com``) as needed.
    - Credentials, all optional (see the docs for the order they are looked
      for in): ``api_key`` (a Bedrock API key, sent as a bearer token; else
      ``$AWS_BEARER_TOKEN_BEDROCK``), ``access_key_id`` +
      ``secret_access_key`` (+ ``session_token``) for SigV4, or ``profile``
      (a profile of ``~/.aws/credentials`` and ``~/.aws/config``).
      Giving two kinds at once is refused: which one was meant?
    - ``auth``: ``"auto"`` (the order above), ``"sigv4"`` (never the bearer
      token, even when ``$AWS_BEARER_TOKEN_BEDROCK`` is set) or ``"bearer"``
      (only an API key).
    - ``first_byte_timeout_secs``: the wait for an answer to start, and so
      for a whole non-streamed answer, which Bedrock sends only once the
      model is done (a long answer takes minutes; the AWS SDKs advise a read
      timeout of up to an hour for Bedrock). Further waits use
      ``timeout_secs``.

    The secret key and the session token are :class:`~clawdesk.Secret`: no
    repr, log line or error shows them.
    """

    # The bearer token is read by the plugin itself from $AWS_BEARER_TOKEN_BEDROCK, together with the
    # other AWS variables and in the order the AWS SDKs use; core's api_key_env would rank it above the
    # access keys of this very table.
    api_key_env: str | None = None
    requires_api_key: bool = False
    base_url: str = field(default=DEFAULT_BASE_URL, validator=_check_template)
    control_url: str = field(default=DEFAULT_CONTROL_URL, validator=_check_template)
    default_model: str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    timeout_secs: float = field(default=30.0, validator=check_timeout)
    first_byte_timeout_secs: float = field(default=600.0, validator=check_timeout)
    region: str | None = field(default=None, validator=_check_region)
    profile: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: Secret | None = field(default=None, repr=False)
    session_token: Secret | None = field(default=None, repr=False)
    auth: Literal["auto", "sigv4", "bearer"] = "auto"

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        _check_template(self, None, self.base_url)
        _check_template(self, None, self.control_url)
        keys = self.access_key_id is not None or self.secret_access_key is not None
        if keys and (not self.access_key_id or not self.secret_access_key):
            raise ValueError("access_key_id and secret_access_key are given together (one is missing)")
        if self.session_token is not None and not keys:
            raise ValueError("session_token goes with access_key_id and secret_access_key")
        given = [
            name
            for name, present in (
                ("api_key", self.api_key is not None),
                ("access keys", keys),
                ("profile", bool(self.profile)),
            )
            if present
        ]
        if len(given) > 1:
            raise ValueError(f"give one kind of credentials, not {' and '.join(given)}")
        if self.auth == "bearer" and (keys or self.profile):
            raise ValueError("auth = 'bearer' uses a Bedrock API key (api_key), not access keys or a profile")
        if self.auth == "sigv4" and self.api_key is not None:
            raise ValueError("auth = 'sigv4' signs with AWS credentials; api_key is a Bedrock API key (bearer)")

    def usable(self, env: Mapping[str, str]) -> bool:
        """Whether AWS credentials are at hand: in the table, the AWS variables, or a profile's files.

        Cheap and without I/O beyond asking whether a file exists: the default
        chain (no model named) tries Bedrock only then, rather than failing on
        every machine that merely has the plugin installed.
        """
        if self.api_key or self.access_key_id or self.profile:
            return True
        if self.auth != "sigv4" and env.get("AWS_BEARER_TOKEN_BEDROCK"):
            return True
        if env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE"):
            return True
        home = env.get("HOME") or os.path.expanduser("~")
        files = (
            env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"),
            env.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config"),
        )
        return any(os.path.isfile(path) for path in files)


def _json_pointers(_inst: object, attribute: Any, value: tuple[str, ...] | None) -> None:
    if value is None:
        return
    if len(value) > 10:
        raise ValueError(f"at most 10 paths, got {len(value)}")
    for path in value:
        if not path.startswith("/") or len(path) > 256:
            raise ValueError(f"expected JSON pointers such as '/stop_sequence', got {path!r}")


def _string_map(_inst: object, attribute: Any, value: Mapping[str, Any] | None) -> None:
    if value is None:
        return
    if not 1 <= len(value) <= 16:
        raise ValueError(f"expected 1 to 16 entries, got {len(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ValueError(f"expected string keys and values, got {key!r} = {item!r}")


def _string_keys(_inst: object, attribute: Any, value: Mapping[str, Any] | None) -> None:
    if value is not None and not all(isinstance(key, str) for key in value):
        raise ValueError("expected a table with string keys")


@frozen(kw_only=True)
class BedrockOptions:
    """What ``provider_options={"bedrock": {...}}`` may hold: Converse's own request fields.

    Each is sent when set and left out (the service's default) when ``None``
    or false:

    - ``additional_model_request_fields``: a table sent as
      ``additionalModelRequestFields``, for what only the model understands
      (``{"anthropic_beta": [...]}``). clawdesk's own options that Converse
      has no field for (``top_k``, ``reasoning``) are sent through it for the
      model families that take them; a key given both ways is refused;
    - ``additional_model_response_field_paths``: JSON pointers
      (``["/stop_sequence"]``) of extra answer fields, returned in
      ``ChatResponse.metadata["additional_model_response_fields"]``;
    - ``guardrail_identifier``, ``guardrail_version``, ``guardrail_trace``,
      ``guardrail_stream_processing_mode`` (streams only): a guardrail
      (``guardrailConfig``), identifier and version together;
    - ``performance_latency``: ``"optimized"`` for latency-optimised
      inference (``performanceConfig``);
    - ``service_tier``: ``"priority"``, ``"default"``, ``"flex"`` or
      ``"reserved"`` (``serviceTier``);
    - ``request_metadata``: up to 16 string pairs for invocation logs
      (``requestMetadata``);
    - ``cache_system``, ``cache_tools``: put a prompt-cache point after the
      system prompt, after the tool definitions (``cachePoint``).
    """

    additional_model_request_fields: Mapping[str, Any] | None = field(default=None, validator=_string_keys)
    additional_model_response_field_paths: tuple[str, ...] | None = field(default=None, validator=_json_pointers)
    guardrail_identifier: str | None = None
    guardrail_version: str | None = None
    guardrail_trace: Literal["enabled", "disabled", "enabled_full"] | None = None
    guardrail_stream_processing_mode: Literal["sync", "async"] | None = None
    performance_latency: Literal["standard", "optimized"] | None = None
    service_tier: Literal["priority", "default", "flex", "reserved"] | None = None
    request_metadata: Mapping[str, str] | None = field(default=None, validator=_string_map)
    cache_system: bool = False
    cache_tools: bool = False

    def __attrs_post_init__(self) -> None:
        guardrail = (self.guardrail_identifier, self.guardrail_version)
        if (guardrail[0] is None) != (guardrail[1] is None):
            raise ValueError("guardrail_identifier and guardrail_version are given together")
        if guardrail[0] is None and (self.guardrail_trace or self.guardrail_stream_processing_mode):
            raise ValueError("guardrail_trace and guardrail_stream_processing_mode need a guardrail_identifier")
