"""The ``[providers.ollama]`` table and the ``OLLAMA_HOST`` rules.

Nothing here imports httpx or touches the network: the config class is built
when the provider is first used, and reading ``OLLAMA_HOST`` is the only thing
it does with the environment besides the core's ``api_key_env`` lookup.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from typing import Literal

from attrs import field, frozen

from clawdesk.provider import ProviderConfig, check_http_url, check_timeout

from ._state import ModelCache

__all__ = [
    "DEFAULT_BASE_URL",
    "HOST_ENV",
    "OllamaConfig",
    "OllamaOptions",
    "base_url_from_host",
    "check_keep_alive_value",
]

DEFAULT_BASE_URL = "http://127.0.0.1:11434"
HOST_ENV = "OLLAMA_HOST"
_DEFAULT_PORT = "11434"

# Go's time.ParseDuration grammar, which is what Ollama parses keep_alive
# strings with: one or more <decimal><unit> terms, an optional sign, or "0".
_DURATION_RE = re.compile(r"[-+]?(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")


def base_url_from_host(value: str | None) -> str:
    """The base URL a client should use for an ``OLLAMA_HOST`` value.

    Follows Ollama's own reading of the variable (``envconfig.Host``), so the
    server and clawdesk agree on one setting:

    - empty or unset: ``http://127.0.0.1:11434``;
    - no scheme (``host``, ``host:port``, ``:port``, ``[::1]:port``): ``http``,
      and port 11434 when none is given; a scheme of ``http`` or ``https``
      without a port means 80 or 443; ``ollama.com`` alone means
      ``https://ollama.com:443``;
    - a port that is not a number from 1 to 65535 is replaced by the default,
      as Ollama does (Ollama also lets a server listen on port 0, a random
      port no client could find);
    - a path after the host is kept (a reverse proxy's prefix).

    One difference, because this is the client side: the "every interface"
    addresses a server listens on (``0.0.0.0``, ``::``, and the empty host of
    ``:port``) are reached through loopback (``127.0.0.1`` / ``::1``).

    Raises ``ValueError`` for a scheme other than http or https, and for an
    address with a user name or password (never echoing it).
    """
    text = (value or "").strip()
    if not text:
        return DEFAULT_BASE_URL
    scheme, sep, hostport = text.partition("://")
    default_port = _DEFAULT_PORT
    if not sep:
        scheme, hostport = "http", text
        if text == "ollama.com":
            scheme, hostport = "https", "ollama.com:443"
    else:
        scheme = scheme.lower()
        if scheme == "http":
            default_port = "80"
        elif scheme == "https":
            default_port = "443"
        else:
            raise ValueError(f"{HOST_ENV}={value!r}: expected an http:// or https:// address, or host:port")
    hostport, _, path = hostport.partition("/")
    if "@" in hostport:
        # user:password@host: Ollama has no such login, and the value must not be echoed (it holds a password).
        raise ValueError(f"{HOST_ENV}: a user name or password in the address is not supported; set OLLAMA_API_KEY")
    split = _split_host_port(hostport)
    if split is None:
        host, port = "127.0.0.1", default_port
        bare = hostport.strip("[]")
        if _is_ip(bare):
            host = bare
        elif hostport:
            host = hostport
    else:
        host, port = split
    if not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        port = default_port
    host = _client_host(host)
    if ":" in host:
        host = f"[{host}]"
    url = f"{scheme}://{host}:{int(port)}"
    return f"{url}/{path}" if path else url


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    # Go's net.SplitHostPort: "host:port", "[v6]:port", ":port"; None where Go errs.
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or hostport[end + 1 : end + 2] != ":":
            return None
        host, port = hostport[1:end], hostport[end + 2 :]
        return (host, port) if ":" not in port else None
    host, sep, port = hostport.rpartition(":")
    if not sep or ":" in host:
        return None
    return host, port


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _client_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return str(address)


def _default_base_url() -> str:
    # Read at construction, not import: the config is built when the provider
    # is first used, so the variable of that moment applies. An explicit
    # base_url in config.toml never reaches this factory.
    value = os.environ.get(HOST_ENV)
    url = base_url_from_host(value)
    try:
        check_http_url(None, None, url)
    except ValueError as exc:
        raise ValueError(f"{HOST_ENV}={value!r} does not give a usable address: {exc}") from None
    return url


def check_keep_alive_value(value: object) -> None:
    """Raise ``ValueError`` unless ``value`` is seconds (a number) or a duration like ``"5m"``.

    Ollama reads numbers as seconds and strings as Go durations; a negative
    value keeps the model loaded for good, ``0`` unloads it at once.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected seconds (a number) or a duration like '5m', got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number of seconds, got {value!r}")
    if isinstance(value, str) and not _DURATION_RE.fullmatch(value.strip()):
        raise ValueError(f"expected a duration like '5m', '1h30m' or '-1s', got {value!r}")


def _check_keep_alive(_inst: object, _attribute: object, value: float | str | None) -> None:
    if value is not None:
        check_keep_alive_value(value)


@frozen(kw_only=True)
class OllamaConfig(ProviderConfig):
    """Settings of the ``ollama`` provider (``[providers.ollama]`` in ``config.toml``).

    - ``base_url``: where Ollama listens. When the file has none, it comes from
      ``OLLAMA_HOST`` (read when the config is built; see
      :func:`base_url_from_host`), else ``http://127.0.0.1:11434``. A
      ``base_url`` written in the file always wins over the variable.
    - ``api_key``: only for hosted Ollama (sent as a bearer token); else
      ``$OLLAMA_API_KEY``. A local server needs none.
    - ``default_model``: ``llama3.2`` unless set.
    - ``timeout_secs``: connecting, sending, and each wait for more of a
      streamed answer once it has started.
    - ``first_byte_timeout_secs``: the wait for the answer to start. Ollama
      loads the model and reads the whole prompt before it sends the first
      byte, which can take minutes on a cold start. A non-streaming chat sends
      nothing until the answer is complete, so this bounds its whole wait.
    - ``keep_alive``: how long Ollama keeps the model loaded after a request:
      seconds or a duration string (``"5m"``, ``"-1s"`` for ever); unset means
      the server's default. A request's ``keep_alive`` provider option
      overrides it.
    """

    api_key_env: str | None = "OLLAMA_API_KEY"
    requires_api_key: bool = False
    base_url: str = field(factory=_default_base_url, validator=check_http_url)
    default_model: str = "llama3.2"
    timeout_secs: float = field(default=30.0, validator=check_timeout)
    first_byte_timeout_secs: float = field(default=120.0, validator=check_timeout)
    keep_alive: float | str | None = field(default=None, validator=_check_keep_alive)
    # What model listings learnt; lives and dies with this config object (one
    # per Clawdesk instance), so separate clients and tests never share it.
    _cache: ModelCache = field(factory=ModelCache, init=False, repr=False, eq=False)

    @property
    def model_cache(self) -> ModelCache:
        """Capabilities learnt by listing models through this config."""
        return self._cache


def _check_count(_inst: object, attribute: object, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"expected an integer >= 0, got {value!r}")


@frozen(kw_only=True)
class OllamaOptions:
    """What ``provider_options={"ollama": {...}}`` may hold.

    Runner and sampling options Ollama puts in the request's ``options``
    (unset ones are left to the model's Modelfile and the server):
    ``num_ctx`` (the context window, in tokens), ``num_keep``,
    ``num_batch``, ``num_gpu``, ``main_gpu``, ``num_thread``, ``use_mmap``,
    ``min_p``, ``typical_p``, ``repeat_last_n``, ``repeat_penalty``,
    ``presence_penalty``, ``frequency_penalty``.

    Top-level request fields:

    - ``keep_alive``: how long the model stays loaded after this request
      (seconds, or a duration such as ``"5m"``; overrides the config's);
    - ``think``: ``true``, ``false``, or a level (``"low"``, ``"medium"``,
      ``"high"``, ``"max"``) for models that take one. It wins over
      :attr:`~clawdesk.ChatOptions.reasoning` when both are given.

    What :class:`~clawdesk.ChatOptions` has a field for (``temperature``,
    ``top_k``, ``max_tokens`` as ``num_predict``, ``seed``, ...) is set there.
    """

    num_ctx: int | None = field(default=None, validator=_check_count)
    num_keep: int | None = None
    num_batch: int | None = field(default=None, validator=_check_count)
    num_gpu: int | None = None
    main_gpu: int | None = None
    num_thread: int | None = field(default=None, validator=_check_count)
    use_mmap: bool | None = None
    min_p: float | None = None
    typical_p: float | None = None
    repeat_last_n: int | None = None
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    keep_alive: float | str | None = field(default=None, validator=_check_keep_alive)
    think: Literal["low", "medium", "high", "max"] | bool | None = None


#: The fields of :class:`OllamaOptions` that go into the request's ``options``.
RUNNER_OPTIONS = (
    "num_ctx",
    "num_keep",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "num_thread",
    "use_mmap",
    "min_p",
    "typical_p",
    "repeat_last_n",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
)
