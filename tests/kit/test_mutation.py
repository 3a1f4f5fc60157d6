"""The mutation proof: the kit fails every planted mistake of the mutation set, naming it (one pytest subprocess)."""

from __future__ import annotations

from pathlib import Path

import mutation
import pytest

from clawdesk.testing import ProviderConformance

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: The mistakes the issue names first; each must have its mutant.
NAMED_IN_THE_ISSUE = {
    "tool_choice_bare_string",
    "json_schema_downgraded",
    "image_drops_text",
    "sse_non_json_crash",
    "error_event_as_success",
    "max_tokens_dropped_when_streaming",
}


def test_every_mutant_is_killed_with_a_message_naming_its_mistake(tmp_path: Path) -> None:
    """Each mutant fails one of its checks with the expected words; the kill rate is 100% of more than 30."""
    verdicts = mutation.run(workdir=tmp_path)
    assert len(verdicts) == len(mutation.MUTANTS) > 30
    survivors = [f"{v.mutant.name} ({v.mutant.mistake}): {v.message}" for v in verdicts if not v.killed]
    assert not survivors, "\n".join(survivors)
    # The kit names a leak without repeating it: no failure message shows the key it found.
    key = ProviderConformance.api_key
    assert not [v.mutant.name for v in verdicts if key[:6] in v.message]


def test_the_set_holds_the_mistakes_the_issue_names() -> None:
    """The five mistakes of the issue's first paragraph and max_tokens dropped only in streams are all planted."""
    assert {m.name for m in mutation.MUTANTS} >= NAMED_IN_THE_ISSUE


def test_each_mutant_changes_the_base_in_one_place() -> None:
    """Every mutant's text matches the base exactly once and changes it; names are unique."""
    base = mutation.BASE.read_text()
    names = [m.name for m in mutation.MUTANTS]
    assert len(names) == len(set(names))
    for mutant in mutation.MUTANTS:
        assert mutation.mutate(mutant, base) != base + "\n_KEY = ['']\n", mutant.name


def test_a_mutant_whose_text_is_not_in_the_base_is_refused() -> None:
    """A mutant that matches nothing is an error, not a silent no-op that the kit would 'survive'."""
    ghost = mutation.Mutant("ghost", "nothing", "no such text", "x", "test_chat_round_trip", "x")
    with pytest.raises(ValueError, match="matches the base 0 times"):
        mutation.mutate(ghost, mutation.BASE.read_text())
