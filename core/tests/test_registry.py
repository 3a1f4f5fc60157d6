"""The registry: discovery through entry points, validation of every hook, isolation of broken plugins."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    Capability,
    ChatResponse,
    Clawdesk,
    Config,
    Finish,
    FinishReason,
    Message,
    ModelInfo,
    PluginError,
    ProviderNotFound,
    Registry,
)
from clawdesk.provider import ProviderConfig, hookimpl

fakedist = sys.modules["clawdesk_tests_fakedist"]
plugin_source = fakedist.plugin_source


def status_of(registry: Registry, name: str) -> Any:
    matches = [s for s in registry.statuses() if s.name == name]
    assert len(matches) == 1, registry.statuses()
    return matches[0]


def only(*names: str) -> str:
    """An allow-list so the real plugins installed in the venv stay out of the way."""
    return ",".join(names)


# -- plugins as objects, for run-time registration ------------------------------


class GoodPlugin:
    """A complete provider whose hooks record every call."""

    CLAWDESK_CONTRACT = 2

    def __init__(self, name: str = "good") -> None:
        self.name = name
        self.calls: list[str] = []

    @hookimpl
    def provider_name(self) -> str:
        return self.name

    @hookimpl
    async def provider_models(self, config: ProviderConfig, http: Any, refresh: bool) -> list[ModelInfo]:
        self.calls.append("provider_models")
        return [ModelInfo("m", {Capability.CHAT})]

    @hookimpl
    def provider_capabilities(self, config: ProviderConfig, model: str) -> frozenset[Capability]:
        self.calls.append("provider_capabilities")
        return frozenset({Capability.CHAT})

    @hookimpl
    async def provider_chat(self, config: ProviderConfig, http: Any, request: Any) -> ChatResponse:
        self.calls.append("provider_chat")
        return ChatResponse(
            message=Message.assistant(f"{self.name} says hi"),
            finish_reason=FinishReason.STOP,
            provider=self.name,
            model=request.model,
        )

    @hookimpl
    async def provider_stream(self, config: ProviderConfig, http: Any, request: Any) -> Any:
        self.calls.append("provider_stream")
        yield Finish(FinishReason.STOP)


# -- entry-point discovery --------------------------------------------------------


def test_working_plugin_is_discovered_with_its_distribution(fake_site: Any) -> None:
    """A valid plugin on sys.path loads with status ok, its distribution, version and config class."""
    fake_site.add("acme", dist="acme-dist", version="2.3")
    registry = Registry(plugins=only("acme"))
    status = status_of(registry, "acme")
    assert (status.status, status.distribution, status.version, status.error) == ("ok", "acme-dist", "2.3", None)
    provider = registry.provider("acme")
    assert provider.config_type.__name__ == "Config"
    assert provider.config_type().api_key_env == "ACME_API_KEY"


def test_import_error_is_reported_and_others_still_load(fake_site: Any) -> None:
    """A plugin whose module raises at import gets status error with the exception; the others load."""
    fake_site.add("broken", plugin_source("broken", prelude="raise RuntimeError('kaput at import')"))
    fake_site.add("fine")
    registry = Registry(plugins=only("broken", "fine"))
    broken = status_of(registry, "broken")
    assert broken.status == "error"
    assert "RuntimeError: kaput at import" in broken.error
    assert status_of(registry, "fine").status == "ok"
    assert registry.names() == ["fine"]


def test_system_exit_at_import_is_a_plugin_error(fake_site: Any) -> None:
    """sys.exit() in a plugin module is reported, not obeyed."""
    fake_site.add("quitter", plugin_source("quitter", prelude="import sys; sys.exit(3)"))
    registry = Registry(plugins=only("quitter"))
    assert status_of(registry, "quitter").status == "error"
    assert "SystemExit" in status_of(registry, "quitter").error


def test_entry_point_to_missing_module_is_reported(fake_site: Any) -> None:
    """An entry point naming a module that does not exist is an import error, not a crash."""
    fake_site.add("ghost", value="no_such_module_for_clawdesk_tests")
    status = status_of(Registry(plugins=only("ghost")), "ghost")
    assert status.status == "error"
    assert "ModuleNotFoundError" in status.error


def test_missing_hook_is_named(fake_site: Any) -> None:
    """A plugin without provider_chat is rejected naming the missing hook."""
    fake_site.add("partial", plugin_source("partial", hooks={"provider_chat": None}))
    status = status_of(Registry(plugins=only("partial")), "partial")
    assert status.status == "error"
    assert "missing hook: provider_chat" in status.error


def test_unmarked_hook_gets_a_hint(fake_site: Any) -> None:
    """A hook function without @hookimpl is reported as missing with a hint about the marker."""
    unmarked = "async def provider_chat(config, http, request):\n    return None\n"
    fake_site.add("unmarked", plugin_source("unmarked", hooks={"provider_chat": unmarked}))
    status = status_of(Registry(plugins=only("unmarked")), "unmarked")
    assert "missing hook: provider_chat" in status.error
    assert "not marked with @hookimpl" in status.error


def test_misspelled_hook_argument_names_plugin_and_hook(fake_site: Any) -> None:
    """A hook taking an argument the hookspec does not provide is rejected, naming the plugin, hook and argument."""
    bad = "@hookimpl\nasync def provider_chat(config, http, reqest):\n    return None\n"
    fake_site.add("typo", plugin_source("typo", hooks={"provider_chat": bad}))
    registry = Registry(plugins=only("typo"))
    status = status_of(registry, "typo")
    assert status.status == "error"
    assert "'provider_chat'" in status.error
    assert "'reqest'" in status.error
    assert "typo" not in registry.names()


def test_misspelled_argument_on_runtime_registration_raises_naming_plugin_and_hook() -> None:
    """register() raises a one-line PluginError naming the plugin and the mis-signed hook."""

    class Typo(GoodPlugin):
        @hookimpl
        def provider_capabilities(self, config: ProviderConfig, modle: str) -> frozenset[Capability]:
            return frozenset()

    registry = Registry(discover=False)
    with pytest.raises(PluginError) as info:
        registry.register(Typo("typo"), name="typo")
    message = str(info.value)
    assert "'typo'" in message
    assert "provider_capabilities" in message
    assert "'modle'" in message
    assert "\n" not in message
    assert registry.names() == []


def test_unknown_hook_name_suggests_the_right_one(fake_site: Any) -> None:
    """A hookimpl for a hook that does not exist is rejected, with the closest real hook suggested."""
    extra = "@hookimpl\ndef provider_capabilites(config, model):\n    return None\n"
    fake_site.add("unknown", plugin_source("unknown", hooks={"extra": extra}))
    status = status_of(Registry(plugins=only("unknown")), "unknown")
    assert status.status == "error"
    assert "unknown hook 'provider_capabilites'" in status.error
    assert "did you mean 'provider_capabilities'" in status.error


def test_duplicate_name_across_two_distributions(fake_site: Any) -> None:
    """Two distributions offering the same provider name: the first loads, the second is an error naming the first."""
    fake_site.add("twin", dist="twin-one")
    # A second distribution with the same entry-point name, pointing at its own module.
    module = fake_site.module_name("twin") + "_b"
    fakedist.write_dist(
        fake_site.path, "twin-two", modules={module: plugin_source("twin")}, entry_points={"twin": module}
    )
    registry = Registry(plugins=only("twin"))
    statuses = [s for s in registry.statuses() if s.name == "twin"]
    assert sorted(s.status for s in statuses) == ["error", "ok"]
    error = next(s for s in statuses if s.status == "error")
    ok = next(s for s in statuses if s.status == "ok")
    assert "duplicate provider name 'twin'" in error.error
    assert ok.distribution in error.error
    assert registry.provider("twin").distribution == ok.distribution


def test_duplicate_of_a_runtime_plugin_is_rejected(fake_site: Any) -> None:
    """An entry point whose name a run-time plugin already took is reported, and the run-time one stays."""
    fake_site.add("taken")
    registry = Registry(discover=False, plugins=only("taken"))
    runtime = GoodPlugin("taken")
    registry.register(runtime)
    registry.discover()
    entry = next(s for s in registry.statuses() if s.source == "entry point")
    assert entry.status == "error"
    assert "already provided by a plugin registered at run time" in entry.error
    assert registry.provider("taken").plugin is runtime


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("raise ValueError('no name today')", "provider_name raised ValueError: no name today"),
        ("raise SystemExit(1)", "provider_name raised SystemExit"),
        ("return 42", "provider_name returned 42"),
        ("return None", "provider_name returned None"),
        ("return 'Bad Name'", "provider_name returned 'Bad Name'"),
        ("return 'a/b'", "provider_name returned 'a/b'"),
        ("return 'x' * 500", "at most 64 characters"),
    ],
)
def test_bad_provider_name_hook(fake_site: Any, body: str, expected: str) -> None:
    """provider_name that raises or returns something that is not a valid name is reported with what it did."""
    hook = f"@hookimpl\ndef provider_name():\n    {body}\n"
    fake_site.add("named", plugin_source("named", hooks={"provider_name": hook}))
    status = status_of(Registry(plugins=only("named")), "named")
    assert status.status == "error"
    assert expected in status.error
    assert len(status.error) < 300


def test_name_must_match_entry_point(fake_site: Any) -> None:
    """A plugin whose provider_name differs from its entry point's name is rejected, naming both."""
    fake_site.add("alias", plugin_source("realname"))
    status = status_of(Registry(plugins=only("alias")), "alias")
    assert status.status == "error"
    assert "'realname'" in status.error
    assert "'alias'" in status.error


