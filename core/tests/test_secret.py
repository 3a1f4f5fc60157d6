"""Secrets: never in a repr, an error message, a log record or a pickle."""

from __future__ import annotations

import copy
import logging
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    AuthFailed,
    ChatOptions,
    Clawdesk,
    ClawdeskError,
    ConfigError,
    Registry,
    Secret,
    parse_config,
)
from clawdesk._secret import RedactingFilter, redact
from clawdesk.provider import ProviderConfig
from clawdesk.testing import Reply, ScriptedServer

KEY = "sk-live-9f8e7d6c5b4a3210-redaction-test"


def test_secret_never_shows_itself() -> None:
    """repr, str, format and f-strings of a Secret show only ***."""
    secret = Secret(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", format(secret, ">60"), "%s" % secret):  # noqa: UP031
        assert KEY not in text
        assert "***" in text
    assert secret.reveal() == KEY


def test_secret_value_semantics() -> None:
    """Secrets compare and hash by value, are falsy when empty, and wrap only strings."""
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) != Secret("other-key-value")
    assert Secret(KEY) != KEY
    assert hash(Secret(KEY)) == hash(Secret(KEY))
    assert not Secret("")
    assert Secret(Secret(KEY)).reveal() == KEY
    with pytest.raises(TypeError):
        Secret(12345678)  # type: ignore[arg-type]


def test_secret_cannot_be_pickled() -> None:
    """Pickling a Secret, or anything holding one, raises instead of writing the key out."""
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(KEY))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ProviderConfig(api_key=Secret(KEY)))


def test_secret_can_be_copied() -> None:
    """copy and deepcopy (which would otherwise go through pickling's protocol) work and keep the value."""
    config = ProviderConfig(api_key=Secret(KEY))
    assert copy.copy(config.api_key) is config.api_key
    assert copy.deepcopy(config) == config


def test_config_objects_do_not_show_the_key() -> None:
    """Neither the parsed config, its raw provider tables, nor the structured provider config show the key."""
    config = parse_config(f'[providers.acme]\napi_key = "{KEY}"\n')
    provider = config.provider_config("acme", ProviderConfig, env={})
    for text in (repr(config), str(config), repr(config.providers), repr(provider), str(provider)):
        assert KEY not in text
    assert provider.api_key == Secret(KEY)


def test_key_from_environment_does_not_show() -> None:
    """A key read from the environment is a Secret too."""

    @frozen(kw_only=True)
    class EnvConfig(ProviderConfig):
        api_key_env: str | None = "ACME_KEY"

    config = parse_config("").provider_config("acme", EnvConfig, env={"ACME_KEY": KEY})
    assert isinstance(config.api_key, Secret)
    assert KEY not in repr(config)


def test_config_errors_do_not_show_the_key() -> None:
    """A ConfigError next to a key (an unknown key, a bad value in the same table) never quotes it."""
    for toml in (
        f'[providers.acme]\napi_key = "{KEY}"\ntimeout_secs = "x"\n',
        f'[providers.acme]\napikey = "{KEY}"\n',
        f'[providers.acme]\napi_key = ["{KEY}"]\n',
    ):
        with pytest.raises(ConfigError) as info:
            parse_config(toml).provider_config("acme", ProviderConfig, env={})
        assert KEY not in str(info.value)
        assert KEY not in repr(info.value)


def test_errors_scrub_known_keys() -> None:
    """An error message that quotes a known key (a server echoing it back) shows *** instead."""
    Secret(KEY)
    error = AuthFailed(f"invalid api key {KEY}", provider="acme", status=401)
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert KEY not in error.detail
    assert "***" in str(error)


@given(
    st.text(min_size=6, max_size=40).filter(lambda s: len(s.strip()) >= 6), st.text(max_size=40), st.text(max_size=40)
)
def test_redact_removes_every_known_value(value: str, before: str, after: str) -> None:
    """redact() removes a known secret wherever it appears in a text."""
    with sys.modules["clawdesk_tests_fakedist"].scrub_list_restored():
        Secret(value)
        assert value not in redact(before + value + after + value)
    assert redact(value) == value  # forgotten again: other tests' messages stay intact


def test_short_values_are_not_scrubbed() -> None:
    """Values under 6 characters are not scrubbed from free text (they would mangle every message)."""
    Secret("abc")
    assert redact("abc def") == "abc def"


def test_redacting_filter_scrubs_log_records() -> None:
    """The CLI's logging filter scrubs a known key from a record's formatted message."""
    Secret(KEY)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sending %s to %s", (KEY, "host"), None)
    assert RedactingFilter().filter(record)
    assert KEY not in record.getMessage()
    assert "host" in record.getMessage()


# -- end to end: a failing request, logs captured at DEBUG -------------------------------------------


def load_fake_provider(fake_site: Any) -> Registry:
    import importlib

    fakedist = __import__("sys").modules["clawdesk_tests_fakedist"]
    module = importlib.import_module(fake_site.add("keyed", fakedist.plugin_source("keyed")))
    registry = Registry(discover=False)
    registry.register(module)
    return registry


async def call(client: Clawdesk, *, stream: bool) -> None:
    if stream:
        async with client.stream("keyed/m", "hi", ChatOptions(timeout=5)) as events:
            async for _ in events:
                pass
    else:
        await client.chat("keyed/m", "hi", ChatOptions(timeout=5))


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
async def test_key_appears_in_no_log_record_or_error(
    fake_site: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path, stream: bool
) -> None:
    """A request refused with the key echoed back: the key is sent, but shows in no log, error or repr."""
    registry = load_fake_provider(fake_site)
    with ScriptedServer() as server:
        echo = {"message": f"Invalid API key: {KEY}", "key": KEY}
        server.add(Reply.json(echo, status=401, headers=[("www-authenticate", f"Bearer {KEY}")]))
        config = parse_config(f'[providers.keyed]\nbase_url = "{server.url}"\n')
        caplog.set_level(logging.DEBUG)
        async with Clawdesk(registry=registry, config=config, env={"KEYED_API_KEY": KEY}) as client:
            # Pinned to one provider the fallback engine may wrap the AuthFailed in AllProvidersFailed.
            with pytest.raises(ClawdeskError, match="auth_failed") as info:
                await call(client, stream=stream)
            texts = [repr(client.provider_config("keyed")), repr(client.config), repr(client.registry)]
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # the key did go on the wire
    error = info.value
    texts += [str(error), repr(error), repr(error.__cause__), repr(error.__context__)]
    texts += [repr(vars(error))]  # .detail, .url, .attempts with each attempt's error
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    assert caplog.records  # httpx did log at DEBUG, so the check below means something
    for text in texts:
        assert KEY not in text


def test_redacting_filter_tolerates_malformed_records() -> None:
    """A log call whose arguments do not fit its format passes the filter untouched instead of raising."""
    record = logging.LogRecord("httpcore.http11", logging.DEBUG, __file__, 1, "%s and %s", ("one",), None)
    assert RedactingFilter().filter(record)
    assert record.args == ("one",)
