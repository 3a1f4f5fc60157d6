"""Hostile plugins: none takes the registry down, and each is reported with a clear reason.

Load-time misbehaviour (blocking import, a name another plugin has, bad hook
results at load) shows up in ``clawdesk plugins``; call-time misbehaviour
(wrong result types, exceptions, hangs) gives a clear PluginError or typed
error for that provider only, while other providers keep working.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from clawdesk import (
    Capability,
    ChatOptions,
    ChatResponse,
    Clawdesk,
    ClawdeskError,
    Config,
    ConnectionFailed,
    FallbackConfig,
    Finish,
    FinishReason,
    Message,
    ModelInfo,
    PluginError,
    Registry,
    StreamInterrupted,
    TextDelta,
    TimedOut,
)
from clawdesk.provider import ProviderConfig, hookimpl
from clawdesk.testing import Reply, ScriptedServer

fakedist = sys.modules["clawdesk_tests_fakedist"]
plugin_source = fakedist.plugin_source

KEY = "sk-hostile-plugins-0123456789"


# -- load time, through the real CLI --------------------------------------------------------------

#: Broken-at-load plugins: entry-point name -> (hook overrides or prelude, words the reason must contain).
ZOO: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "sleeper": ({"prelude": "BLOCK"}, ("import of", "did not finish within 0.5s")),
    "spinner": ({"prelude": "while True:\n    pass\n"}, ("did not finish within 0.5s",)),
    "bomb": ({"prelude": "raise MemoryError('allocation at import')"}, ("MemoryError: allocation at import",)),
    "quitter": ({"prelude": "import os, sys\nsys.exit('bye')"}, ("SystemExit: bye",)),
    "impostor": ({"name": "alpha"}, ("provider_name returned 'alpha'", "entry point is named 'impostor'")),
    "nameless": ({"hooks": {"provider_name": "@hookimpl\ndef provider_name():\n    return b'bytes'\n"}}, ("b'bytes'",)),
    "liar": (
        {"hooks": {"provider_config_type": "@hookimpl\ndef provider_config_type():\n    return 'Config'\n"}},
        ("provider_config_type returned 'Config'",),
    ),
    "typo": (
        {"hooks": {"provider_models": "@hookimpl\nasync def provider_models(config, htpp, refresh):\n    return []\n"}},
        ("'provider_models'", "'htpp'"),
    ),
}


def zoo_source(name: str, spec: dict[str, Any], site: Any) -> str:
    prelude = spec.get("prelude", "")
    if prelude == "BLOCK":
        prelude = site.blocking_prelude(limit=20)
    return plugin_source(spec.get("name", name), hooks=spec.get("hooks"), prelude=prelude)


def test_hostile_zoo_in_clawdesk_plugins(fake_site: Any, tmp_path: Path) -> None:
    """Every load-time hostile plugin is listed with its reason; the good plugin loads and still chats."""
    for name, (spec, _) in ZOO.items():
        fake_site.add(name, zoo_source(name, spec, fake_site))
    fake_site.add("alpha", dist="alpha-one")
    fake_site.add("alpha", dist="alpha-two")  # a second distribution claiming the same name
    plugins = ",".join([*ZOO, "alpha-one", "alpha-two"])
    env = fakedist.cli_env(
        tmp_path,
        site=fake_site.path,
        plugins=plugins,
        extra={"CLAWDESK_PLUGIN_IMPORT_TIMEOUT": "0.5", "ALPHA_API_KEY": KEY},
    )
    started = time.monotonic()
    result = fakedist.run_cli(["plugins", "--json"], env, timeout=60)
    assert time.monotonic() - started < 30  # two plugins stuck at import cost 0.5 s each, not forever
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(row["name"], []).append(row)
    for name, (_, words) in ZOO.items():
        (row,) = by_name[name]
        assert row["status"] == "error", row
        for word in words:
            assert word in row["error"], (name, row["error"])
        assert "\n" not in row["error"]
    alphas = sorted(by_name["alpha"], key=lambda r: r["status"])
    assert [r["status"] for r in alphas] == ["error", "ok"]
    assert "duplicate provider name 'alpha'" in alphas[0]["error"]
    assert alphas[1]["distribution"] in alphas[0]["error"]

    # The same zoo, a real chat through the good provider.
    with ScriptedServer() as server:
        server.add(Reply.json({"content": "still standing"}))
        config = tmp_path / "config.toml"
        config.write_text(f'[providers.alpha]\nbase_url = "{server.url}"\n')
        chat = fakedist.run_cli(["chat", "hi", "-m", "alpha/small", "--no-stream", "--config", str(config)], env)
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip() == "still standing"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    for text in (result.stdout, result.stderr, chat.stdout, chat.stderr):
        assert KEY not in text


def test_plugin_blocking_import_inside_an_event_loop(fake_site: Any) -> None:
    """A registry built inside a running event loop is held up by a stuck plugin only for the import timeout."""
    fake_site.add("sleeper", plugin_source("sleeper", prelude=fake_site.blocking_prelude()))
    fake_site.add("alpha")

    async def build() -> Registry:
        return Registry(plugins="sleeper,alpha", import_timeout=0.3)

    started = time.monotonic()
    registry = anyio.run(build)
    assert time.monotonic() - started < 5
    assert registry.names() == ["alpha"]


# -- call time, through the Python API ------------------------------------------------------------------


class Base:
    """A well-behaved provider; subclasses break one hook each."""

    name = "base"
    CLAWDESK_CONTRACT = 2

    @hookimpl
    def provider_name(self) -> str:
        return self.name

    @hookimpl
    async def provider_models(self, config: ProviderConfig, http: Any, refresh: bool) -> Any:
        return [ModelInfo("m", {Capability.CHAT})]

    @hookimpl
    def provider_capabilities(self, config: ProviderConfig, model: str) -> Any:
        return frozenset({Capability.CHAT})

    @hookimpl
    async def provider_chat(self, config: ProviderConfig, http: Any, request: Any) -> Any:
        return ChatResponse(
            message=Message.assistant("fine"), finish_reason=FinishReason.STOP, provider=self.name, model=request.model
        )

    @hookimpl
    async def provider_stream(self, config: ProviderConfig, http: Any, request: Any) -> AsyncIterator[Any]:
        yield TextDelta("fine")
        yield Finish(FinishReason.STOP)


class Good(Base):
    name = "good"


class ModelsNotModelInfo(Base):
    name = "junkmodels"

    @hookimpl
    async def provider_models(self, config: ProviderConfig, http: Any, refresh: bool) -> Any:
        return ["llama3", {"id": "x"}]


class ModelsNone(Base):
    name = "nomodels"

    @hookimpl
    async def provider_models(self, config: ProviderConfig, http: Any, refresh: bool) -> Any:
        return None


class ModelsRaise(Base):
    name = "raisemodels"

    @hookimpl
    async def provider_models(self, config: ProviderConfig, http: Any, refresh: bool) -> Any:
        raise RuntimeError("models exploded")


class ModelsHang(Base):
    name = "hangmodels"

    @hookimpl
    async def provider_models(self, config: ProviderConfig, http: Any, refresh: bool) -> Any:
        await anyio.sleep(3600)


class CapsStrings(Base):
    name = "strcaps"

    @hookimpl
    def provider_capabilities(self, config: ProviderConfig, model: str) -> Any:
        return ["chat", "vision"]


class CapsRaise(Base):
    name = "raisecaps"

    @hookimpl
    def provider_capabilities(self, config: ProviderConfig, model: str) -> Any:
        raise KeyError(model)


class ChatDict(Base):
    name = "dictchat"

    @hookimpl
    async def provider_chat(self, config: ProviderConfig, http: Any, request: Any) -> Any:
        return {"message": "hi", "finish_reason": "stop"}


class ChatSync(Base):
    name = "syncchat"

    @hookimpl
    def provider_chat(self, config: ProviderConfig, http: Any, request: Any) -> Any:  # type: ignore[override]
        return "not awaitable"


class ChatHang(Base):
    name = "hangchat"

    @hookimpl
    async def provider_chat(self, config: ProviderConfig, http: Any, request: Any) -> Any:
        await anyio.sleep(3600)


class StreamJunk(Base):
    name = "junkstream"

    @hookimpl
    async def provider_stream(self, config: ProviderConfig, http: Any, request: Any) -> AsyncIterator[Any]:
        yield {"text": "a dict, not an event"}


class StreamJunkLater(Base):
    name = "junklater"

    @hookimpl
    async def provider_stream(self, config: ProviderConfig, http: Any, request: Any) -> AsyncIterator[Any]:
        yield TextDelta("part")
        yield "a string"


class StreamNone(Base):
    name = "nonestream"

    @hookimpl
    async def provider_stream(self, config: ProviderConfig, http: Any, request: Any) -> AsyncIterator[Any]:
        yield None


class StreamAfterFinish(Base):
    name = "afterfinish"

    @hookimpl
    async def provider_stream(self, config: ProviderConfig, http: Any, request: Any) -> AsyncIterator[Any]:
        yield TextDelta("part")
        yield Finish(FinishReason.STOP)
        yield TextDelta("more")


class StreamNotIterator(Base):
    name = "liststream"

    @hookimpl
    def provider_stream(self, config: ProviderConfig, http: Any, request: Any) -> Any:  # type: ignore[override]
        return [TextDelta("x"), Finish(FinishReason.STOP)]


class StreamNoFinish(Base):
    name = "nofinish"

    @hookimpl
    async def provider_stream(self, config: ProviderConfig, http: Any, request: Any) -> AsyncIterator[Any]:
        yield TextDelta("cut")


class ChatLeaksHttpx(Base):
    name = "leaky"

    @hookimpl
    async def provider_chat(self, config: ProviderConfig, http: Any, request: Any) -> Any:
        import httpx

        raise httpx.ConnectError("refused, and the plugin forgot to map it")


HOSTILE = [
    ModelsNotModelInfo,
    ModelsNone,
    ModelsRaise,
    ModelsHang,
    CapsStrings,
    CapsRaise,
    ChatDict,
    ChatSync,
    ChatHang,
    StreamJunk,
    StreamJunkLater,
    StreamNotIterator,
    StreamNoFinish,
    ChatLeaksHttpx,
]


def client_with(*plugins: Base) -> Clawdesk:
    registry = Registry(discover=False)
    for plugin in plugins:
        registry.register(plugin)
    # No retries: each hostile call is judged on its own (the fallback engine has its own tests).
    config = Config(
        providers={p.name: {"timeout_secs": 0.5, "max_retries": 0} for p in plugins},
        fallback=FallbackConfig(max_retries_per_provider=0),
    )
    return Clawdesk(registry=registry, config=config, env={})


def find(error: BaseException, kind: type[BaseException]) -> BaseException:
    """The error of type ``kind``: ``error`` itself, or the last attempt's error of a fallback failure."""
    if isinstance(error, kind):
        return error
    for attempt in reversed(getattr(error, "attempts", ())):
        inner = getattr(attempt, "error", None)
        if isinstance(inner, kind):
            return inner
    raise AssertionError(f"no {kind.__name__} in {error!r}")