@pytest.mark.parametrize(
    ("hook", "expected"),
    [
        ("return {'base_url': 'x'}", "expected a ProviderConfig subclass"),
        ("return int", "expected a ProviderConfig subclass"),
        ("raise KeyError('cfg')", "provider_config_type raised KeyError"),
        ("return Weird", "field tags cannot be read from config.toml"),
        ("return Unresolvable", "its field types cannot be read (NameError"),
    ],
)
def test_bad_provider_config_type(fake_site: Any, hook: str, expected: str) -> None:
    """provider_config_type must return a ProviderConfig subclass whose fields TOML can fill."""
    classes = """
@frozen(kw_only=True)
class Weird(ProviderConfig):
    tags: set = frozenset()

@frozen(kw_only=True)
class Unresolvable(ProviderConfig):
    extra: "NoSuchType | None" = None
"""
    source = plugin_source(
        "cfg",
        hooks={"classes": classes, "provider_config_type": f"@hookimpl\ndef provider_config_type():\n    {hook}\n"},
    )
    fake_site.add("cfg", source)
    status = status_of(Registry(plugins=only("cfg")), "cfg")
    assert status.status == "error"
    assert expected in status.error


def test_plugin_blocking_at_import_is_reported_after_the_timeout(fake_site: Any) -> None:
    """A plugin stuck at import is reported broken after import_timeout; the registry does not hang."""
    fake_site.add("sleepy", plugin_source("sleepy", prelude=fake_site.blocking_prelude()))
    fake_site.add("awake")
    started = time.monotonic()
    registry = Registry(plugins=only("sleepy", "awake"), import_timeout=0.3)
    assert time.monotonic() - started < 0.3 + 5
    sleepy = status_of(registry, "sleepy")
    assert sleepy.status == "error"
    assert "did not finish within 0.3s" in sleepy.error
    assert status_of(registry, "awake").status == "ok"


