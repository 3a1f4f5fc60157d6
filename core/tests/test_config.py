"""config.toml: finding it, structuring it into config classes, and every ConfigError path."""

from __future__ import annotations

import math
import string
import sys
from pathlib import Path
from typing import Any

import pytest
from attrs import field, frozen
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    Config,
    ConfigError,
    FallbackConfig,
    Secret,
    load_config,
    parse_config,
)
from clawdesk._config import default_config_path
from clawdesk.provider import ProviderConfig

KEY = "sk-test-0123456789abcdef"
SCRUB = sys.modules["clawdesk_tests_fakedist"].scrub_list_restored


@frozen(kw_only=True)
class AcmeConfig(ProviderConfig):
    """A provider config class as a plugin writes one: new defaults, one extra field."""

    api_key_env: str | None = "ACME_API_KEY"
    requires_api_key: bool = True

    base_url: str = "https://api.acme.example/v1"
    organisation: str | None = None
    tags: tuple[str, ...] = field(default=())


def acme(toml: str, env: dict[str, str] | None = None) -> AcmeConfig:
    return parse_config(toml).provider_config("acme", AcmeConfig, env=env or {})


def config_error(thunk: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        thunk()
    error = info.value
    assert "\n" not in str(error)
    return error


# -- structuring ----------------------------------------------------------------------


def test_empty_config_is_all_defaults() -> None:
    """An empty file gives default settings everywhere."""
    config = parse_config("")
    assert config == Config(source=None)
    assert config.fallback == FallbackConfig()
    assert config.provider_config("acme", AcmeConfig, env={}) == AcmeConfig(name="acme")


def test_provider_table_is_structured_into_the_provider_class() -> None:
    """[providers.acme] fills the plugin's own class, with its defaults for keys not given."""
    config = acme(
        f"""
        [providers.acme]
        api_key = "{KEY}"
        timeout_secs = 12
        max_retries = 0
        default_model = "acme-large"
        organisation = "org-1"
        tags = ["a", "b"]
        verify_tls = false
        """
    )
    assert isinstance(config, AcmeConfig)
    assert config.api_key == Secret(KEY)
    assert config.timeout_secs == 12.0
    assert isinstance(config.timeout_secs, float)
    assert config.max_retries == 0
    assert config.default_model == "acme-large"
    assert config.organisation == "org-1"
    assert config.tags == ("a", "b")
    assert config.verify_tls is False
    assert config.base_url == "https://api.acme.example/v1"


def test_key_from_environment_when_file_has_none() -> None:
    """The provider's api_key_env variable supplies the key only when the file does not."""
    assert acme("", env={"ACME_API_KEY": KEY}).api_key == Secret(KEY)
    from_file = acme('[providers.acme]\napi_key = "from-file-key"', env={"ACME_API_KEY": KEY})
    assert from_file.api_key == Secret("from-file-key")
    assert acme("", env={"ACME_API_KEY": ""}).api_key is None
    assert acme("", env={}).api_key is None


def test_key_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without env=, the key comes from os.environ."""
    monkeypatch.setenv("ACME_API_KEY", KEY)
    assert parse_config("").provider_config("acme", AcmeConfig).api_key == Secret(KEY)


def test_fallback_table() -> None:
    """[fallback] is structured into FallbackConfig."""
    config = parse_config(
        """
        default_model = "acme/large"
        [fallback]
        chain = ["acme", "ollama/library/llama3.2:3b"]
        strategy = "capability-match"
        max_retries_per_provider = 1
        deadline_secs = 20
        """
    )
    assert config.default_model == "acme/large"
    assert config.fallback.chain == ("acme", "ollama/library/llama3.2:3b")
    assert config.fallback.strategy == "capability-match"
    assert config.fallback.max_retries_per_provider == 1
    assert config.fallback.deadline_secs == 20.0


def test_tables_of_providers_not_installed_are_kept() -> None:
    """A table for a provider that is not installed is no error (the plugin may come later)."""
    assert "later" in parse_config("[providers.later]\nfoo = 1").providers


# -- every error path -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "path", "words"),
    [
        ("colour = 'red'", "colour", "unknown key"),
        ("[fallback]\nchian = []", "fallback.chian", "unknown key"),
        ("[providers.acme]\ntimeout = 3", "providers.acme.timeout", "unknown key"),
        ("[providers.acme.nested]\nx = 1", "providers.acme.nested", "unknown key"),
        ("providers = 3", "providers", "expected a table"),
        ("[providers]\nacme = 'x'", "providers.acme", "expected a table"),
        ('[providers."Not A Name"]', "providers.Not A Name", "not a provider name"),
        ("fallback = [1]", "fallback", "expected a table"),
        ("[providers.acme]\ntimeout_secs = 'soon'", "providers.acme.timeout_secs", "expected a number"),
        ("[providers.acme]\ntimeout_secs = true", "providers.acme.timeout_secs", "expected a number"),
        ("[providers.acme]\ntimeout_secs = 0", "providers.acme.timeout_secs", "between 0"),
        ("[providers.acme]\ntimeout_secs = -5", "providers.acme.timeout_secs", "between 0"),
        ("[providers.acme]\ntimeout_secs = 1e12", "providers.acme.timeout_secs", "between 0"),
        ("[providers.acme]\ntimeout_secs = 3600.5", "providers.acme.timeout_secs", "between 0"),
        ("[providers.acme]\ntimeout_secs = nan", "providers.acme.timeout_secs", "finite"),
        ("[providers.acme]\ntimeout_secs = inf", "providers.acme.timeout_secs", "finite"),
        ("[providers.acme]\ntimeout_secs = " + "9" * 400, "providers.acme.timeout_secs", "finite"),
        ("[providers.acme]\nmax_retries = 1.5", "providers.acme.max_retries", "expected an integer"),
        ("[providers.acme]\nmax_retries = -1", "providers.acme.max_retries", ">= 0"),
        ("[providers.acme]\nmax_retries = '3'", "providers.acme.max_retries", "expected an integer"),
        ("[providers.acme]\nverify_tls = 'no'", "providers.acme.verify_tls", "expected true or false"),
        ("[providers.acme]\nverify_tls = 0", "providers.acme.verify_tls", "expected true or false"),
        ("[providers.acme]\nbase_url = 'ftp://files.example'", "providers.acme.base_url", "http:// or https://"),
        ("[providers.acme]\nbase_url = 'localhost:11434'", "providers.acme.base_url", "http:// or https://"),
        ("[providers.acme]\nbase_url = 'http://'", "providers.acme.base_url", "http:// or https://"),
        ("[providers.acme]\nbase_url = 'file:///etc/passwd'", "providers.acme.base_url", "http:// or https://"),
        ("[providers.acme]\nbase_url = 42", "providers.acme.base_url", "expected a string"),
        ("[providers.acme]\nbase_url = 'http:///v1'", "providers.acme.base_url", "no host"),
        ("[providers.acme]\nbase_url = 'http://exa mple.com'", "providers.acme.base_url", "whitespace"),
        ("[providers.acme]\nbase_url = 'http://host:99999'", "providers.acme.base_url", "out of range"),
        ("[providers.acme]\nbase_url = 'http://host:port'", "providers.acme.base_url", "http:// or https://"),
        ("[providers.acme]\nbase_url = 'http://[::1'", "providers.acme.base_url", "http:// or https://"),
        ("[providers.acme]\nbase_url = 'https://user:pw@host'", "providers.acme.base_url", "credentials belong"),
        ("[providers.acme]\ndefault_model = ['a']", "providers.acme.default_model", "expected a string"),
        ("[providers.acme]\ntags = 'a'", "providers.acme.tags", "expected an array"),
        ("[providers.acme]\ntags = ['a', 2]", "providers.acme.tags[1]", "expected a string"),
        ("[providers.acme]\norganisation = 7", "providers.acme.organisation", "expected a string"),
        ("[providers.acme]\napi_key = 12345678", "providers.acme.api_key", "expected a string"),
        ("default_model = 'Llama 3'", "default_model", "invalid model id"),
        ("default_model = 'ollama/'", "default_model", "no model after"),
        ("default_model = 3", "default_model", "expected a string"),
        ("[fallback]\nchain = 'acme'", "fallback.chain", "expected an array"),
        ("[fallback]\nchain = ['acme', 3]", "fallback.chain[1]", "expected a string"),
        ("[fallback]\nchain = ['acme', 'Bad Name/x']", "fallback.chain", "entry 1"),
        ("[fallback]\nchain = ['acme/']", "fallback.chain", "no model after"),
        ("[fallback]\nchain = ['']", "fallback.chain", "entry 0"),
        ("[fallback]\nstrategy = 'random'", "fallback.strategy", "expected one of 'sequential', 'capability-match'"),
        ("[fallback]\nmax_retries_per_provider = -2", "fallback.max_retries_per_provider", ">= 0"),
        ("[fallback]\nbackoff_base_secs = 0", "fallback.backoff_base_secs", "> 0"),
        ("[fallback]\ndeadline_secs = 0", "fallback.deadline_secs", "between 0"),
        ("[fallback]\ndeadline_secs = 'never'", "fallback.deadline_secs", "expected a number"),
    ],
)
def test_config_error_names_the_key_path(toml: str, path: str, words: str) -> None:
    """Each bad value or key is a one-line ConfigError naming its key path and what was expected."""
    error = config_error(lambda: acme(toml))
    assert error.path == path
    assert path in str(error)
    assert words in str(error)


def test_wrong_typed_key_is_not_shown() -> None:
    """A key of the wrong type is described by its type only, never by its value."""
    error = config_error(lambda: acme("[providers.acme]\napi_key = 98765432123"))
    assert "98765432123" not in str(error)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"[providers.acme\n", "invalid TOML"),
        (b"a = 1\na = 2\n", "invalid TOML"),
        (b"x = \n", "invalid TOML"),
        (b"big = " + b"9" * 5000, "invalid TOML"),
        (b"default_model = '\xff\xfe'", "not UTF-8"),
        (b"\x00\x01\x02", "invalid TOML"),
    ],
)
def test_unreadable_file(raw: bytes, words: str, tmp_path: Path) -> None:
    """Malformed TOML and non-UTF-8 bytes are a ConfigError naming the file."""
    path = tmp_path / "config.toml"
    path.write_bytes(raw)
    error = config_error(lambda: load_config(path))
    assert words in str(error)
    assert str(path) in str(error)
    assert error.file == str(path)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    """A config file named explicitly must exist."""
    missing = tmp_path / "nope.toml"
    error = config_error(lambda: load_config(missing))
    assert "not found" in str(error)
    assert str(missing) in str(error)


def test_missing_file_named_by_environment_is_an_error(tmp_path: Path) -> None:
    """CLAWDESK_CONFIG naming a missing file is an error too."""
    missing = tmp_path / "nope.toml"
    error = config_error(lambda: load_config(env={"CLAWDESK_CONFIG": str(missing)}))
    assert str(missing) in str(error)


def test_directory_as_config_file(tmp_path: Path) -> None:
    """A directory where the file should be is a ConfigError, not an OSError."""
    error = config_error(lambda: load_config(tmp_path))
    assert "cannot read config file" in str(error)


def test_config_from_environment_variable(tmp_path: Path) -> None:
    """CLAWDESK_CONFIG names the file when no path is given; an explicit path wins over it."""
    by_env = tmp_path / "env.toml"
    by_env.write_text('default_model = "env/model"')
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('default_model = "explicit/model"')
    assert load_config(env={"CLAWDESK_CONFIG": str(by_env)}).default_model == "env/model"
    assert load_config(explicit, env={"CLAWDESK_CONFIG": str(by_env)}).default_model == "explicit/model"
    assert load_config(env={"CLAWDESK_CONFIG": str(by_env)}).source == str(by_env)


def test_default_location_may_be_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --config or CLAWDESK_CONFIG, a missing file in the user config dir means defaults."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "clawdesk" / "config.toml"
    assert load_config(env={}) == Config()
    default_config_path().parent.mkdir()
    default_config_path().write_text("[fallback]\nchain = ['acme']")
    assert load_config(env={}).fallback.chain == ("acme",)


def test_config_class_with_unresolvable_annotation_is_a_config_error() -> None:
    """A plugin config class whose annotations cannot be resolved gives ConfigError, not NameError."""

    @frozen(kw_only=True)
    class Broken(ProviderConfig):
        extra: NoSuchType | None = None  # type: ignore[name-defined]  # noqa: F821

    error = config_error(lambda: parse_config("").provider_config("broken", Broken, env={}))
    assert error.path == "providers.broken"
    assert "NameError" in str(error)


# -- property tests: typed fields from generated TOML -------------------------------------


def toml_string(text: str) -> str:
    """A TOML basic string for ``text`` (control characters escaped)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
scalars = st.one_of(st.booleans(), st.integers(), st.floats(), texts)
any_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=8,
)
names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,12}", fullmatch=True)
model_ids = st.builds(
    lambda p, m: f"{p}/{m}" if m else p,
    names,
    st.one_of(st.just(""), st.text(string.ascii_letters + string.digits + "/:.-_", min_size=1, max_size=20)),
).filter(lambda s: not s.endswith("/"))
hosts = st.builds(
    lambda host, port: f"{host}:{port}" if port else host,
    st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
    st.none() | st.integers(1, 65535),
)
timeouts = st.one_of(st.floats(min_value=0, max_value=3600, exclude_min=True), st.integers(min_value=1, max_value=3600))
counts = st.integers(min_value=0, max_value=2**63 - 1)
positive = st.one_of(st.floats(min_value=0, exclude_min=True, allow_infinity=False), st.integers(1, 2**53))
non_negative = st.one_of(st.floats(min_value=0, allow_infinity=False), st.integers(0, 2**53))

