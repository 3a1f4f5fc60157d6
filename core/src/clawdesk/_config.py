"""``config.toml``: finding it, reading it and checking every key.

Where it is: ``--config PATH``, else ``$CLAWDESK_CONFIG``, else
``config.toml`` in the user config directory (platformdirs). A missing file at
the default place means defaults; a missing file that was named explicitly is
an error.

What it holds::

    default_model = "ollama/llama3.2"      # optional: used when -m is not given

    [providers.mistral]                    # one table per provider
    api_key = "..."                        # else $MISTRAL_API_KEY
    timeout_secs = 30

    [providers.gpu2]                       # a named instance of a plugin
    plugin = "ollama"
    base_url = "http://gpu2:11434"

    [fallback]
    chain = ["mistral", "ollama/llama3.2"]
    strategy = "sequential"                # or "capability-match"
    max_retries_per_provider = 2

    [fallback.limits.mistral]              # a rate budget for one provider
    requests_per_minute = 60
    tokens_per_minute = 200000

    [state]                                # where cooldowns and budgets live
    backend = "redis"                      # or "local" (the default)
    url = "redis://127.0.0.1:6379/0"       # else $CLAWDESK_REDIS_URL

    [serve]                                # the gateway, `clawdesk serve`
    port = 4000

    [serve.models.fast]                    # a model name clients may ask for: a chain
    chain = ["mistral/mistral-small-latest", "ollama/llama3.2"]

    [serve.keys.team-a]                    # a gateway key: its hash, or the variable holding it
    hash = "sha256:..."
    models = ["fast"]
    requests = 100
    window_secs = 60

Every error is a :class:`~clawdesk.ConfigError` naming the file and the key
path (``providers.mistral.timeout_secs``) and saying what was expected.
"""

from __future__ import annotations

import math
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
from attrs import field, frozen

from ._errors import ConfigError
from ._provider_config import check_non_negative, check_timeout, clean_key, key_variables
from ._secret import Secret

__all__ = [
    "CONFIG_ENV",
    "MAX_CONFIG_BYTES",
    "REDIS_URL_ENV",
    "STATE_BACKEND_ENV",
    "Config",
    "FallbackConfig",
    "HttpConfig",
    "RateLimit",
    "ServeConfig",
    "ServeKey",
    "ServeModel",
    "StateConfig",
    "config_from_dict",
    "default_config_path",
    "load_config",
    "parse_config",
    "structure_fields",
    "unsupported_fields",
]

CONFIG_ENV = "CLAWDESK_CONFIG"
#: The largest config file read.
MAX_CONFIG_BYTES = 1024 * 1024
_TOP_KEYS = ("default_model", "providers", "fallback", "state", "http", "serve")
#: Where the Redis URL comes from when ``[state] url`` is not set (the default of ``url_env``).
REDIS_URL_ENV = "CLAWDESK_REDIS_URL"
#: Where the state backend comes from when ``[state] backend`` is not set.
STATE_BACKEND_ENV = "CLAWDESK_STATE_BACKEND"
#: A key prefix: letters, digits and ``_-.:`` only (it is the start of every Redis key).
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

T = TypeVar("T")


def _check_positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"expected a number > 0, got {value!r}")


def _check_positive_or_none(_inst: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"expected a number > 0, got {value!r}")