@pytest.mark.anyio
async def test_all_hostile_plugins_register_and_good_one_works() -> None:
    """Registering every call-time hostile plugin next to a good one: all load, the good one still answers."""
    async with client_with(Good(), *(cls() for cls in HOSTILE)) as client:
        assert len(client.providers()) == len(HOSTILE) + 1
        response = await client.chat("good/m", "hi")
        assert response.message.text == "fine"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("cls", "words"),
    [
        (ModelsNotModelInfo, "provider_models returned something other than a list of ModelInfo"),
        (ModelsNone, "provider_models returned something other than a list of ModelInfo"),
        (ModelsRaise, "provider_models raised RuntimeError: models exploded"),
        (ModelsHang, "timed out"),
    ],
)
async def test_bad_models_give_an_error_for_that_provider_only(cls: type[Base], words: str) -> None:
    """A provider whose model listing misbehaves gets an error entry; the others' models are listed."""
    async with client_with(Good(), cls()) as client:
        started = time.monotonic()
        listings = {listing.provider: listing for listing in await client.models(refresh=True)}
        assert time.monotonic() - started < 0.5 + 1 + 2  # timeout_secs + margin, also for the hanging one
    assert listings["good"].error is None
    assert [m.id for m in listings["good"].models] == ["m"]
    bad = listings[cls.name]
    assert bad.models == ()
    assert isinstance(bad.error, ClawdeskError)
    assert words in str(bad.error)
    assert cls.name in str(bad.error)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("cls", "words"),
    [
        (CapsStrings, "provider_capabilities returned list, expected a set of Capability"),
        (CapsRaise, "provider_capabilities raised KeyError"),
    ],
)
async def test_bad_capabilities_are_a_plugin_error(cls: type[Base], words: str) -> None:
    """Capabilities of the wrong type, or an exception, are a PluginError naming the plugin and hook."""
    async with client_with(cls()) as client:
        with pytest.raises(PluginError) as info:
            client.capabilities(client.resolve(f"{cls.name}/m"))
    assert info.value.plugin == cls.name
    assert words in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("cls", "kind", "words"),
    [
        (ChatDict, PluginError, "provider_chat returned dict, expected ChatResponse"),
        (ChatSync, PluginError, "provider_chat raised TypeError"),
        (ChatHang, TimedOut, "no answer within 0.3s"),
        (ChatLeaksHttpx, ConnectionFailed, "refused, and the plugin forgot to map it"),
    ],
)
async def test_bad_chat_results_are_typed_errors(cls: type[Base], kind: type[ClawdeskError], words: str) -> None:
    """A chat hook returning junk, not awaitable, hanging or leaking httpx errors gives one typed error."""
    async with client_with(cls()) as client:
        started = time.monotonic()
        with pytest.raises(ClawdeskError) as info:
            await client.chat(f"{cls.name}/m", "hi", ChatOptions(timeout=0.3))
        assert time.monotonic() - started < 0.3 + 2
    error = find(info.value, kind)
    assert words in str(error)
    assert cls.name in str(error)