# What an HTTP header can carry: printable ASCII without blanks (others are refused; see tests/hardening).
keys = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)

#: For each typed field: (table, key, strategy of valid values, what kind of value it wants).
VALID: list[tuple[str, str, st.SearchStrategy[Any], str]] = [
    ("providers.acme", "api_key", keys, "str"),
    (
        "providers.acme",
        "base_url",
        st.builds(lambda s, h: f"{s}://{h}", st.sampled_from(["http", "https"]), hosts),
        "str",
    ),
    ("providers.acme", "default_model", texts, "str"),
    ("providers.acme", "max_retries", counts, "int"),
    ("providers.acme", "timeout_secs", timeouts, "float"),
    ("providers.acme", "verify_tls", st.booleans(), "bool"),
    ("providers.acme", "organisation", texts, "str"),
    ("providers.acme", "tags", st.lists(texts, max_size=4), "list"),
    ("fallback", "chain", st.lists(model_ids, max_size=4), "list"),
    ("fallback", "strategy", st.sampled_from(["sequential", "capability-match"]), "str"),
    ("fallback", "max_retries_per_provider", counts, "int"),
    ("fallback", "backoff_base_secs", positive, "float"),
    ("fallback", "backoff_max_secs", positive, "float"),
    ("fallback", "max_retry_after_secs", non_negative, "float"),
    ("fallback", "deadline_secs", timeouts, "float"),
    ("fallback", "stop_on_invalid_request", st.booleans(), "bool"),
    ("fallback", "cooldown_failures", counts, "int"),
    ("fallback", "cooldown_window_secs", positive, "float"),
    ("fallback", "cooldown_secs", non_negative, "float"),
]