def test_import_timeout_comes_from_the_environment(fake_site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLAWDESK_PLUGIN_IMPORT_TIMEOUT sets the import timeout when the constructor does not."""
    monkeypatch.setenv("CLAWDESK_PLUGIN_IMPORT_TIMEOUT", "0.2")
    fake_site.add("sleepy", plugin_source("sleepy", prelude=fake_site.blocking_prelude()))
    status = status_of(Registry(plugins=only("sleepy")), "sleepy")
    assert "within 0.2s" in status.error


@pytest.mark.parametrize("value", ["", "soon", "-1", "0", "-inf", "nan"])
def test_bad_import_timeout_variable_falls_back_to_the_default(
    fake_site: Any, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A nonsense CLAWDESK_PLUGIN_IMPORT_TIMEOUT neither fails every plugin nor waits forever."""
    monkeypatch.setenv("CLAWDESK_PLUGIN_IMPORT_TIMEOUT", value)
    fake_site.add("acme")
    registry = Registry(plugins=only("acme"))
    assert status_of(registry, "acme").status == "ok"
    assert registry._import_timeout == 10.0


@pytest.mark.parametrize("value", ["inf", "1e300", "7200"])
def test_huge_import_timeout_variable_counts_as_an_hour(
    fake_site: Any, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A huge CLAWDESK_PLUGIN_IMPORT_TIMEOUT (up to inf) is an hour, not an OverflowError from Thread.join."""
    monkeypatch.setenv("CLAWDESK_PLUGIN_IMPORT_TIMEOUT", value)
    fake_site.add("acme")
    registry = Registry(plugins=only("acme"))
    assert status_of(registry, "acme").status == "ok"
    assert registry._import_timeout == 3600.0


@pytest.mark.parametrize(
    ("hook", "source", "expected"),
    [
        ("provider_name", "@hookimpl\nasync def provider_name():\n    return NAME\n", "must be a plain function"),
        (
            "provider_capabilities",
            "@hookimpl\nasync def provider_capabilities(config, model):\n    return None\n",
            "must be a plain function",
        ),
        (
            "provider_chat",
            "@hookimpl\nasync def provider_chat(config, http, request):\n    yield None\n",
            "not an async generator",
        ),
        (
            "provider_stream",
            "@hookimpl\nasync def provider_stream(config, http, request):\n    return None\n",
            "must be an async generator",
        ),
    ],
)
def test_sync_async_mismatch_is_rejected(fake_site: Any, hook: str, source: str, expected: str) -> None:
    """A hook of the wrong kind (async where sync is called, or the reverse) is rejected at load time."""
    fake_site.add("kinds", plugin_source("kinds", hooks={hook: source}))
    status = status_of(Registry(plugins=only("kinds")), "kinds")
    assert status.status == "error"
    assert hook in status.error
    assert expected in status.error


def test_positional_only_hook_argument_is_rejected() -> None:
    """Hook arguments are passed by name, so a positional-only parameter is a signature error."""

    class PosOnly(GoodPlugin):
        @hookimpl
        def provider_capabilities(self, config: ProviderConfig, model: str, /) -> frozenset[Capability]:
            return frozenset()

    with pytest.raises(PluginError, match="positional-only"):
        Registry(discover=False).register(PosOnly("posonly"))


def test_defaulted_and_keyword_only_arguments_are_passed() -> None:
    """A hook parameter named like a hook argument receives it, even with a default or keyword-only."""
    seen: dict[str, Any] = {}

    class Flexible(GoodPlugin):
        @hookimpl
        def provider_capabilities(self, config: Any = None, *, model: str = "?") -> frozenset[Capability]:
            seen.update(config=config, model=model)
            return frozenset({Capability.VISION})

    provider = Registry(discover=False).register(Flexible("flex"))
    config = ProviderConfig()
    assert provider.call("provider_capabilities", config=config, model="m1") == frozenset({Capability.VISION})
    assert seen == {"config": config, "model": "m1"}


# -- run-time registration ----------------------------------------------------------


def test_runtime_registration() -> None:
    """register() adds a provider at once, with a 'runtime' ok status."""
    registry = Registry(discover=False)
    provider = registry.register(GoodPlugin("live"), name="live")
    assert provider.name == "live"
    assert registry.provider("live") is provider
    assert registry.statuses()[-1].status == "ok"
    assert registry.statuses()[-1].source == "runtime"
    assert provider.config_type is ProviderConfig


def test_runtime_registration_of_a_module(tmp_path: Any, fake_site: Any) -> None:
    """A plugin module (not only an object) can be registered at run time."""
    import importlib

    module_name = fake_site.add("modplug")
    module = importlib.import_module(module_name)
    registry = Registry(discover=False)
    assert registry.register(module).name == "modplug"


def test_runtime_name_mismatch_and_duplicates_leave_registry_unchanged() -> None:
    """A wrong name, a taken name or the same object twice raise PluginError and change nothing."""
    registry = Registry(discover=False)
    first = GoodPlugin("one")
    registry.register(first)
    with pytest.raises(PluginError, match="provider_name returned 'two' but the entry point is named 'three'"):
        registry.register(GoodPlugin("two"), name="three")
    with pytest.raises(PluginError, match="duplicate provider name 'one'"):
        registry.register(GoodPlugin("one"))
    with pytest.raises(PluginError, match="already registered"):
        registry.register(first)
    assert registry.names() == ["one"]
    assert registry.provider("one").plugin is first
    # The rejected plugins are not half-registered: a valid one with a fresh name still registers.
    registry.register(GoodPlugin("two"))
    assert registry.names() == ["one", "two"]


def test_rejected_plugin_can_be_fixed_and_registered() -> None:
    """After a rejected registration the same hooks register fine under a valid setup (pluggy state rolled back)."""
    registry = Registry(discover=False)
    plugin = GoodPlugin("BAD NAME")
    with pytest.raises(PluginError):
        registry.register(plugin)
    plugin.name = "fixed"
    assert registry.register(plugin).name == "fixed"


# -- allow / deny list ----------------------------------------------------------------


def test_allow_list_from_environment(fake_site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLAWDESK_PLUGINS=a loads only a; b is listed as disabled."""
    fake_site.add("alpha")
    fake_site.add("beta")
    monkeypatch.setenv("CLAWDESK_PLUGINS", "alpha")
    registry = Registry()
    assert "alpha" in registry.names()
    assert "beta" not in registry.names()
    beta = status_of(registry, "beta")
    assert beta.status == "disabled"
    assert "CLAWDESK_PLUGINS" in beta.error


def test_deny_list(fake_site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A leading '-' denies one plugin and keeps every other."""
    fake_site.add("alpha")
    fake_site.add("beta")
    monkeypatch.setenv("CLAWDESK_PLUGINS", "-beta")
    registry = Registry()
    assert "alpha" in registry.names()
    assert status_of(registry, "beta").status == "disabled"


def test_filter_argument_overrides_environment(fake_site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """plugins= takes precedence over the environment variable."""
    fake_site.add("alpha")
    monkeypatch.setenv("CLAWDESK_PLUGINS", "-alpha")
    assert "alpha" in Registry(plugins="alpha").names()


def test_filter_matches_distribution_names_loosely(fake_site: Any) -> None:
    """Distribution names match regardless of case and of '-', '_' and '.'."""
    fake_site.add("alpha", dist="Acme.Alpha-Plugin")
    fake_site.add("beta", dist="acme-beta")
    registry = Registry(plugins="acme_alpha_plugin, -ACME_BETA")
    assert status_of(registry, "alpha").status == "ok"
    assert status_of(registry, "beta").status == "disabled"


def test_deny_wins_over_allow(fake_site: Any) -> None:
    """A name both allowed and denied is denied."""
    fake_site.add("alpha")
    assert status_of(Registry(plugins="alpha,-alpha"), "alpha").status == "disabled"


def test_disabled_plugins_are_not_imported(fake_site: Any) -> None:
    """A denied plugin's module is never imported (so a broken or slow one costs nothing)."""
    module = fake_site.add("never", plugin_source("never", prelude="raise RuntimeError('imported!')"))
    Registry(plugins="-never")
    assert module not in sys.modules


# -- discovery modes ------------------------------------------------------------------


def test_discover_false_loads_no_entry_points(fake_site: Any) -> None:
    """discover=False sees no installed plugin at all (for tests and embedding)."""
    module = fake_site.add("alpha")
    registry = Registry(discover=False)
    assert registry.names() == []
    assert registry.statuses() == []
    assert module not in sys.modules


def test_discover_again_picks_up_new_plugins_only(fake_site: Any) -> None:
    """A second discover() loads plugins installed meanwhile and does not report the old ones as duplicates."""
    fake_site.add("alpha")
    registry = Registry(plugins=only("alpha", "beta"))
    fake_site.add("beta")
    registry.discover()
    assert [s.status for s in registry.statuses() if s.name == "alpha"] == ["ok"]
    assert status_of(registry, "beta").status == "ok"


def test_registries_are_independent(fake_site: Any) -> None:
    """There is no global registry: what one registry holds, another does not see."""
    first = Registry(discover=False)
    first.register(GoodPlugin("solo"))
    second = Registry(discover=False)
    assert second.names() == []
    second.register(GoodPlugin("solo"))  # the same name is free in another registry


def test_provider_not_found_lists_loaded() -> None:
    """Asking for an unknown provider names the loaded ones."""
    registry = Registry(discover=False)
    registry.register(GoodPlugin("known"))
    with pytest.raises(ProviderNotFound, match="loaded providers: known"):
        registry.provider("unknown")


# -- dispatch ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_call_goes_to_one_provider_alone() -> None:
    """chat, models and capabilities on provider a never call provider b's hooks (no broadcast)."""
    a, b = GoodPlugin("a"), GoodPlugin("b")
    registry = Registry(discover=False)
    registry.register(a)
    registry.register(b)
    async with Clawdesk(registry=registry, config=Config()) as client:
        response = await client.chat("a/m", "hello")
        await client.models("a")
        client.capabilities(client.resolve("a/m"))
    assert response.message.text == "a says hi"
    assert a.calls == ["provider_chat", "provider_models", "provider_capabilities"]
    assert b.calls == []


def test_provider_call_passes_only_declared_arguments() -> None:
    """Provider.call hands a hook only the arguments it declares."""

    @frozen
    class Recorder:
        CLAWDESK_CONTRACT = 2
        seen: list[Any]

        @hookimpl
        def provider_name(self) -> str:
            return "rec"

        @hookimpl
        async def provider_models(self) -> list[ModelInfo]:
            return []

        @hookimpl
        def provider_capabilities(self, model: str) -> None:
            self.seen.append(model)

        @hookimpl
        async def provider_chat(self, request: Any) -> None:
            return None

        @hookimpl
        async def provider_stream(self) -> Any:
            yield Finish(FinishReason.STOP)

    recorder = Recorder([])
    provider = Registry(discover=False).register(recorder)
    assert provider.call("provider_capabilities", config=ProviderConfig(), model="m2") is None
    assert recorder.seen == ["m2"]


def write_raw_dist(site: Path, dist: str, entry_points: str) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_malformed_entry_points_of_another_package_do_not_matter(fake_site: Any) -> None:
    """A package with a broken entry_points.txt for some other tool does not stop discovery (importlib would raise)."""
    write_raw_dist(fake_site.path, "unrelated-tool", "[console_scripts]\nthis line is not valid\n=x\n")
    fake_site.add("alpha")
    registry = Registry(plugins=only("alpha", "unrelated-tool"))
    assert registry.names() == ["alpha"]
    assert [s.name for s in registry.statuses() if s.status != "disabled"] == ["alpha"]


def test_malformed_entry_points_of_a_plugin_are_reported(fake_site: Any) -> None:
    """A plugin package whose entry_points.txt cannot be parsed is listed as an error; the others load."""
    write_raw_dist(fake_site.path, "clawdesk-mangled", "[clawdesk.providers]\nmangled\n=x\n")
    fake_site.add("alpha")
    registry = Registry(plugins=only("alpha", "clawdesk-mangled"))
    assert registry.names() == ["alpha"]
    status = status_of(registry, "clawdesk-mangled")
    assert status.status == "error"
    assert "entry_points.txt of clawdesk-mangled cannot be read" in status.error
    registry.discover()  # reported once, not again
    assert len([s for s in registry.statuses() if s.name == "clawdesk-mangled"]) == 1


HOSTILE_OBJECT = """
class Hostile:
    def __dir__(self):
        raise RuntimeError("no looking")

    def __getattr__(self, name):
        raise RuntimeError("no touching " + name)

plugin = Hostile()
"""


def test_hostile_plugin_object_is_reported(fake_site: Any) -> None:
    """An entry point naming an object whose __dir__ and __getattr__ raise is an error, not a crash."""
    module = fake_site.module_name("hostile")
    fakedist.write_dist(
        fake_site.path, "hostile-dist", modules={module: HOSTILE_OBJECT}, entry_points={"hostile": f"{module}:plugin"}
    )
    fake_site.add("alpha")
    registry = Registry(plugins=only("hostile", "alpha"))
    status = status_of(registry, "hostile")
    assert status.status == "error"
    assert "cannot be inspected: RuntimeError: no looking" in status.error
    assert registry.names() == ["alpha"]


def test_entry_point_to_missing_attribute(fake_site: Any) -> None:
    """An entry point 'module:attr' whose attribute does not exist is an import error naming it."""
    module = fake_site.add("alpha")
    fakedist.write_dist(
        fake_site.path, "attr-dist", modules={}, entry_points={"attrless": f"{module}:no_such_attribute"}
    )
    status = status_of(Registry(plugins=only("attrless")), "attrless")
    assert status.status == "error"
    assert "no_such_attribute" in status.error


def test_plugin_class_instead_of_instance(fake_site: Any) -> None:
    """An entry point naming a plugin class (not an instance) is rejected with the unbound 'self' named."""
    source = (
        "from clawdesk.provider import hookimpl\n\n"
        "class Plugin:\n    CLAWDESK_CONTRACT = 2\n\n"
        "    @hookimpl\n    def provider_name(self):\n        return 'klass'\n"
    )
    module = fake_site.module_name("klass")
    fakedist.write_dist(
        fake_site.path, "klass-dist", modules={module: source}, entry_points={"klass": f"{module}:Plugin"}
    )
    status = status_of(Registry(plugins=only("klass")), "klass")
    assert status.status == "error"
    assert "'self'" in status.error


@given(st.text(max_size=40))
def test_any_filter_text_is_accepted(spec: str) -> None:
    """Any CLAWDESK_PLUGINS text builds a registry; a name both allowed and denied stays out."""
    registry = Registry(discover=False, plugins=spec)
    for name in ("acme", "x"):
        allowed = registry._allowed(name, None)
        tokens = [t.strip() for t in spec.split(",")]
        denied = any(t.startswith("-") and t[1:].strip().lower() == name for t in tokens)
        if denied:
            assert not allowed


def test_discovery_makes_no_network_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a registry with the real plugins installed opens no socket and resolves no name."""
    import socket

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access during plugin discovery")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(socket, "getaddrinfo", forbidden)
    # Import the plugins afresh (other tests may have imported them already); restored afterwards.
    for module in list(sys.modules):
        if module.split(".")[0] in ("clawdesk_ollama", "clawdesk_mistral", "clawdesk_openai", "clawdesk_openai_compat"):
            monkeypatch.delitem(sys.modules, module)
    registry = Registry(plugins="ollama,mistral,openai")
    loaded = {s.name: s.status for s in registry.statuses() if s.status != "disabled"}
    assert loaded == {"ollama": "ok", "mistral": "ok", "openai": "ok"}


# -- the contract version ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (None, "declares no contract version (CLAWDESK_CONTRACT)"),
        (1, "written for clawdesk contract 1, this clawdesk speaks contract 2 (an older clawdesk"),
        (3, "written for clawdesk contract 3, this clawdesk speaks contract 2 (a newer clawdesk: upgrade clawdesk)"),
        ("2", "CLAWDESK_CONTRACT is '2', expected a contract version"),
        (True, "CLAWDESK_CONTRACT is True, expected a contract version"),
    ],
)
def test_a_plugin_for_another_contract_is_reported(declared: object, expected: str) -> None:
    """A plugin that declares no contract, or one this clawdesk does not speak, is broken with the reason, at load."""
    plugin = GoodPlugin("old")
    if declared is None:
        plugin.CLAWDESK_CONTRACT = None  # type: ignore[assignment]
    else:
        plugin.CLAWDESK_CONTRACT = declared  # type: ignore[assignment]
    registry = Registry(discover=False)
    with pytest.raises(PluginError, match=re.escape(expected)):
        registry.register(plugin)
    assert registry.statuses()[-1].status == "error"
    assert registry.names() == []


def test_a_discovered_plugin_without_a_contract_is_listed_broken(fake_site: Any) -> None:
    """An installed plugin written for contract 1 (no CLAWDESK_CONTRACT) is listed with the reason; others load."""
    source = fakedist.plugin_source("legacy").replace("CLAWDESK_CONTRACT = 2\n", "")
    fake_site.add("legacy", source)
    fake_site.add("fresh")
    registry = Registry(plugins=only("legacy", "fresh"))
    assert "declares no contract version" in (status_of(registry, "legacy").error or "")
    assert status_of(registry, "fresh").status == "ok"


# -- provider_options_type -----------------------------------------------------------------


@frozen(kw_only=True)
class GoodOptions:
    think: bool = False
    num_ctx: int | None = None


@frozen(kw_only=True)
class NoDefault:
    think: bool


@frozen(kw_only=True)
class Unreadable:
    hook: Callable[[], None] | None = None


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        (GoodOptions, None),
        (dict, "expected an attrs class"),
        (NoDefault, "field 'think' has no default"),
        (Unreadable, "field hook cannot be given as options"),
    ],
)
def test_provider_options_type_is_checked(returned: type, expected: str | None) -> None:
    """provider_options_type must name an attrs class whose fields all have defaults and plain types."""

    class WithOptions(GoodPlugin):
        @hookimpl
        def provider_options_type(self) -> type:
            return returned

    registry = Registry(discover=False)
    if expected is None:
        assert registry.register(WithOptions("opt")).options_type is GoodOptions
        return
    with pytest.raises(PluginError, match=re.escape(expected)):
        registry.register(WithOptions("opt"))
