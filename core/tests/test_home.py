"""The CLI's own files: where they are, the keys file, the log store, and editing default_model in a config file."""

from __future__ import annotations

import json
import sqlite3
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import ConfigError, Secret, load_keys, parse_config
from clawdesk._home import home_dir, keys_path, logs_path, write_private
from clawdesk._keys import key_names, save_key
from clawdesk._logs import LogEntry, LogStore, new_id
from clawdesk._manage_cli import set_default_model
from clawdesk._modelid import PROVIDER_NAME_RE

posix = pytest.mark.skipif(sys.platform == "win32", reason="no POSIX modes")


def test_home_is_clawdesk_home_or_the_user_data_dir(tmp_path: Path) -> None:
    """$CLAWDESK_HOME wins; without it the platform's user data directory for clawdesk."""
    assert home_dir({"CLAWDESK_HOME": str(tmp_path)}) == tmp_path
    assert keys_path({"CLAWDESK_HOME": str(tmp_path)}) == tmp_path / "keys.json"
    assert logs_path({"CLAWDESK_HOME": str(tmp_path)}) == tmp_path / "logs.db"
    default = home_dir({})
    assert default.name == "clawdesk"
    assert str(tmp_path) not in str(default)


@posix
def test_private_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    """write_private makes the directory 0700 and the file 0600, replacing the old file whole."""
    import os

    old = os.umask(0)
    try:
        target = tmp_path / "new-dir" / "file"
        write_private(target, b"one")
        write_private(target, b"two")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["file"]  # no temporary file left behind


provider_names = st.from_regex(PROVIDER_NAME_RE, fullmatch=True).filter(lambda n: len(n) <= 30)
key_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)


@given(keys=st.dictionaries(provider_names, key_values, max_size=4))
def test_keys_round_trip(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, str]) -> None:
    """Whatever keys are saved come back as Secrets, by name; listing shows the names only."""
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    # Random keys must not stay in the process-wide scrub list (they would turn other tests' text into ***).
    with sys.modules["clawdesk_tests_fakedist"].scrub_list_restored():
        for name, value in keys.items():
            save_key(name, value, path)
        loaded = load_keys(path)
        assert {name: secret.reveal() for name, secret in loaded.items()} == keys
        assert all(isinstance(secret, Secret) for secret in loaded.values())
        assert key_names(path) == sorted(keys)


def test_a_key_is_replaced_and_notes_are_not_keys(tmp_path: Path) -> None:
    """Saving a name again replaces its key; the file's note entry is not read as a key."""
    path = tmp_path / "keys.json"
    save_key("mistral", "sk-first-0000", path)
    save_key("mistral", "sk-second-1111", path)
    data = json.loads(path.read_text())
    assert data["mistral"] == "sk-second-1111"
    assert any(k.startswith("//") for k in data)
    assert list(load_keys(path)) == ["mistral"]


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [("Mistral", "sk-x", "not a provider name"), ("mistral", "   ", "empty"), ("mistral", "a b", "whitespace")],
)
def test_bad_keys_are_refused(tmp_path: Path, name: str, value: str, error: str) -> None:
    """Names are provider names; keys are non-empty and have no spaces or control characters."""
    with pytest.raises(ValueError, match=error):
        save_key(name, value, tmp_path / "keys.json")
    assert not (tmp_path / "keys.json").exists()


@pytest.mark.parametrize("content", ['{"mistral": "sk-half', '["sk-in-a-list"]', '{"mistral": 42}', "\xff\xfe"])
def test_a_broken_keys_file_names_the_file_not_its_content(tmp_path: Path, content: str) -> None:
    """A keys file that is not a JSON object of strings is a ConfigError naming the file and nothing in it."""
    path = tmp_path / "keys.json"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_keys(path)
    assert str(path) in str(caught.value)
    assert "sk-" not in str(caught.value)


def test_missing_keys_file_is_empty(tmp_path: Path) -> None:
    """No keys file: no keys (and nothing created)."""
    assert load_keys(tmp_path / "none.json") == {}
    assert not (tmp_path / "none.json").exists()


# -- the log store ------------------------------------------------------------------------------------