#: TOML values that are never right for a field wanting ``kind``.
WRONG: dict[str, st.SearchStrategy[Any]] = {
    "str": st.one_of(st.booleans(), st.integers(), st.floats(), st.lists(scalars, max_size=3)),
    "int": st.one_of(st.booleans(), st.floats(), texts, st.lists(scalars, max_size=3)),
    "float": st.one_of(
        st.booleans(), texts, st.lists(scalars, max_size=3), st.dictionaries(texts, scalars, max_size=2)
    ),
    "bool": st.one_of(st.integers(), st.floats(), texts, st.lists(scalars, max_size=3)),
    "list": st.one_of(st.booleans(), st.integers(), st.floats(), texts),
}


def load_field(table: str, key: str, value: Any) -> Any:
    config = parse_config(f"[{table}]\n{key} = {toml_value(value)}\n")
    if table == "fallback":
        return getattr(config.fallback, key)
    return getattr(config.provider_config("acme", AcmeConfig, env={}), key)


@given(st.data())
def test_valid_values_are_accepted_and_round_trip(data: st.DataObject) -> None:
    """Every valid TOML value of a typed field is accepted and read back unchanged."""
    with SCRUB():
        table, key, values, kind = data.draw(st.sampled_from(VALID))
        value = data.draw(values)
        loaded = load_field(table, key, value)
        if key == "api_key":
            assert isinstance(loaded, Secret)
            assert loaded.reveal() == value
        elif kind == "float":
            assert isinstance(loaded, float)
            assert loaded == float(value)
        elif kind == "list":
            assert list(loaded) == value
        else:
            assert loaded == value
            assert type(loaded) is type(value)


