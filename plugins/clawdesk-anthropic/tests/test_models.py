"""The built-in catalogue and ``models --refresh`` from a paginated ``GET /v1/models``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anthropic_wire as wire
import pytest

import clawdesk
from clawdesk import ApiError, Capability, ChatOptions, ChatRequest, Message, Reasoning
from clawdesk.testing import RecordedRequest, Reply, ScriptedServer
from clawdesk_anthropic._models import CATALOGUE, spec_from_entry

Make = Callable[..., clawdesk.Clawdesk]
C = Capability


def test_catalogue_is_well_formed() -> None:
    """Every catalogue model has a unique id, limits, chat, tools, vision and structured output."""
    ids = [spec.id for spec in CATALOGUE]
    assert len(ids) == len(set(ids))
    for spec in CATALOGUE:
        info = spec.info()
        assert {C.CHAT, C.STREAMING, C.FUNCTION_CALLING, C.VISION, C.JSON_SCHEMA} <= info.capabilities
        assert C.JSON_MODE not in info.capabilities  # no JSON without a schema on this API
        assert info.context_length
        assert info.max_output_tokens
        assert spec.thinking, f"{spec.id}: every current Claude model thinks"


@pytest.mark.anyio
async def test_models_without_refresh_ask_nothing(server: ScriptedServer, make_client: Make) -> None:
    """``clawdesk models`` answers from the catalogue with no request."""
    async with make_client() as cd:
        listed = await cd.models("anthropic")
    assert [m.id for m in listed[0].models] == [spec.id for spec in CATALOGUE]
    assert server.requests == []


def _pages(pages: list[list[dict[str, Any]]]) -> Callable[[RecordedRequest], Reply]:
    """A GET /v1/models handler serving ``pages`` by after_id, as the API paginates."""

    def answer(request: RecordedRequest) -> Reply:
        query = parse_qs(urlsplit(request.path).query)
        assert query["limit"] == ["1000"]
        after = query.get("after_id", [None])[0]
        index = 0 if after is None else next(i for i, p in enumerate(pages) if p[-1]["id"] == after) + 1
        page = pages[index]
        more = index + 1 < len(pages)
        return wire.json_reply({"data": page, "first_id": page[0]["id"], "last_id": page[-1]["id"], "has_more": more})

    return answer


@pytest.mark.anyio
async def test_refresh_reads_every_page_and_every_field_is_optional(server: ScriptedServer, make_client: Make) -> None:
    """All pages are read; capabilities, max_input_tokens and max_tokens are used when present."""
    pages = [
        [
            wire.model_entry(
                "claude-future-6",
                display_name="Claude Future 6",
                max_input_tokens=2_000_000,
                max_tokens=256_000,
                capabilities=wire.capabilities(thinking=("adaptive",), pdf=False),
            ),
            wire.model_entry("claude-sonnet-5-5"),
        ],
        [
            {"type": "model", "id": "claude-bare", "display_name": "Bare", "created_at": "2024-01-01T00:00:00Z"},
            wire.model_entry("claude-old", lifecycle="retired"),
            wire.model_entry("claude-dep", lifecycle="deprecated", retires_at="2027-01-05T00:00:00Z"),
        ],
    ]
    handler = _pages(pages)
    server.add(handler, handler)
    async with make_client() as cd:
        listed = (await cd.models("anthropic", refresh=True))[0].models
        by_id = {m.id: m for m in listed}
        assert list(by_id) == ["claude-future-6", "claude-sonnet-5-5", "claude-bare", "claude-dep"]
        future = by_id["claude-future-6"]
        assert (future.context_length, future.max_output_tokens) == (2_000_000, 256_000)
        assert C.REASONING in future.capabilities
        assert C.DOCUMENTS not in future.capabilities
        # No capabilities given: what the catalogue knows of the id, else plain current-model defaults.
        assert (
            by_id["claude-sonnet-5-5"].capabilities
            == next(s for s in CATALOGUE if s.id == "claude-sonnet-5-5").capabilities
        )
        assert C.REASONING not in by_id["claude-bare"].capabilities
        assert by_id["claude-dep"].description == "claude-dep (deprecated, retires 2027-01-05)"
        # What the refresh learnt is what capabilities and the request builder use from now on.
        assert cd.capabilities(cd.resolve("anthropic/claude-future-6")) == future.capabilities
        target = cd.resolve("anthropic/claude-future-6")
        server.add(wire.json_reply(wire.message()))
        await cd.chat_target(
            target, ChatRequest(target.model, (Message.user("hi"),), ChatOptions(reasoning=Reasoning()))
        )
    sent = server.requests[-1].json()
    assert sent["max_tokens"] == 21_333  # the learnt limit, cut for a whole answer
    assert sent["thinking"] == {"type": "adaptive"}
    assert [r.path for r in server.requests[:2]] == [
        "/v1/models?limit=1000",
        "/v1/models?limit=1000&after_id=claude-sonnet-5-5",
    ]


@pytest.mark.anyio
async def test_a_listing_that_never_ends_stops(server: ScriptedServer, make_client: Make) -> None:
    """A server that says has_more with the same last_id forever is asked twice, not forever."""
    page = {
        "data": [wire.model_entry("claude-loop")],
        "first_id": "claude-loop",
        "last_id": "claude-loop",
        "has_more": True,
    }
    server.route("GET", "/v1/models?limit=1000", wire.json_reply(page))
    server.route("GET", "/v1/models?limit=1000&after_id=claude-loop", wire.json_reply(page))
    async with make_client() as cd:
        listed = (await cd.models("anthropic", refresh=True))[0].models
    assert [m.id for m in listed] == ["claude-loop"]
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_a_listing_without_data_is_an_error(server: ScriptedServer, make_client: Make) -> None:
    """An answer with no data array is reported, not taken for an empty list."""
    server.add(wire.json_reply({"models": []}))
    async with make_client() as cd:
        target = await cd.models("anthropic", refresh=True)
    assert isinstance(target[0].error, ApiError)
    assert "data array" in str(target[0].error)


def test_entries_without_an_id_are_skipped() -> None:
    """An entry with no usable id gives nothing."""
    assert spec_from_entry({"type": "model"}) is None
    assert spec_from_entry({"id": "  "}) is None


def test_thinking_not_supported_means_no_reasoning() -> None:
    """thinking.supported false with only 'disabled' accepted: no reasoning capability, thinking can be off."""
    entry = wire.model_entry("claude-plain", capabilities=wire.capabilities(thinking=("disabled",), effort=False))
    spec = spec_from_entry(entry)
    assert spec is not None
    assert C.REASONING not in spec.capabilities
    assert spec.thinking == frozenset({"disabled"})
    assert not spec.always_thinks