def entry(conversation: str, prompt: str, *, error: str | None = None) -> LogEntry:
    return LogEntry(
        id=new_id(),
        conversation_id=conversation,
        datetime_utc="2026-12-02T10:00:00.000Z",
        requested_model=None,
        provider=None if error else "p",
        model=None if error else "m",
        prompt=prompt,
        system=None,
        options={},
        attachments=[],
        prompt_json={"role": "user", "content": [{"type": "text", "text": prompt}]},
        response=None if error else f"re: {prompt}",
        reasoning=None,
        response_json=None if error else {"role": "assistant", "content": [{"type": "text", "text": "x"}]},
        finish_reason=None if error else "stop",
        input_tokens=None,
        output_tokens=None,
        usage=None,
        attempts=[],
        duration_ms=5,
        error=error,
    )


def test_log_store_lists_searches_and_follows_conversations(tmp_path: Path) -> None:
    """Entries come back newest N oldest first; search escapes LIKE's wildcards; conversations stay apart."""
    store = LogStore(tmp_path / "logs.db")
    for index in range(5):
        store.add(entry("c1" if index % 2 == 0 else "c2", f"prompt {index} 50%_off"))
    assert [e.prompt for e in store.entries(limit=2)] == ["prompt 3 50%_off", "prompt 4 50%_off"]
    assert len(store.entries(limit=None)) == 5
    assert len(store.entries(limit=None, query="50%_")) == 5
    assert store.entries(limit=None, query="5_%") == []
    assert [e.prompt for e in store.conversation("c2")] == ["prompt 1 50%_off", "prompt 3 50%_off"]
    assert store.latest_conversation() == "c1"
    assert store.counts() == (2, 5)
    store.close()


def test_log_store_scrubs_known_keys_from_what_came_back(tmp_path: Path) -> None:
    """A known key inside an answer or an error is stored as *** (the prompt is stored as typed)."""
    key = "sk-known-to-this-process-777"
    with sys.modules["clawdesk_tests_fakedist"].scrub_list_restored():
        Secret(key)  # known from here on, as every configured key is
        store = LogStore(tmp_path / "logs.db")
        store.add(entry("c", "hello", error=f"auth_failed: bad key {key}"))
        store.close()
    with sqlite3.connect(tmp_path / "logs.db") as db:
        (error,) = db.execute("SELECT error FROM responses").fetchone()
    assert error == "auth_failed: bad key ***"
    assert key.encode() not in (tmp_path / "logs.db").read_bytes()


def test_a_file_that_is_not_a_database_is_a_config_error(tmp_path: Path) -> None:
    """A logs.db that is not SQLite: ConfigError naming it."""
    path = tmp_path / "logs.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"logs\.db"):
        LogStore(path).add(entry("c", "x"))


def test_ids_sort_by_time() -> None:
    """Ids made later sort later (the log's order), also many within one millisecond, and never repeat."""
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert ids == sorted(ids)


# -- default_model in a config file --------------------------------------------------------------------------

tables = st.lists(
    st.tuples(st.sampled_from(["mistral", "ollama", "gpu2"]), st.integers(1, 60)), max_size=3, unique_by=lambda t: t[0]
)
comments = st.lists(st.sampled_from(["# my settings", "", "   # indented note", "# default_model = 'old'"]), max_size=3)
models = st.sampled_from(["mistral/mistral-small-latest", "ollama/llama3.2:3b", "ollama", "gpu2/qwen/qwen3"])


@given(head=comments, old=st.none() | models, body=tables, model=models)
def test_default_model_is_set_and_nothing_else_changes(
    head: list[str], old: str | None, body: list[tuple[str, int]], model: str
) -> None:
    """Any config file with or without a default_model gets exactly the new one; comments and tables stay."""
    lines = [*head]
    if old is not None:
        lines.append(f"default_model = {json.dumps(old)}")
    for name, timeout in body:
        lines += [f"[providers.{name}]", f"timeout_secs = {timeout}"]
    text = "\n".join(lines) + ("\n" if lines else "")
    edited = set_default_model(text, model)
    config = parse_config(edited)
    assert config.default_model == model
    assert config.providers == parse_config(text).providers
    kept = [line for line in edited.splitlines() if not line.startswith("default_model")]
    assert kept == [line for line in text.splitlines() if not line.startswith("default_model")]


def test_a_multiline_default_model_is_left_to_the_user() -> None:
    """A value written over several lines is not edited (the user's formatting is theirs)."""
    with pytest.raises(ConfigError, match="several lines"):
        set_default_model('default_model = """x"""\n', "mistral/m")