@given(st.data())
def test_wrong_types_give_config_error_naming_the_path(data: st.DataObject) -> None:
    """A value of the wrong TOML type is a ConfigError naming the field's path, never another exception."""
    with SCRUB():
        table, key, _, kind = data.draw(st.sampled_from(VALID))
        value = data.draw(WRONG[kind])
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return  # integers are fine numbers
        with pytest.raises(ConfigError) as info:
            load_field(table, key, value)
        assert info.value.path is not None
        assert info.value.path.startswith(f"{table}.{key}")
        assert "\n" not in str(info.value)


@given(st.data())
def test_any_value_gives_a_config_or_a_config_error(data: st.DataObject) -> None:
    """Whatever TOML value lands in any field (known or not), loading gives a value or a ConfigError."""
    with SCRUB():
        table = data.draw(st.sampled_from(["providers.acme", "fallback", "providers.acme.deeper"]))
        key = data.draw(st.sampled_from([k for _, k, _, _ in VALID] + ["unknown"]))
        value = data.draw(any_values)
        error = outcome(
            lambda: parse_config(f"[{table}]\n{key} = {toml_value(value)}\n").provider_config(
                "acme", AcmeConfig, env={}
            )
        )
        if error is not None:
            assert error.path is not None
            assert error.path.startswith(table.rsplit(".", 1)[0] if table.endswith("deeper") else table)
            assert "\n" not in str(error)


