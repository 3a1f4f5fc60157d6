"""Model listing: /api/tags, /api/show fallback, the per-digest cache, a server that is down."""

from __future__ import annotations

import time
from typing import Any

import pytest

from clawdesk import Capability, ConnectionFailed, Target, Timeout
from clawdesk.testing import Reply, unused_port

pytestmark = pytest.mark.anyio

CHAT = {Capability.CHAT, Capability.STREAMING, Capability.JSON_MODE, Capability.JSON_SCHEMA}
DIGEST_A = "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72"
DIGEST_B = "0a8c266910232fd3291e71fc8a5d6b7f9ae7a2b1b4c1e5f3a2d8c9e0f1a2b3c4"


def shows(server: Any) -> list[str]:
    return [r.json()["model"] for r in server.requests if r.path == "/api/show"]


async def listing(cd: Any, *, refresh: bool = True) -> Any:
    [result] = await cd.models("ollama", refresh=refresh)
    return result


async def test_capabilities_from_tags(server, client, wire) -> None:
    """When /api/tags carries capabilities, they are used and /api/show is not asked."""
    server.route(
        "GET",
        "/api/tags",
        wire.tags(
            wire.tag("llama3.2:latest", DIGEST_A, capabilities=["completion", "tools"]),
            wire.tag("llava:7b", DIGEST_B, capabilities=["completion", "vision"]),
        ),
    )
    async with client() as cd:
        result = await listing(cd)
        caps = cd.capabilities(Target("ollama", "llama3.2"))
    assert result.error is None
    by_id = {m.id: m for m in result.models}
    assert set(by_id) == {"llama3.2:latest", "llava:7b"}
    assert by_id["llama3.2:latest"].capabilities == frozenset(CHAT | {Capability.FUNCTION_CALLING})
    assert by_id["llava:7b"].capabilities == frozenset(CHAT | {Capability.VISION})
    assert by_id["llava:7b"].description == "llama 3.2B Q4_K_M"
    assert shows(server) == []
    assert caps == frozenset(CHAT | {Capability.FUNCTION_CALLING})


async def test_show_fallback_and_context_length(server, client, wire) -> None:
    """Without capabilities in tags, /api/show gives them and the context length."""
    server.route("GET", "/api/tags", wire.tags(wire.tag("qwen3:8b", DIGEST_A)))
    server.route(
        "POST", "/api/show", wire.show(["completion", "tools", "thinking"], arch="qwen3", context_length=40960)
    )
    async with client() as cd:
        result = await listing(cd)
    [model] = result.models
    assert model.id == "qwen3:8b"
    assert model.capabilities == frozenset(CHAT | {Capability.FUNCTION_CALLING, Capability.REASONING})
    assert model.context_length == 40960
    assert shows(server) == ["qwen3:8b"]


async def test_embedding_model(server, client, wire) -> None:
    """An embedding-only model offers EMBEDDING and not CHAT."""
    server.route("GET", "/api/tags", wire.tags(wire.tag("nomic-embed-text:latest", DIGEST_A)))
    server.route("POST", "/api/show", wire.show(["embedding"], arch="nomic-bert", context_length=2048))
    async with client() as cd:
        [model] = (await listing(cd)).models
        caps = cd.capabilities(Target("ollama", "nomic-embed-text"))
    assert model.capabilities == frozenset({Capability.EMBEDDING})
    assert caps == frozenset({Capability.EMBEDDING})


async def test_show_is_cached_per_digest(server, client, wire) -> None:
    """A second listing asks /api/show only for a model whose digest it has not seen."""
    server.route("POST", "/api/show", wire.show(["completion"]))
    tags = [wire.tags(wire.tag("llama3.2:latest", digest)) for digest in (DIGEST_A, DIGEST_A, DIGEST_B)]
    # The third listing sees the model re-pulled: new content, new digest.
    server.route("GET", "/api/tags", lambda _request: tags.pop(0))
    async with client() as cd:
        first = await listing(cd)
        second = await listing(cd, refresh=True)
        assert shows(server) == ["llama3.2:latest"]
        third = await listing(cd)
    assert shows(server) == ["llama3.2:latest", "llama3.2:latest"]
    assert first.models == second.models == third.models
    assert [r.path for r in server.requests].count("/api/tags") == 3