async def drain(client: Clawdesk, model: str) -> list[Any]:
    events = []
    async with client.stream(model, "hi") as stream:
        async for event in stream:
            events.append(event)
    return events


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("cls", "words"),
    [
        (StreamJunk, "provider_stream yielded dict, not a stream event"),
        (StreamNone, "provider_stream yielded NoneType, not a stream event"),
        (StreamNotIterator, "provider_stream returned list, expected an async iterator"),
    ],
)
async def test_bad_stream_before_first_event_is_a_plugin_error(cls: type[Base], words: str) -> None:
    """A stream hook that yields junk first, or is not an async iterator, is a PluginError naming the plugin."""
    async with client_with(cls()) as client:
        with pytest.raises(ClawdeskError) as info:
            await drain(client, f"{cls.name}/m")
    error = find(info.value, PluginError)
    assert words in str(error)
    assert cls.name in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("cls", "words"),
    [
        (StreamJunkLater, "provider_stream yielded str, not a stream event"),
        (StreamNoFinish, "provider_stream ended without a Finish event"),
    ],
)
async def test_bad_stream_after_first_event_is_interrupted(cls: type[Base], words: str) -> None:
    """Junk or a missing Finish after events were delivered is StreamInterrupted carrying what was delivered."""
    async with client_with(cls()) as client:
        with pytest.raises(StreamInterrupted) as info:
            await drain(client, f"{cls.name}/m")
    assert info.value.delivered == (TextDelta(info.value.delivered[0].text),)
    assert words in str(info.value)
    assert not info.value.retryable