def outcome(thunk: Any) -> ConfigError | None:
    """None when ``thunk`` succeeds, the ConfigError when it raises one (anything else propagates)."""
    try:
        thunk()
    except ConfigError as exc:
        return exc
    return None


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_parser(raw: bytes) -> None:
    """Any bytes at all give a Config or a one-line ConfigError."""
    with SCRUB():
        error = outcome(lambda: parse_config(raw))
        assert error is None or "\n" not in str(error)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"base_url": "ftp://x"}, "base_url: expected an http:// or https:// URL"),
        ({"timeout_secs": 0.0}, "expected seconds between 0"),
        ({"max_retries": -1}, "expected a number >= 0"),
    ],
)
def test_subclass_redeclaring_a_field_keeps_the_base_checks(kwargs: dict[str, Any], words: str) -> None:
    """A plugin's config class that redeclares base_url (new default, no validator) is still checked."""
    with pytest.raises(ValueError, match=words):
        AcmeConfig(**kwargs)


def test_credentials_in_base_url_are_refused_without_being_shown() -> None:
    """A base_url with user:password is refused, and the error does not repeat the password."""
    error = config_error(lambda: acme("[providers.acme]\nbase_url = 'https://proxyuser:hunter2-pw@host/v1'"))
    assert "credentials belong in api_key" in str(error)
    assert "hunter2-pw" not in str(error)
    assert "https://***@host/v1" in str(error)


def test_endless_config_file_is_refused() -> None:
    """A config 'file' that never ends (/dev/zero) is a ConfigError after 1 MiB, not an exhausted memory."""
    error = config_error(lambda: load_config("/dev/zero"))
    assert "larger than 1024 KiB" in str(error)


def test_config_from_a_pipe(tmp_path: Path) -> None:
    """A config read from a pipe (shell process substitution) works."""
    import os
    import threading

    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        fifo.write_text("default_model = 'acme/x'\n")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert load_config(fifo).default_model == "acme/x"
    finally:
        writer.join(5)