def _check_timeout_or_none(_inst: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None:
        check_timeout(_inst, attribute, value)


def _check_at_least_one(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 1:
        raise ValueError(f"expected an integer >= 1, got {value!r}")


def _check_limits(_inst: object, attribute: attrs.Attribute[Any], value: Mapping[str, RateLimit]) -> None:
    from ._modelid import PROVIDER_NAME_RE

    for name, limit in value.items():
        if not PROVIDER_NAME_RE.fullmatch(name):
            raise ValueError(f"{name!r} is not a provider name (lower-case letters, digits, '-' and '_')")
        if not isinstance(limit, RateLimit):
            raise TypeError(f"limits[{name!r}] must be a RateLimit, got {type(limit).__name__}")


def _check_prefix(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _PREFIX_RE.fullmatch(value):
        raise ValueError(f"expected 1 to 64 letters, digits or '_-.:', got {value!r}")


def _check_url(_inst: object, attribute: attrs.Attribute[Any], value: Secret | None) -> None:
    if value is not None:
        from ._redis_url import parse_redis_url

        parse_redis_url(value.reveal())  # ValueError, worded without the URL itself


@frozen(kw_only=True)
class RateLimit:
    """A rate budget for one provider (or named instance): ``[fallback.limits.<name>]``.

    - ``requests_per_minute``: requests (every try, retries included) are
      spaced ``60 / requests_per_minute`` seconds apart, ``burst`` of them
      may go back to back; ``None``: no request budget.
    - ``tokens_per_minute``: input + output tokens as the provider reports
      them in usage, charged when the answer (or the stream's usage event)
      arrives; a request is sent only while at most a minute's budget is
      outstanding, so the answer that fills it may overshoot it. ``None``: no
      token budget.
    - ``when_exhausted``: ``"wait"`` for the next free slot (at most
      ``max_wait_secs``, and never past the chain's deadline), else move on
      to the next candidate; ``"next"``: move on at once.
    """

    requests_per_minute: float | None = field(default=None, validator=_check_positive_or_none)
    tokens_per_minute: float | None = field(default=None, validator=_check_positive_or_none)
    burst: int = field(default=1, validator=_check_at_least_one)
    when_exhausted: Literal["wait", "next"] = field(default="wait", validator=attrs.validators.in_(("wait", "next")))
    max_wait_secs: float = field(default=30.0, validator=check_non_negative)

    @property
    def max_wait(self) -> float:
        """The longest wait for a slot: ``max_wait_secs``, or 0 with ``when_exhausted = "next"``."""
        return self.max_wait_secs if self.when_exhausted == "wait" else 0.0


@frozen(kw_only=True)
class StateConfig:
    """The ``[state]`` table: where the fallback engine keeps cooldowns and rate budgets.

    - ``backend``: ``"local"`` (this process; the default, also when unset and
      ``$CLAWDESK_STATE_BACKEND`` is unset) or ``"redis"`` (shared by every
      process using the same Redis and ``key_prefix``).
    - ``url``: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://``
      (TLS) or ``unix:///path/redis.sock[?db=N]``; when unset, the variable
      ``url_env`` names is read. Held as a :class:`~clawdesk.Secret`: it may
      carry a password.
    - ``key_prefix``: the start of every key, so several apps can share one Redis.
    - ``timeout_secs``: the most one Redis operation (connecting included) may take.
    - ``retry_interval_secs``: after Redis failed, how long this process keeps
      to its own state before trying Redis again; also the least time between
      two warnings about it.
    """

    backend: Literal["local", "redis"] | None = field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(("local", "redis")))
    )
    url: Secret | None = field(default=None, validator=_check_url)
    url_env: str | None = REDIS_URL_ENV
    key_prefix: str = field(default="clawdesk", validator=_check_prefix)
    timeout_secs: float = field(default=0.5, validator=check_timeout)
    retry_interval_secs: float = field(default=5.0, validator=_check_positive)

    def resolve(self, env: Mapping[str, str] | None = None) -> StateConfig:
        """This config with ``backend`` and ``url`` filled in from the environment where unset.

        Raises :class:`~clawdesk.ConfigError` for a backend or URL from the
        environment that is not valid (the message never shows the URL), and
        for ``backend = "redis"`` without any URL.
        """
        environ = os.environ if env is None else env
        backend = self.backend
        if backend is None:
            raw = environ.get(STATE_BACKEND_ENV, "").strip() or "local"
            if raw not in ("local", "redis"):
                raise ConfigError(f"${STATE_BACKEND_ENV}: expected 'local' or 'redis', got {raw!r}")
            backend = raw  # type: ignore[assignment]
        url = self.url
        if url is None and self.url_env and environ.get(self.url_env):
            from ._redis_url import parse_redis_url

            value = environ[self.url_env]
            try:
                parse_redis_url(value)
            except ValueError as exc:
                raise ConfigError(f"${self.url_env}: {exc}") from None
            url = Secret(value)
        if backend == "redis" and url is None:
            where = f"set state.url or ${self.url_env}" if self.url_env else "set state.url"
            raise ConfigError(f"backend 'redis' needs the server's URL: {where}", path="state.url")
        return attrs.evolve(self, backend=backend, url=url)


def _check_chain(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    from ._modelid import parse_model_id

    for index, entry in enumerate(value):
        try:
            parse_model_id(entry)
        except ValueError as exc:  # InvalidModelId; the caller adds the key path
            raise ValueError(f"entry {index}: {exc}") from None


@frozen(kw_only=True)
class FallbackConfig:
    """The ``[fallback]`` table. See the fallback documentation for the semantics of each key.

    - ``chain``: provider names or ``provider/model`` entries, tried in order.
    - ``strategy``: ``sequential`` lets each candidate try; ``capability-match``
      skips candidates that lack a capability the request needs.
    - ``max_retries_per_provider``: retries of one candidate on retryable errors.
    - ``backoff_base_secs`` / ``backoff_max_secs``: exponential backoff with full jitter.
    - ``max_retry_after_secs``: the longest ``Retry-After`` worth waiting for;
      a longer one moves on to the next candidate at once.
    - ``deadline_secs``: the whole chain's time budget (``None``: no limit).
    - ``stop_on_invalid_request``: an invalid request stops the chain (default) or moves on.
    - ``cooldown_failures`` within ``cooldown_window_secs`` puts a provider in
      cooldown for ``cooldown_secs``; ``cooldown_failures = 0`` turns cooldown off.
    - ``limits``: a :class:`RateLimit` per provider or instance name
      (``[fallback.limits.<name>]``); providers without one have no budget.
    """

    chain: tuple[str, ...] = field(default=(), validator=_check_chain)
    strategy: Literal["sequential", "capability-match"] = field(
        default="sequential", validator=attrs.validators.in_(("sequential", "capability-match"))
    )
    max_retries_per_provider: int = field(default=2, validator=check_non_negative)
    backoff_base_secs: float = field(default=0.5, validator=_check_positive)
    backoff_max_secs: float = field(default=8.0, validator=_check_positive)
    max_retry_after_secs: float = field(default=30.0, validator=check_non_negative)
    deadline_secs: float | None = field(default=None, validator=attrs.validators.optional(check_timeout))
    stop_on_invalid_request: bool = True
    cooldown_failures: int = field(default=3, validator=check_non_negative)
    cooldown_window_secs: float = field(default=60.0, validator=_check_positive)
    cooldown_secs: float = field(default=30.0, validator=check_non_negative)
    # Not hashed: a mapping cannot be, and two configs that differ only in limits may share a hash.
    limits: Mapping[str, RateLimit] = field(factory=dict, validator=_check_limits, hash=False)


#: What a gateway key's ``hash`` looks like: ``sha256:`` and 64 hex digits.
_KEY_HASH_RE = re.compile(r"sha256:[0-9a-f]{64}")
#: A model alias of the gateway, or a gateway key's name.
_SERVE_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
#: The name of an environment variable.
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _check_key_hash(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not _KEY_HASH_RE.fullmatch(value):
        # Never echo the value: a plain key pasted here by mistake must not reach a log.
        raise ValueError("expected 'sha256:' and 64 lower-case hex digits (the key's SHA-256, not the key)")


def _check_env_name(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not _ENV_NAME_RE.fullmatch(value):
        raise ValueError(f"expected the name of an environment variable, got {value!r}")


def _check_key_models(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for index, entry in enumerate(value):
        if not (entry and len(entry) <= 200 and entry.strip() == entry):
            raise ValueError(f"entry {index}: expected an alias, provider/model or provider/*, got {entry!r}")


@frozen(kw_only=True)
class ServeKey:
    """A gateway key, ``[serve.keys.<name>]``: who may call ``clawdesk serve``, for which models, how often.

    - ``hash``: ``"sha256:<hex>"``, the SHA-256 of the key (the key itself is
      never written in the config); or
    - ``key_env``: the environment variable that holds the key (hashed when
      the gateway starts). Exactly one of the two.
    - ``models``: what the key may ask for: aliases, ``provider/model`` ids
      or ``provider/*``; empty: every model.
    - ``requests`` per ``window_secs``: the key's rate budget, kept in the
      ``[state]`` store (so shared by every worker with Redis); ``None``: no budget.
    """

    # Not in the repr: a hash is no key, but it lets anyone who sees it try guesses offline.
    hash: str | None = field(default=None, validator=_check_key_hash, repr=False)
    key_env: str | None = field(default=None, validator=_check_env_name)
    models: tuple[str, ...] = field(default=(), validator=_check_key_models)
    requests: int | None = field(default=None, validator=attrs.validators.optional(_check_at_least_one))
    window_secs: float = field(default=60.0, validator=check_timeout)

    def __attrs_post_init__(self) -> None:
        if (self.hash is None) == (self.key_env is None):
            raise ValueError('give exactly one of hash ("sha256:...") and key_env (a variable holding the key)')


def _check_alias_chain(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError("expected at least one provider/model entry")
    _check_chain(_inst, attribute, value)


@frozen(kw_only=True)
class ServeModel:
    """A model name the gateway offers, ``[serve.models.<alias>]``: a chain of candidates tried in order."""

    chain: tuple[str, ...] = field(validator=_check_alias_chain)


def _check_serve_names(_inst: object, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    for name in value:
        if not _SERVE_NAME_RE.fullmatch(name):
            raise ValueError(f"{name!r} is not a name (1 to 64 letters, digits or '_-.:')")


def _check_port(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"expected a port number from 0 to 65535, got {value!r}")


@frozen(kw_only=True)
class ServeConfig:
    """The ``[serve]`` table: the gateway that ``clawdesk serve`` runs (see ``docs/gateway.md``).

    ``host``, ``port`` and ``workers`` are the defaults of the command's
    options. ``max_body_bytes`` bounds a request body (413 above it);
    ``body_timeout_secs`` is the most a client may take to send its body,
    ``send_timeout_secs`` the most one write to a client that does not read
    may wait, ``keep_alive_secs`` how long an idle connection stays open,
    ``shutdown_timeout_secs`` how long a stopping gateway lets answers in
    progress finish before it closes their connections;
    ``max_connections`` caps the connections a worker serves at once (503
    beyond; ``None``: no cap). ``keys`` and ``models`` are the
    ``[serve.keys.<name>]`` and ``[serve.models.<alias>]`` tables.
    ``allow_anonymous`` lets a gateway without any key serve everyone (off:
    such a gateway refuses to start).
    """

    host: str = "127.0.0.1"
    port: int = field(default=4000, validator=_check_port)
    workers: int = field(default=1, validator=_check_at_least_one)
    max_body_bytes: int = field(default=8 * 1024 * 1024, validator=_check_at_least_one)
    body_timeout_secs: float = field(default=30.0, validator=check_timeout)
    send_timeout_secs: float = field(default=30.0, validator=check_timeout)
    keep_alive_secs: float = field(default=5.0, validator=check_timeout)
    shutdown_timeout_secs: float = field(default=30.0, validator=check_timeout)
    max_connections: int | None = field(default=None, validator=attrs.validators.optional(_check_at_least_one))
    allow_anonymous: bool = False
    keys: Mapping[str, ServeKey] = field(factory=dict, validator=_check_serve_names, hash=False)
    models: Mapping[str, ServeModel] = field(factory=dict, validator=_check_serve_names, hash=False)


@frozen(kw_only=True)
class HttpConfig:
    """The ``[http]`` table: limits every call of this client shares.

    - ``max_connections``: the most connections open at once to one provider
      (one pool per provider). A call that finds them all busy waits for one
      (bounded by the call's own time limits, never by a pool timeout), and
      that wait is never counted against the provider. ``Clawdesk(max_connections=...)``
      overrides it.
    - ``call_timeout_secs``: the most one call to one provider may take,
      streams included (from sending the request to the last event); the
      default for :attr:`ChatOptions.timeout <clawdesk.ChatOptions.timeout>`.
      ``None`` (the default): no overall limit.
    - ``idle_timeout_secs``: the most a stream may go without delivering an
      event (text, reasoning, a tool call, usage, its end), the wait for the
      first one included; also bounds a whole non-streamed answer. Bytes that
      carry no event (SSE comments, blank NDJSON lines, a body dripped a byte
      at a time) do not reset it. The first event and a whole answer get at
      least the provider's ``first_byte_timeout_secs``. ``None`` turns it off.
    - ``max_delivered_events``: the most events a failed stream keeps for
      :attr:`StreamInterrupted.delivered <clawdesk.StreamInterrupted.delivered>`
      (the first ones; ``.dropped`` counts the rest).
    """

    max_connections: int = field(default=100, validator=_check_at_least_one)
    call_timeout_secs: float | None = field(default=None, validator=attrs.validators.optional(check_timeout))
    idle_timeout_secs: float | None = field(default=300.0, validator=_check_timeout_or_none)
    max_delivered_events: int = field(default=100_000, validator=_check_at_least_one)


@frozen(kw_only=True)
class Config:
    """The whole configuration. ``providers`` keeps each provider's table as read;
    it is structured into the provider's own config class by :meth:`provider_config`."""

    default_model: str | None = None
    providers: Mapping[str, Mapping[str, Any]] = field(factory=dict, repr=False)
    fallback: FallbackConfig = field(factory=FallbackConfig)
    state: StateConfig = field(factory=StateConfig)
    serve: ServeConfig = field(factory=ServeConfig)
    http: HttpConfig = field(factory=HttpConfig)
    source: str | None = None

    def plugin_of(self, name: str) -> str:
        """The plugin that serves provider ``name``: its table's ``plugin`` key, else ``name`` itself."""
        table = self.providers.get(name)
        plugin = table.get("plugin") if table is not None else None
        return plugin if isinstance(plugin, str) else name

    def unknown_tables(self, known: Iterable[str]) -> list[str]:
        """One warning per ``[providers.<name>]`` table that names no provider in ``known``, with a suggestion.

        Such a table is never read (a typo such as ``mistrall`` leaves the real
        provider without its key or ``base_url``), yet it is not an error: a
        shared config file may hold tables for plugins installed elsewhere.
        Named instances (tables with ``plugin = ...``) are providers of their
        own and never reported here.
        """
        import difflib

        names = sorted(set(known))
        warnings = []
        for name, table in self.providers.items():
            if name in names or "plugin" in table:
                continue
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"installed: {', '.join(names) or 'none'}"
            unused = f"no provider named {name!r} is installed, so the table is unused"
            warnings.append(f"providers.{name}: {unused} ({hint})")
        return warnings

    def instances(self) -> dict[str, str]:
        """Every named instance (a ``[providers.<name>]`` table with ``plugin = ...``) and its plugin."""
        return {
            name: table["plugin"]
            for name, table in self.providers.items()
            if isinstance(table.get("plugin"), str) and table["plugin"] != name
        }

    def provider_config(self, name: str, config_type: type[T], *, env: Mapping[str, str] | None = None) -> T:
        """The ``[providers.<name>]`` table as a ``config_type`` instance, with ``name`` set.

        The API key comes from the variable the config's ``api_key_env``
        names when the table has none, else from the first of its
        ``api_key_env_fallbacks`` that is set and not empty. Raises
        :class:`~clawdesk.ConfigError` with the key path.
        """
        path = f"providers.{name}"
        table = dict(self.providers.get(name, {}))
        table.pop("plugin", None)
        if "name" in table:
            raise ConfigError(
                "is set by clawdesk (it is the table's own name); remove it", path=f"{path}.name", file=self.source
            )
        table["name"] = name
        config = structure_fields(config_type, table, path=path, file=self.source)
        key = getattr(config, "api_key", None)
        if isinstance(key, Secret):
            try:
                cleaned = clean_key(key)
            except ValueError as exc:
                raise ConfigError(str(exc), path=f"{path}.api_key", file=self.source) from None
            if cleaned is not key:
                config = _wrap(lambda: attrs.evolve(config, api_key=cleaned), path, self.source)  # type: ignore[misc]
        elif key is None:
            environ = os.environ if env is None else env
            for key_env in key_variables(config):
                value = environ.get(key_env)
                # A variable holding only whitespace is as good as unset: the next one is tried.
                if value and value.strip():
                    try:
                        secret = clean_key(Secret(value))
                    except ValueError as exc:
                        raise ConfigError(f"environment variable {key_env} (the API key of {path}): {exc}") from None
                    config = _wrap(lambda: attrs.evolve(config, api_key=secret), path, self.source)  # type: ignore[misc]  # noqa: B023
                    break
        return config


def default_config_path() -> Path:
    """``config.toml`` in the user config directory for clawdesk."""
    import platformdirs

    return Path(platformdirs.user_config_dir("clawdesk", appauthor=False)) / "config.toml"


def load_config(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Read the configuration from ``path``, ``$CLAWDESK_CONFIG`` or the default place.

    A file named by ``path`` or the variable must exist; the default file may
    be absent (then everything is default).
    """
    environ = os.environ if env is None else env
    explicit = path if path is not None else environ.get(CONFIG_ENV) or None
    target = Path(explicit) if explicit is not None else default_config_path()
    try:
        with target.open("rb") as stream:
            # Bounded: a config is a few hundred bytes, and /dev/zero must not eat the memory.
            raw = stream.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        if explicit is not None:
            raise ConfigError("config file not found", file=str(target)) from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", file=str(target)) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file is larger than {MAX_CONFIG_BYTES // 1024} KiB", file=str(target))
    return parse_config(raw, source=str(target))


def parse_config(raw: bytes | str, *, source: str | None = None) -> Config:
    """A :class:`Config` from TOML text; raises :class:`~clawdesk.ConfigError`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=source) from None
    import tomllib  # here, not at the top: `clawdesk plugins` never reads a config file

    try:
        data = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or int()'s digit limit on a huge integer literal
        raise ConfigError(f"invalid TOML: {exc}", file=source) from None
    return config_from_dict(data, source=source)


def config_from_dict(data: Mapping[str, Any], *, source: str | None = None) -> Config:
    """A :class:`Config` from a dict shaped like ``config.toml`` (building one in code), checked the same way.

    ``{"default_model": ..., "providers": {"mistral": {"api_key": ...}},
    "fallback": {"chain": [...]}}``; ``api_key`` values may be strings or
    :class:`~clawdesk.Secret`. ``data`` is copied, never changed. Raises
    :class:`~clawdesk.ConfigError` naming the key path.
    """
    data = _plain(data)
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(f"unknown key (expected one of: {', '.join(_TOP_KEYS)})", path=unknown[0], file=source)
    default_model = data.get("default_model")
    if default_model is not None:
        default_model = _structure_value(str, default_model, "default_model", source)
        from ._modelid import parse_model_id

        _wrap(lambda: parse_model_id(default_model), "default_model", source)
    providers = data.get("providers", {})
    if not isinstance(providers, dict):
        raise ConfigError(f"expected a table, got {_describe(providers)}", path="providers", file=source)
    from ._modelid import PROVIDER_NAME_RE

    for name, table in providers.items():
        if not PROVIDER_NAME_RE.fullmatch(name):
            raise ConfigError(
                "not a provider name (lower-case letters, digits, '-' and '_')", path=f"providers.{name}", file=source
            )
        if not isinstance(table, dict):
            raise ConfigError(f"expected a table, got {_describe(table)}", path=f"providers.{name}", file=source)
        plugin = table.get("plugin")
        if plugin is not None and (not isinstance(plugin, str) or not PROVIDER_NAME_RE.fullmatch(plugin)):
            raise ConfigError(
                f"expected the name of an installed provider plugin, got {_describe(plugin)}",
                path=f"providers.{name}.plugin",
                file=source,
            )
        if isinstance(table.get("api_key"), str):
            # Hidden from here on: nothing that prints the raw tables can show the key.
            table["api_key"] = Secret(table["api_key"])
    fallback_table = data.get("fallback", {})
    if not isinstance(fallback_table, dict):
        raise ConfigError(f"expected a table, got {_describe(fallback_table)}", path="fallback", file=source)
    fallback_table = dict(fallback_table)
    limits = _structure_limits(fallback_table.pop("limits", {}), source)
    fallback = structure_fields(FallbackConfig, fallback_table, path="fallback", file=source)
    if limits:
        fallback = attrs.evolve(fallback, limits=limits)
    state_table = data.get("state", {})
    if not isinstance(state_table, dict):
        raise ConfigError(f"expected a table, got {_describe(state_table)}", path="state", file=source)
    state = structure_fields(StateConfig, state_table, path="state", file=source)
    http_table = data.get("http", {})
    if not isinstance(http_table, Mapping):
        raise ConfigError(f"expected a table, got {_describe(http_table)}", path="http", file=source)
    http = structure_fields(HttpConfig, http_table, path="http", file=source)
    serve = _structure_serve(data.get("serve", {}), source)
    return Config(
        default_model=default_model,
        providers=providers,
        fallback=fallback,
        state=state,
        http=http,
        serve=serve,
        source=source,
    )


def _structure_serve(table: Any, source: str | None) -> ServeConfig:
    """The ``[serve]`` table, with its ``[serve.keys.<name>]`` and ``[serve.models.<alias>]`` tables."""
    if not isinstance(table, dict):
        raise ConfigError(f"expected a table, got {_describe(table)}", path="serve", file=source)
    table = dict(table)
    parts: dict[str, dict[str, Any]] = {}
    for key, cls in (("keys", ServeKey), ("models", ServeModel)):
        tables = table.pop(key, {})
        if not isinstance(tables, dict):
            raise ConfigError(f"expected a table, got {_describe(tables)}", path=f"serve.{key}", file=source)
        parts[key] = {}
        for name, entry in tables.items():
            path = f"serve.{key}.{name}"
            if not _SERVE_NAME_RE.fullmatch(name):
                raise ConfigError("not a name (1 to 64 letters, digits or '_-.:')", path=path, file=source)
            if not isinstance(entry, dict):
                raise ConfigError(f"expected a table, got {_describe(entry)}", path=path, file=source)
            parts[key][name] = structure_fields(cls, entry, path=path, file=source)
    serve = structure_fields(ServeConfig, table, path="serve", file=source)
    return attrs.evolve(serve, keys=parts["keys"], models=parts["models"])


def _structure_limits(tables: Any, source: str | None) -> dict[str, RateLimit]:
    """``[fallback.limits.<name>]`` tables as :class:`RateLimit` objects."""
    if not isinstance(tables, dict):
        raise ConfigError(f"expected a table, got {_describe(tables)}", path="fallback.limits", file=source)
    from ._modelid import PROVIDER_NAME_RE

    limits: dict[str, RateLimit] = {}
    for name, table in tables.items():
        path = f"fallback.limits.{name}"
        if not PROVIDER_NAME_RE.fullmatch(name):
            raise ConfigError("not a provider name (lower-case letters, digits, '-' and '_')", path=path, file=source)
        if not isinstance(table, dict):
            raise ConfigError(f"expected a table, got {_describe(table)}", path=path, file=source)
        limits[name] = structure_fields(RateLimit, table, path=path, file=source)
    return limits


def _plain(value: Any) -> Any:
    # A deep copy with every mapping a dict and every tuple a list, as tomllib gives them.
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


# -- structuring ----------------------------------------------------------------
# A small structurer of our own rather than cattrs here: config errors must
# name the key path and the expected type in words a user understands, and
# TOML's types are few (str, int, float, bool, arrays, tables).


def structure_fields(cls: type[T], table: Mapping[str, Any], *, path: str, file: str | None = None) -> T:
    """Build attrs class ``cls`` from a TOML table, checking names, types and validators."""
    fields = {a.name: a for a in attrs.fields(cls) if a.init}  # type: ignore[arg-type]
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # noqa: BLE001 - a plugin's config class with an unresolvable annotation
        raise ConfigError(
            f"the config class {cls.__qualname__} cannot be read: {type(exc).__name__}: {exc}", path=path, file=file
        ) from None
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(
                f"unknown key (expected one of: {', '.join(sorted(fields))})", path=f"{path}.{key}", file=file
            )
        kwargs[key] = _structure_value(hints[key], value, f"{path}.{key}", file)
    for key, value in kwargs.items():
        _validate_field(cls, fields[key], value, f"{path}.{key}", file)
    return _wrap(lambda: cls(**kwargs), path, file)


def _validate_field(cls: type[Any], attribute: attrs.Attribute[Any], value: Any, path: str, file: str | None) -> None:
    # A subclass that redeclares a field to change its default (``base_url: str
    # = "https://..."``) drops the base class's validator with it; run the
    # validators the field has anywhere in the class hierarchy.
    validators = []
    for klass in cls.__mro__:
        if not attrs.has(klass):
            continue
        for candidate in attrs.fields(klass):
            validator = candidate.validator
            if candidate.name == attribute.name and validator is not None and validator not in validators:
                validators.append(validator)
    for validator in validators:
        _wrap(lambda: validator(None, attribute, value), path, file)  # noqa: B023 - called at once


def unsupported_fields(cls: type[Any]) -> list[str]:
    """The init fields of attrs class ``cls`` whose type a TOML value cannot be structured into.

    Raises whatever :func:`typing.get_type_hints` raises for annotations that
    cannot be resolved.
    """
    hints = typing.get_type_hints(cls)
    return [a.name for a in attrs.fields(cls) if a.init and not _supported(hints.get(a.name, Any))]


def _supported(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return all(a is type(None) or _supported(a) for a in args)
    if origin is Literal:
        return True
    if hint in (Secret, bool, int, float, str, dict, Mapping, Any):
        return True
    if origin is tuple:
        return len(args) == 2 and args[1] is Ellipsis and _supported(args[0])
    if origin is list:
        return len(args) == 1 and _supported(args[0])
    return origin in (dict, Mapping)


def _wrap(thunk: typing.Callable[[], T], path: str, file: str | None) -> T:
    from ._errors import ClawdeskError

    try:
        return thunk()
    except ConfigError:
        raise
    except (ValueError, TypeError, ClawdeskError) as exc:
        raise ConfigError(str(exc), path=path, file=file) from None


def _either(errors: list[ConfigError], path: str, file: str | None) -> ConfigError:
    """One error for a value that fits none of a union's types: "expected A, or B; got C"."""
    if len(errors) == 1:
        return errors[0]
    expected, got = [], set()
    for error in errors:
        head, sep, tail = error.reason.rpartition(", got ")
        if not sep or not head.startswith("expected "):
            return errors[0]
        expected.append(head.removeprefix("expected "))
        got.add(tail)
    if len(got) != 1:
        return errors[0]
    return ConfigError(f"expected {', or '.join(expected)}; got {got.pop()}", path=path, file=file)


def _structure_value(hint: Any, value: Any, path: str, file: str | None) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _structure_value(option, value, path, file)
            except ConfigError as exc:
                errors.append(exc)
        raise _either(errors, path, file)
    if origin is Literal:
        if value in args:
            return value
        choices = ", ".join(repr(a) for a in args)
        raise ConfigError(f"expected one of {choices}, got {_describe(value)}", path=path, file=file)
    if hint is Secret:
        if isinstance(value, (str, Secret)):
            return Secret(value)
        raise ConfigError(f"expected a string, got {_describe(value, secret=True)}", path=path, file=file)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"expected true or false, got {_describe(value)}", path=path, file=file)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"expected an integer, got {_describe(value)}", path=path, file=file)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # TOML integers may be arbitrarily large
                number = float("inf")
            if not math.isfinite(number):
                raise ConfigError(f"expected a finite number, got {_describe(value)}", path=path, file=file)
            return number
        raise ConfigError(f"expected a number, got {_describe(value)}", path=path, file=file)
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"expected a string, got {_describe(value)}", path=path, file=file)
    if origin in (tuple, list) and args:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"expected an array, got {_describe(value)}", path=path, file=file)
        items = [_structure_value(args[0], item, f"{path}[{i}]", file) for i, item in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"expected a table, got {_describe(value)}", path=path, file=file)
        return dict(value)
    if hint is Any:
        return value
    raise ConfigError(f"cannot read a value of type {hint!r}", path=path, file=file)


def _describe(value: object, *, secret: bool = False) -> str:
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    if secret or isinstance(value, (list, dict)):
        return kind
    try:
        shown = repr(value)
    except ValueError:  # an integer too long to print
        return kind
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{kind} ({shown})"