@pytest.mark.anyio
async def test_an_event_after_finish_is_interrupted() -> None:
    """An event after Finish is StreamInterrupted naming the plugin's mistake, carrying the events up to Finish."""
    async with client_with(StreamAfterFinish()) as client:
        with pytest.raises(StreamInterrupted) as info:
            await drain(client, "afterfinish/m")
    assert info.value.delivered == (TextDelta("part"), Finish(FinishReason.STOP))
    assert "provider_stream yielded an event after Finish" in str(info.value)


# -- call time, through the CLI -----------------------------------------------------------------------

JUNK_MODELS = "@hookimpl\nasync def provider_models(config, http, refresh):\n    return ['not', 'ModelInfo']\n"
DICT_CHAT = "@hookimpl\nasync def provider_chat(config, http, request):\n    return {'content': 'hi'}\n"
RAISE_MODELS = "@hookimpl\nasync def provider_models(config, http, refresh):\n    raise RuntimeError('nope')\n"


def test_cli_models_with_hostile_plugins(fake_site: Any, tmp_path: Path) -> None:
    """clawdesk models: hostile listings are warning lines; the good provider's models are printed; exit 0."""
    fake_site.add("alpha")
    fake_site.add("junk", plugin_source("junk", hooks={"provider_models": JUNK_MODELS}))
    fake_site.add("raiser", plugin_source("raiser", hooks={"provider_models": RAISE_MODELS}))
    env = fakedist.cli_env(tmp_path, site=fake_site.path, plugins="alpha,junk,raiser")
    result = fakedist.run_cli(["models"], env)
    assert result.returncode == 0, result.stderr
    warnings = sorted(result.stderr.strip().splitlines())
    assert len(warnings) == 2, result.stderr
    assert warnings[0].startswith("clawdesk: warning: plugin 'junk': provider_models returned")
    assert warnings[1].startswith("clawdesk: warning: plugin 'raiser': provider_models raised RuntimeError: nope")
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["alpha/small"]


def test_cli_chat_with_a_plugin_returning_a_dict(fake_site: Any, tmp_path: Path) -> None:
    """clawdesk chat through a plugin whose chat returns a dict: one line naming plugin and hook, exit 1."""
    fake_site.add("dicty", plugin_source("dicty", hooks={"provider_chat": DICT_CHAT}))
    env = fakedist.cli_env(tmp_path, site=fake_site.path, plugins="dicty")
    result = fakedist.run_cli(["chat", "hi", "-m", "dicty/x", "--no-stream"], env)
    fakedist.assert_one_line_error(result, 1, "dicty", "provider_chat returned dict")


JUNK_STREAM = "@hookimpl\nasync def provider_stream(config, http, request):\n    yield {'text': 'not an event'}\n"


def test_cli_stream_with_a_plugin_yielding_junk(fake_site: Any, tmp_path: Path) -> None:
    """clawdesk chat (streaming) through a plugin yielding a dict: one line naming plugin and hook, exit 1."""
    fake_site.add("junky", plugin_source("junky", hooks={"provider_stream": JUNK_STREAM}))
    env = fakedist.cli_env(tmp_path, site=fake_site.path, plugins="junky")
    result = fakedist.run_cli(["chat", "hi", "-m", "junky/x"], env)
    fakedist.assert_one_line_error(result, 1, "junky", "provider_stream yielded dict")
