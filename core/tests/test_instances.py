"""Named instances of a plugin and provider options, as the client resolves them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from attrs import frozen

from clawdesk import (
    ApiError,
    AuthFailed,
    ChatOptions,
    ChatRequest,
    ChatResponse,
    Clawdesk,
    ConfigError,
    Finish,
    FinishReason,
    InvalidRequest,
    Message,
    ProviderNotFound,
    Registry,
    StreamEvent,
    TextDelta,
    parse_config,
)
from clawdesk.provider import ProviderConfig, hookimpl


@frozen(kw_only=True)
class EchoConfig(ProviderConfig):
    api_key_env: str | None = "ECHO_API_KEY"
    requires_api_key: bool = True
    region: str = "north"


@frozen(kw_only=True)
class EchoOptions:
    think: bool = False
    num_ctx: int | None = None
    tags: tuple[str, ...] = ()


class Echo:
    """A provider that answers with what it was given: its config's name, region and typed options."""

    CLAWDESK_CONTRACT = 2

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.seen: list[tuple[str, Any]] = []

    @hookimpl
    def provider_name(self) -> str:
        return "echo"

    @hookimpl
    def provider_config_type(self) -> type[ProviderConfig]:
        return EchoConfig

    @hookimpl
    def provider_options_type(self) -> type:
        return EchoOptions

    @hookimpl
    async def provider_models(self) -> list[Any]:
        return []

    @hookimpl
    def provider_capabilities(self) -> None:
        return None

    @hookimpl
    async def provider_chat(self, config: ProviderConfig, request: ChatRequest) -> ChatResponse:
        assert isinstance(config, EchoConfig)
        self.seen.append((config.name, request.provider_options))
        if self.fail is not None:
            raise self.fail
        return ChatResponse(
            message=Message.assistant(f"{config.name}:{config.region}"),
            finish_reason=FinishReason.STOP,
            provider="echo",  # what a plugin that ignores config.name writes
            model=request.model,
        )

    @hookimpl
    async def provider_stream(self, config: ProviderConfig, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.seen.append((config.name, request.provider_options))
        if self.fail is not None:
            raise self.fail
        yield TextDelta(config.name)
        yield Finish(FinishReason.STOP)


CONFIG = """
[providers.echo]
api_key = "echo-key-123456"

[providers.south]
plugin = "echo"
region = "south"
api_key_env = "SOUTH_KEY"
default_model = "m2"
"""


def client(plugin: Echo, text: str = CONFIG, env: dict[str, str] | None = None) -> Clawdesk:
    registry = Registry(discover=False)
    registry.register(plugin)
    return Clawdesk(registry=registry, config=parse_config(text), env=env if env is not None else {"SOUTH_KEY": "k"})


@pytest.mark.anyio
async def test_an_instance_is_a_provider_under_its_own_name() -> None:
    """[providers.south] plugin = "echo" is listed, resolved and answered as 'south', with its own table."""
    echo = Echo()
    cd = client(echo)
    assert cd.providers() == ["echo", "south"]
    assert str(cd.resolve("south")) == "south/m2"
    response = await cd.chat("south/m", "hi")
    assert (response.provider, response.message.text) == ("south", "south:south")
    response = await cd.chat("echo/m", "hi")
    assert (response.provider, response.message.text) == ("echo", "echo:north")
    events = [e async for e in cd.stream("south/m", "hi")]
    assert events[0] == TextDelta("south")


@pytest.mark.anyio
async def test_an_instance_reads_its_own_key_variable() -> None:
    """An instance's api_key_env names where its key comes from; without it, core refuses with that hint."""
    cd = client(Echo(), env={})
    with pytest.raises(AuthFailed, match=r"south: auth_failed: no API key: set SOUTH_KEY or providers\.south\.api_key"):
        await cd.chat_target(cd.resolve("south/m"), ChatRequest("m", [Message.user("hi")]))


@pytest.mark.anyio
async def test_errors_are_reported_under_the_instance_name() -> None:
    """An error the plugin raised under its own name reaches the caller under the instance's."""
    cd = client(Echo(fail=ApiError("down", provider="echo", status=503)))
    with pytest.raises(ApiError) as caught:
        await cd.chat_target(cd.resolve("south/m"), ChatRequest("m", [Message.user("hi")]))
    assert caught.value.provider == "south"
    assert str(caught.value).startswith("south: api_error (HTTP 503)")


def test_an_instance_of_a_missing_plugin_says_so() -> None:
    """A table naming a plugin that is not installed is not a provider; using it says which plugin is missing."""
    cd = client(Echo(), CONFIG + '\n[providers.gpu2]\nplugin = "ollama"\n')
    assert "gpu2" not in cd.providers()
    with pytest.raises(ProviderNotFound, match="its plugin 'ollama' is not installed"):
        cd.resolve("gpu2/llama3.2")


def test_name_is_not_a_config_key() -> None:
    """The table's own name is set by core; writing one is a config error naming the key."""
    cd = client(Echo(), '[providers.echo]\nname = "other"\n')
    with pytest.raises(ConfigError, match=r"providers\.echo\.name: is set by clawdesk"):
        cd.provider_config("echo")


def test_plugin_must_be_a_provider_name() -> None:
    """plugin = 42 or plugin = "Not A Name" is refused when the file is read."""
    for bad in ("42", '"Not A Name"'):
        with pytest.raises(ConfigError, match=r"providers\.x\.plugin: expected the name of an installed provider"):
            parse_config(f"[providers.x]\nplugin = {bad}\n")


# -- provider options ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_provider_options_are_typed_and_namespaced() -> None:
    """The plugin's table is structured into its options class; other providers' tables are ignored."""
    echo = Echo()
    cd = client(echo)
    options = ChatOptions(provider_options={"echo": {"think": True, "tags": ["a"]}, "mistral": {"safe_prompt": 1}})
    await cd.chat("echo/m", "hi", options)
    assert echo.seen[-1] == ("echo", EchoOptions(think=True, tags=("a",)))


@pytest.mark.anyio
async def test_an_instance_reads_its_plugins_table_then_its_own() -> None:
    """'south' gets the 'echo' table with its own 'south' table on top."""
    echo = Echo()
    cd = client(echo)
    options = ChatOptions(provider_options={"echo": {"think": True, "num_ctx": 1}, "south": {"num_ctx": 8192}})
    await cd.chat("south/m", "hi", options)
    assert echo.seen[-1] == ("south", EchoOptions(think=True, num_ctx=8192))
    await cd.chat("echo/m", "hi", options)
    assert echo.seen[-1] == ("echo", EchoOptions(think=True, num_ctx=1))


@pytest.mark.anyio
async def test_without_options_the_plugin_gets_its_defaults() -> None:
    """No table for this provider: the options class with its defaults, never None."""
    echo = Echo()
    await client(echo).chat("echo/m", "hi")
    assert echo.seen[-1] == ("echo", EchoOptions())


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"thinks": True}, r"provider_options\.echo\.thinks: unknown key"),
        ({"num_ctx": "big"}, r"provider_options\.echo\.num_ctx: expected an integer, got a string"),
        ({"think": "yes"}, r"provider_options\.echo\.think: expected true or false"),
    ],
)
async def test_bad_options_are_refused_before_sending(table: dict[str, Any], message: str) -> None:
    """An unknown key or a wrong type is InvalidRequest naming the key path, and the plugin is never called."""
    echo = Echo()
    with pytest.raises(InvalidRequest, match=message):
        await client(echo).chat("echo/m", "hi", ChatOptions(provider_options={"echo": table}))
    assert echo.seen == []


@pytest.mark.anyio
async def test_options_for_a_provider_without_an_options_class_are_refused() -> None:
    """A table for a plugin that takes no options is refused rather than dropped."""

    class Plain(Echo):
        provider_options_type = None  # type: ignore[assignment]

    echo = Plain()
    with pytest.raises(InvalidRequest, match=r"provider_options\.echo: the echo provider takes no provider options"):
        await client(echo).chat("echo/m", "hi", ChatOptions(provider_options={"echo": {"think": True}}))
