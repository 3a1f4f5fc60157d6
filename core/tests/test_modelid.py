"""Model ids: ``provider/model``, split at the first ``/``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import InvalidModelId, parse_model_id
from clawdesk._modelid import PROVIDER_NAME_RE

providers = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
models = st.text(min_size=1, max_size=40).filter(lambda m: m.strip() == m and m)


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("mistral/mistral-small-latest", ("mistral", "mistral-small-latest")),
        ("ollama/llama3.2", ("ollama", "llama3.2")),
        ("ollama/library/llama3.2:3b", ("ollama", "library/llama3.2:3b")),
        ("ollama/hf.co/org/model:Q4_K_M", ("ollama", "hf.co/org/model:Q4_K_M")),
        ("ollama", ("ollama", None)),
        ("  ollama/llama3  ", ("ollama", "llama3")),
        ("my_provider-2/x", ("my_provider-2", "x")),
    ],
)
def test_valid_ids(model_id: str, expected: tuple[str, str | None]) -> None:
    """Ids split at the first '/', keeping later '/' and ':' in the model; a bare provider has no model."""
    assert parse_model_id(model_id) == expected


@pytest.mark.parametrize(
    ("model_id", "words"),
    [
        ("", "expected 'provider/model'"),
        ("   ", "expected 'provider/model'"),
        ("/llama3", "expected 'provider/model'"),
        ("Ollama/llama3", "expected 'provider/model'"),
        ("my provider/x", "expected 'provider/model'"),
        ("-dash/x", "expected 'provider/model'"),
        ("ollama/", "no model after 'ollama/'"),
        ("ollama/   ", "no model after 'ollama/'"),
    ],
)
def test_invalid_ids(model_id: str, words: str) -> None:
    """Empty ids, bad provider names and a missing model after '/' are InvalidModelId (a ValueError)."""
    with pytest.raises(InvalidModelId, match=words) as info:
        parse_model_id(model_id)
    assert isinstance(info.value, ValueError)


def test_huge_id_gives_a_short_message() -> None:
    """A megabyte-long bad id does not make a megabyte-long message."""
    with pytest.raises(InvalidModelId) as info:
        parse_model_id("X" * (1 << 20))
    assert len(str(info.value)) < 200


@given(providers, models)
def test_split_at_first_slash(provider: str, model: str) -> None:
    """provider + '/' + model parses back into exactly those two parts."""
    assert parse_model_id(f"{provider}/{model}") == (provider, model)


@given(providers)
def test_bare_provider(provider: str) -> None:
    """A valid provider name alone is the provider with no model."""
    assert parse_model_id(provider) == (provider, None)


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_invalid_model_id(text: str) -> None:
    """Any text gives a valid (provider, model) pair or InvalidModelId, never another exception."""
    try:
        provider, model = parse_model_id(text)
    except InvalidModelId as exc:
        message = str(exc)
        assert "\n" not in message
        return
    assert PROVIDER_NAME_RE.fullmatch(provider)
    assert model is None or model.strip()
    assert "/" not in provider
