"""The [providers.ollama] table, OLLAMA_HOST and OLLAMA_API_KEY."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clawdesk import ConfigError, parse_config
from clawdesk._provider_config import check_http_url
from clawdesk_ollama import DEFAULT_BASE_URL, OllamaConfig, base_url_from_host


def load(toml: str = "", env: dict[str, str] | None = None) -> OllamaConfig:
    return parse_config(toml).provider_config("ollama", OllamaConfig, env=env or {})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", DEFAULT_BASE_URL),
        ("   ", DEFAULT_BASE_URL),
        ("127.0.0.1:5555", "http://127.0.0.1:5555"),
        ("localhost:8080", "http://localhost:8080"),
        ("gpu-box", "http://gpu-box:11434"),
        (":7777", "http://127.0.0.1:7777"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("[::]:9000", "http://[::1]:9000"),
        ("::1", "http://[::1]:11434"),
        ("[fe80::1]:81", "http://[fe80::1]:81"),
        ("http://gpu-box", "http://gpu-box:80"),
        ("https://gpu-box", "https://gpu-box:443"),
        ("HTTP://gpu-box:1234", "http://gpu-box:1234"),
        ("https://proxy.example/ollama", "https://proxy.example:443/ollama"),
        ("ollama.com", "https://ollama.com:443"),
        ("gpu-box:notaport", "http://gpu-box:11434"),
        ("gpu-box:99999", "http://gpu-box:11434"),
        ("gpu-box:0", "http://gpu-box:11434"),
    ],
)
def test_ollama_host_forms(value: str, expected: str) -> None:
    """OLLAMA_HOST is read as Ollama reads it, with listen-on-all addresses reached through loopback."""
    assert base_url_from_host(value) == expected


def test_ollama_host_with_other_scheme_is_rejected() -> None:
    """A scheme other than http(s) is an error naming the variable."""
    with pytest.raises(ValueError, match="OLLAMA_HOST"):
        base_url_from_host("ftp://gpu-box")


_hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True),
    st.ip_addresses(v=4).map(str).filter(lambda h: h != "0.0.0.0"),
)


@given(host=_hosts, port=st.integers(1, 65535), scheme=st.sampled_from(["", "http://", "https://"]))
def test_host_port_round_trip(host: str, port: int, scheme: str) -> None:
    """Any host:port, with or without a scheme, becomes a valid URL with that host and port."""
    assume(host != "ollama.com")  # Ollama's one special name, covered above
    url = base_url_from_host(f"{scheme}{host}:{port}")
    check_http_url(None, None, url)
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == (scheme[:-3] or "http")
    assert (parts.hostname, parts.port) == (host, port)


@given(value=st.text(max_size=40))
def test_any_host_value_gives_an_http_url_or_a_clear_error(value: str) -> None:
    """Whatever OLLAMA_HOST holds, the result is an http(s) URL or a ValueError naming the variable."""
    text = value.strip()
    hostport = (text.partition("://")[2] if "://" in text else text).partition("/")[0]
    if ("://" in value and value.strip().partition("://")[0].lower() not in ("http", "https")) or "@" in hostport:
        with pytest.raises(ValueError, match="OLLAMA_HOST"):
            base_url_from_host(value)
    else:
        assert base_url_from_host(value).startswith(("http://", "https://"))


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing configured: local Ollama, llama3.2, 30 s per wait, 120 s for the first byte."""
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    config = load()
    assert config.base_url == "http://127.0.0.1:11434"
    assert config.default_model == "llama3.2"
    assert (config.timeout_secs, config.first_byte_timeout_secs) == (30.0, 120.0)
    assert config.keep_alive is None
    assert config.api_key is None
    assert not config.requires_api_key
    assert config.api_key_env == "OLLAMA_API_KEY"


def test_ollama_host_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """OLLAMA_HOST in host:port form sets base_url when the file has none."""
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:5555")
    assert load().base_url == "http://127.0.0.1:5555"


def test_explicit_base_url_wins_over_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A base_url written in config.toml wins over OLLAMA_HOST."""
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:5555")
    assert load('[providers.ollama]\nbase_url = "http://gpu-box:11434"\n').base_url == "http://gpu-box:11434"


@pytest.mark.parametrize("value", ["ftp://gpu-box", "gpu box:11434"])
def test_bad_ollama_host_is_a_config_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """An unusable OLLAMA_HOST is a ConfigError naming the provider table and the variable."""
    monkeypatch.setenv("OLLAMA_HOST", value)
    with pytest.raises(ConfigError, match=r"providers\.ollama.*OLLAMA_HOST"):
        load()


def test_api_key_from_environment_is_hidden() -> None:
    """OLLAMA_API_KEY fills api_key for hosted use, and the key never shows in the repr."""
    config = load(env={"OLLAMA_API_KEY": "sk-hosted-789xyz"})
    assert config.api_key is not None
    assert config.api_key.reveal() == "sk-hosted-789xyz"
    assert "sk-hosted-789xyz" not in repr(config)


@pytest.mark.parametrize("value", ['"5m"', '"1h30m"', '"-1s"', '"0"', "300", "-1", "2.5"])
def test_keep_alive_accepts_seconds_and_durations(value: str) -> None:
    """keep_alive takes seconds or a Go duration string."""
    config = load(f"[providers.ollama]\nkeep_alive = {value}\n")
    assert config.keep_alive is not None


@pytest.mark.parametrize("value", ['"5 minutes"', '"forever"', "true", '"10"'])
def test_keep_alive_rejects_other_values(value: str) -> None:
    """A keep_alive Ollama could not read is a ConfigError at its key path."""
    with pytest.raises(ConfigError, match=r"providers\.ollama\.keep_alive"):
        load(f"[providers.ollama]\nkeep_alive = {value}\n")


@pytest.mark.parametrize(
    ("toml", "path"),
    [
        ("first_byte_timeout_secs = 0", "providers.ollama.first_byte_timeout_secs"),
        ('timeout_secs = "slow"', "providers.ollama.timeout_secs"),
        ('base_url = "127.0.0.1:11434"', "providers.ollama.base_url"),
        ("model_cache = 1", "providers.ollama.model_cache"),
    ],
)
def test_bad_values_name_their_key(toml: str, path: str) -> None:
    """Bad values and unknown keys are ConfigErrors naming the key path."""
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        load(f"[providers.ollama]\n{toml}\n")


def test_equal_configs_compare_equal_but_keep_their_own_cache() -> None:
    """The model cache is not part of a config's value, and each config has its own."""
    a, b = load(), load()
    assert a == b
    assert hash(a) == hash(b)
    assert a.model_cache is not b.model_cache
