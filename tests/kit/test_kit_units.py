"""Smaller checks of the kit's own logic, run in-process."""

from __future__ import annotations

import echo_provider
import pytest
from echo_wire import EchoWire
from hypothesis import given
from hypothesis import strategies as st

from clawdesk.testing import ProviderConformance


class _Kit(EchoWire, ProviderConformance):
    plugin = echo_provider


def test_missing_entry_point_is_reported() -> None:
    """An entry point name that is not installed fails the name check with an install hint."""

    class Kit(_Kit):
        entry_point = "no-such-provider"

    with pytest.raises(pytest.fail.Exception, match=r"no entry point 'no-such-provider'.*pip install -e"):
        Kit().test_name_matches_entry_point()


def test_wrong_entry_point_name_is_reported() -> None:
    """An installed entry point whose name differs from provider_name fails the name check."""

    class Kit(_Kit):
        entry_point = "ollama"

    with pytest.raises(pytest.fail.Exception, match="entry point is named 'ollama' but provider_name returns 'echo'"):
        Kit().test_name_matches_entry_point()


def test_sync_chat_hook_is_reported() -> None:
    """A provider_chat written as a plain function fails the registration check."""
    from types import ModuleType

    from clawdesk.provider import hookimpl

    plugin = ModuleType("sync_chat_provider")
    plugin.CLAWDESK_CONTRACT = 2  # type: ignore[attr-defined]
    for name in ("provider_name", "provider_models", "provider_capabilities", "provider_stream"):
        setattr(plugin, name, getattr(echo_provider, name))

    @hookimpl
    def provider_chat(config: object, http: object, request: object) -> None:
        return None

    plugin.provider_chat = provider_chat  # type: ignore[attr-defined]

    class Kit(_Kit):
        pass

    Kit.plugin = plugin
    with pytest.raises(pytest.fail.Exception, match="provider_chat must be an async def"):
        Kit().test_hooks_register()


def test_unregistrable_plugin_is_reported() -> None:
    """A plugin missing required hooks fails with the registry's reason."""
    from types import ModuleType

    class Kit(_Kit):
        pass

    Kit.plugin = ModuleType("empty_provider")
    with pytest.raises(pytest.fail.Exception, match=r"does not register: .*missing hooks: provider_name"):
        Kit().test_hooks_register()


def test_config_table_the_config_refuses_is_reported() -> None:
    """A config_table with a key the provider's config class does not know fails with the key path."""

    class Kit(_Kit):
        def config_table(self, base_url: str, timeout_secs: float) -> dict[str, object]:
            return {"base_url": base_url, "timeout": timeout_secs}

    kit = Kit()
    provider = kit._ck_provider()
    with pytest.raises(pytest.fail.Exception, match=r"config_table\(\) gives a table EchoConfig refuses: .*providers"):
        kit._ck_config(provider, "http://127.0.0.1:1", timeout_secs=1.0)


def test_tool_call_with_shallow_arguments_is_reported() -> None:
    """A tool call whose nested arguments were not parsed fails with the arguments it got and wanted."""
    from clawdesk import ToolCall
    from clawdesk.testing._kit import TOOL_CALL

    flat = ToolCall("id-1", TOOL_CALL.name, {**TOOL_CALL.arguments, "units": '{"temp": "C"}'})
    with pytest.raises(pytest.fail.Exception, match=r"the call's arguments are .*expected"):
        _Kit()._ck_check_call(flat, "chat tool call")
    with pytest.raises(pytest.fail.Exception, match="the call has no id"):
        _Kit()._ck_check_call(ToolCall("", TOOL_CALL.name, TOOL_CALL.arguments), "chat tool call")
    _Kit()._ck_check_call(ToolCall("any-id", TOOL_CALL.name, dict(TOOL_CALL.arguments)), "chat tool call")


def test_adapter_mixin_after_the_kit_is_refused() -> None:
    """A wire mixin listed after ProviderConformance, whose methods would never be used, is refused."""
    from echo_wire import EchoWire

    with pytest.raises(TypeError, match="EchoWire comes after ProviderConformance"):

        class TestBackwards(ProviderConformance, EchoWire):
            pass

    class TestForwards(EchoWire, ProviderConformance):
        pass

    assert TestForwards().chat_reply("x").status == 200


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=10,
)


@given(_JSON, st.sampled_from([424242, 0.37, "ck-stop-word"]))
def test_carries_finds_a_value_wherever_it_is_nested(data: object, value: object) -> None:
    """The option search finds a value nested anywhere in a JSON body, and not in one that lacks it."""
    import json

    from clawdesk.testing._kit import _carries

    assert not _carries(json.dumps(data).encode(), value)
    assert _carries(json.dumps({"a": [data, {"deep": [value]}]}).encode(), value)
    assert _carries(json.dumps([value, data]).encode(), value)


def test_plugin_can_come_from_the_entry_point() -> None:
    """With plugin = None the kit loads the plugin through its installed entry point."""

    class Kit(ProviderConformance):
        entry_point = "ollama"

    assert Kit()._ck_provider().name == "ollama"

    class Nothing(ProviderConformance):
        pass

    with pytest.raises(TypeError, match="must set plugin"):
        Nothing()._ck_provider()