async def test_cache_is_per_client(server, client, wire) -> None:
    """A new client (a new config) does not reuse another client's cache."""
    server.route("GET", "/api/tags", wire.tags(wire.tag("llama3.2:latest", DIGEST_A)))
    server.route("POST", "/api/show", wire.show(["completion"]))
    async with client() as cd:
        await listing(cd)
    async with client() as cd:
        assert cd.capabilities(Target("ollama", "llama3.2")) is None
        await listing(cd)
    assert len(shows(server)) == 2


async def test_unknown_model_has_unknown_capabilities(server, client, wire) -> None:
    """Before any listing, and for a model not listed, capabilities are unknown (None)."""
    server.route("GET", "/api/tags", wire.tags(wire.tag("llama3.2:latest", DIGEST_A, capabilities=["completion"])))
    async with client() as cd:
        assert cd.capabilities(Target("ollama", "llama3.2")) is None
        await listing(cd)
        assert cd.capabilities(Target("ollama", "llama3.2:latest")) == frozenset(CHAT)
        assert cd.capabilities(Target("ollama", "mistral")) is None


async def test_show_failure_for_one_model_keeps_the_others(server, client, wire) -> None:
    """A model whose /api/show fails is listed without capabilities and stays unknown."""
    server.route("GET", "/api/tags", wire.tags(wire.tag("gone:latest", DIGEST_A), wire.tag("ok:latest", DIGEST_B)))

    def show(request: Any) -> Reply:
        if request.json()["model"] == "gone:latest":
            return wire.error(404, "model 'gone:latest' not found")
        return wire.show(["completion"])

    server.route("POST", "/api/show", show)
    async with client() as cd:
        result = await listing(cd)
        gone_caps = cd.capabilities(Target("ollama", "gone"))
    by_id = {m.id: m for m in result.models}
    assert result.error is None
    assert by_id["gone:latest"].capabilities == frozenset()
    assert by_id["ok:latest"].capabilities == frozenset(CHAT)
    assert gone_caps is None


async def test_many_models_are_shown(server, client, wire) -> None:
    """Every model without tag capabilities is shown once, however many there are."""
    names = [f"m{i}:latest" for i in range(9)]
    server.route("GET", "/api/tags", wire.tags(*(wire.tag(n, f"{i:064x}") for i, n in enumerate(names))))
    server.route("POST", "/api/show", wire.show(["completion", "tools"]))
    async with client() as cd:
        result = await listing(cd)
    assert sorted(shows(server)) == names
    assert [m.id for m in result.models] == names


async def test_listing_when_the_server_is_down() -> None:
    """Nothing listening: the listing carries a ConnectionFailed naming the URL; it does not raise."""
    import clawdesk_ollama._plugin as plugin
    from clawdesk import Clawdesk, Config, Registry

    registry = Registry(discover=False)
    registry.register(plugin)
    url = f"http://127.0.0.1:{unused_port()}"
    async with Clawdesk(registry=registry, config=Config(providers={"ollama": {"base_url": url}}), env={}) as cd:
        result = await listing(cd)
    assert result.models == ()
    assert isinstance(result.error, ConnectionFailed)
    assert url in str(result.error)


async def test_listing_when_the_server_never_answers(server, client) -> None:
    """A server that never answers /api/tags gives a timeout error within timeout_secs, not a hang."""
    server.route("GET", "/api/tags", Reply.stall())
    started = time.monotonic()
    async with client(timeout_secs=0.3) as cd:
        result = await listing(cd)
    assert isinstance(result.error, Timeout)
    assert time.monotonic() - started < 0.3 + 2


async def test_listing_when_show_stalls(server, client, wire) -> None:
    """A stalled /api/show fails the listing with a timeout instead of hanging."""
    server.route("GET", "/api/tags", wire.tags(wire.tag("llama3.2:latest", DIGEST_A)))
    server.route("POST", "/api/show", Reply.stall())
    async with client(timeout_secs=0.3) as cd:
        result = await listing(cd)
    assert isinstance(result.error, Timeout)
