"""The CLI's memory: the SQLite log, continuing a conversation, saved keys, the default model, the config path.

The log database is opened with the standard ``sqlite3`` module to see what
was really stored, and every test that involves a key checks the whole
database file for it.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from everyday_wire import KEY, MODEL, mistral_answer, mistral_stream, thinking

from clawdesk.testing import RecordedRequest, Reply, ScriptedServer

PINNED = ["-m", f"mistral/{MODEL}"]


def rows(path: Path) -> list[dict[str, Any]]:
    """Every logged exchange, oldest first, read with plain sqlite3."""
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM responses ORDER BY id")]


def assert_key_absent(path: Path, key: str) -> None:
    """The key is nowhere in the database: not in any column, not in the file's bytes."""
    with sqlite3.connect(path) as db:
        dump = "\n".join(db.iterdump())
    assert key not in dump
    assert key.encode() not in path.read_bytes()


# -- the log ---------------------------------------------------------------------------------------------


def test_an_exchange_is_logged_with_everything(cli: Any, mistral: ScriptedServer) -> None:
    """Prompt, system, model, answer, reasoning, usage, attempts and duration are stored; never the key."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream(thinking("Short."), "Rayleigh scattering."))
    result = cli("chat", *PINNED, "-s", "Answer in two words.", "-o", "temperature", "0.2", "Why is the sky blue?")
    assert result.status == 0, result
    (row,) = rows(cli.logs)
    assert row["prompt"] == "Why is the sky blue?"
    assert row["system"] == "Answer in two words."
    assert (row["requested_model"], row["provider"], row["model"]) == (f"mistral/{MODEL}", "mistral", MODEL)
    assert (row["response"], row["reasoning"], row["finish_reason"]) == ("Rayleigh scattering.", "Short.", "stop")
    assert (row["input_tokens"], row["output_tokens"]) == (12, 3)
    assert json.loads(row["options_json"]) == {"temperature": 0.2}
    attempts = json.loads(row["attempts_json"])
    assert [(a["provider"], a["outcome"]) for a in attempts] == [("mistral", "ok")]
    assert row["duration_ms"] >= 0
    assert row["error"] is None
    assert len(row["conversation_id"]) == 22
    assert_key_absent(cli.logs, KEY)


def test_log_database_is_private(cli: Any, mistral: ScriptedServer) -> None:
    """The database is readable by its owner only, in a directory only its owner can enter."""
    if sys.platform == "win32":
        pytest.skip("no POSIX modes")
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("ok"))
    assert cli("chat", *PINNED, "q").status == 0
    assert stat.S_IMODE(cli.logs.stat().st_mode) == 0o600


def test_a_failure_is_logged_without_the_key_even_when_the_server_echoes_it(cli: Any, mistral: ScriptedServer) -> None:
    """A 401 whose body repeats the key: the error and attempts are logged, scrubbed of the key."""

    def echo(request: RecordedRequest) -> Reply:
        auth = request.headers.get("authorization", "")
        return Reply.json({"object": "error", "message": f"bad key {auth.removeprefix('Bearer ')}"}, status=401)

    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(echo)
    result = cli("chat", *PINNED, "q")
    assert result.status == 1
    assert KEY not in result.err
    (row,) = rows(cli.logs)
    assert row["response"] is None
    assert "auth_failed" in row["error"]
    assert "***" in row["error"]
    assert json.loads(row["attempts_json"])[0]["kind"] == "auth_failed"
    assert_key_absent(cli.logs, KEY)


def test_no_log_and_logs_off(cli: Any, mistral: ScriptedServer) -> None:
    """--no-log skips one exchange; `logs off` stops logging; --log logs one anyway; `logs on` resumes."""
    cli.configure(mistral=mistral.url + "/v1")
    for _ in range(4):
        mistral.add(mistral_stream("ok"))
    assert cli("chat", *PINNED, "--no-log", "one").status == 0
    assert not cli.logs.exists()
    assert cli("logs", "off").status == 0
    assert cli("chat", *PINNED, "two").status == 0
    assert not cli.logs.exists()
    assert cli("chat", *PINNED, "--log", "three").status == 0
    assert cli("logs", "status").out.startswith("Logging is off\n")
    assert cli("logs", "on").status == 0
    assert cli("chat", *PINNED, "four").status == 0
    assert [r["prompt"] for r in rows(cli.logs)] == ["three", "four"]
    assert cli("logs", "status").out.splitlines()[0] == "Logging is on"


def test_logs_list_shows_the_newest_in_order_and_searches(cli: Any, mistral: ScriptedServer) -> None:
    """`logs list -n N --json` gives the N newest, oldest first; -q finds text in prompts and answers."""
    cli.configure(mistral=mistral.url + "/v1")
    for answer in ("Paris.", "Berlin.", "Madrid."):
        mistral.add(mistral_stream(answer))
    for country in ("France", "Germany", "Spain"):
        assert cli("chat", *PINNED, f"Capital of {country}?").status == 0
    listed = json.loads(cli("logs", "list", "-n", "2", "--json").out)
    assert [e["response"] for e in listed] == ["Berlin.", "Madrid."]
    assert listed[0]["usage"] == {"input_tokens": 12, "output_tokens": 3}
    assert json.loads(cli("logs", "-n", "0", "--json").out)[0]["prompt"] == "Capital of France?"
    found = json.loads(cli("logs", "list", "-q", "germ", "--json").out)
    assert [e["response"] for e in found] == ["Berlin."]
    assert json.loads(cli("logs", "list", "-q", "100%", "--json").out) == []
    latest = json.loads(cli("logs", "-c", "--json").out)
    assert [e["response"] for e in latest] == ["Madrid."]  # each chat began its own conversation
    text = cli("logs", "-n", "1").out
    assert "## Prompt\n\nCapital of Spain?\n" in text
    assert "## Response\n\nMadrid.\n" in text


def test_logs_path(cli: Any) -> None:
    """`logs path` prints the database's place in the clawdesk home; `keys path` the keys file's."""
    assert cli("logs", "path").out == f"{cli.home / 'logs.db'}\n"
    assert cli("keys", "path").out == f"{cli.home / 'keys.json'}\n"


def test_logs_on_an_empty_home(cli: Any) -> None:
    """Listing before any chat prints nothing (and [] as JSON) and creates no database."""
    assert cli("logs").out == ""
    assert json.loads(cli("logs", "--json").out) == []
    assert not cli.logs.exists()


# -- continuing a conversation ----------------------------------------------------------------------------


def test_continue_sends_the_earlier_turns(cli: Any, mistral: ScriptedServer) -> None:
    """`chat -c` after a first exchange sends the system prompt, the first turn and its answer, then the new prompt."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("Paris."), mistral_stream("About 2.1 million."))
    assert cli("chat", *PINNED, "-s", "Be brief.", "Capital of France?").status == 0
    result = cli("chat", "-c", "How many people live there?")
    assert result.status == 0, result
    assert mistral.requests[1].json()["model"] == MODEL  # the conversation's model, without -m
    assert mistral.requests[1].json()["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "How many people live there?"},
    ]
    first, second = rows(cli.logs)
    assert first["conversation_id"] == second["conversation_id"]


def test_cid_continues_that_conversation(cli: Any, mistral: ScriptedServer) -> None:
    """`--cid ID` continues the named conversation, not the latest one."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("A."), mistral_stream("B."), mistral_stream("A again."))
    cli("chat", *PINNED, "first")
    cli("chat", *PINNED, "second")
    first = rows(cli.logs)[0]["conversation_id"]
    result = cli("chat", "--cid", first, "--json", "more")
    assert result.status == 0, result
    assert json.loads(result.out)["conversation_id"] == first
    messages = mistral.requests[2].json()["messages"]
    assert [m["content"] for m in messages] == ["first", "A.", "more"]


def test_continue_skips_failed_exchanges(cli: Any, mistral: ScriptedServer) -> None:
    """A failed exchange of the conversation is logged but not sent again with -c."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("One."), Reply.json({"message": "down"}, status=500), mistral_stream("Two."))
    cli("chat", *PINNED, "first")
    assert cli("chat", "-c", "broken").status == 1
    assert cli("chat", "-c", "third").status == 0
    assert [m["content"] for m in mistral.requests[-1].json()["messages"]] == ["first", "One.", "third"]


@pytest.mark.parametrize(
    ("args", "words"), [(["-c"], "the log is empty"), (["--cid", "nope"], "no conversation 'nope'")]
)
def test_nothing_to_continue_is_a_usage_error(cli: Any, args: list[str], words: str) -> None:
    """-c with an empty log, or --cid naming nothing: exit 2 with one line."""
    result = cli("chat", *args, "q")
    assert result.status == 2
    assert words in result.err
    assert result.err.count("\n") == 1


def test_whole_answers_continue_too(cli: Any, mistral: ScriptedServer) -> None:
    """--no-stream exchanges are logged and continued like streamed ones."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_answer("Yes."), mistral_answer("Still yes."))
    assert cli("chat", *PINNED, "--no-stream", "Is it?").status == 0
    assert cli("chat", "-c", "--no-stream", "Sure?").status == 0
    assert [m["content"] for m in mistral.requests[1].json()["messages"]] == ["Is it?", "Yes.", "Sure?"]


# -- keys ---------------------------------------------------------------------------------------------------


def test_keys_set_list_and_use(cli: Any, mistral: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """`keys set mistral` saves the key owner-only; `keys list` shows the name only; chat then sends it."""
    saved = "sk-saved-key-from-the-keys-file-42"
    result = cli("keys", "set", "mistral", stdin=f"{saved}\n".encode())
    assert (result.status, result.out, result.err) == (0, "", "")
    keys_file = cli.home / "keys.json"
    if sys.platform != "win32":
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert json.loads(keys_file.read_text())["mistral"] == saved
    listed = cli("keys", "list")
    assert listed.out == "mistral\n"
    assert saved not in listed.out + listed.err
    monkeypatch.delenv("MISTRAL_API_KEY")
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("ok"))
    assert cli("chat", *PINNED, "q").status == 0
    assert mistral.requests[0].headers["authorization"] == f"Bearer {saved}"
    assert_key_absent(cli.logs, saved)


def test_saved_key_comes_after_the_config_and_the_environment(
    cli: Any, mistral: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config file's key wins over the environment's, which wins over the saved one."""
    cli("keys", "set", "mistral", stdin=b"sk-from-the-keys-file-000\n")
    for _ in range(3):
        mistral.add(mistral_stream("ok"))
    cli.configure(mistral=mistral.url + "/v1")
    text = cli.config.read_text().replace("max_retries = 0\n", 'max_retries = 0\napi_key = "sk-from-config-111"\n', 1)
    cli.config.write_text(text)
    cli("chat", *PINNED, "q")
    cli.configure(mistral=mistral.url + "/v1")
    cli("chat", *PINNED, "q")
    monkeypatch.delenv("MISTRAL_API_KEY")
    cli("chat", *PINNED, "q")
    used = [r.headers["authorization"] for r in mistral.requests]
    assert used == ["Bearer sk-from-config-111", f"Bearer {KEY}", "Bearer sk-from-the-keys-file-000"]


def test_missing_key_names_every_place_a_key_can_come_from(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any key the one error line names the variable, the config key and `clawdesk keys set`."""
    monkeypatch.delenv("MISTRAL_API_KEY")
    result = cli("chat", *PINNED, "q")
    assert result.status == 1
    assert "MISTRAL_API_KEY" in result.err
    assert "providers.mistral.api_key" in result.err
    assert "clawdesk keys set mistral" in result.err


@pytest.mark.parametrize(
    ("name", "stdin", "words"),
    [("Mistral!", b"sk-x\n", "not a provider name"), ("mistral", b"\n", "no key on stdin")],
)
def test_bad_keys_set_is_a_usage_error(cli: Any, name: str, stdin: bytes, words: str) -> None:
    """A name that is not a provider name, or no key at all: exit 2, nothing saved."""
    result = cli("keys", "set", name, stdin=stdin)
    assert result.status == 2
    assert words in result.err
    assert not (cli.home / "keys.json").exists()


def test_keys_set_for_an_unknown_provider_warns(cli: Any) -> None:
    """A key for a name no provider has is saved, with a warning naming the known ones."""
    result = cli("keys", "set", "mistrall", stdin=b"sk-typo-key-123456\n")
    assert result.status == 0
    assert "no provider named 'mistrall'" in result.err
    assert "sk-typo-key-123456" not in result.err
    assert cli("keys", "list").out == "mistrall\n"


def test_corrupt_keys_file_is_named_without_its_content(cli: Any, mistral: ScriptedServer) -> None:
    """A keys file that is not JSON: exit 2, the file named, none of its content shown."""
    cli.home.mkdir(parents=True, exist_ok=True)
    (cli.home / "keys.json").write_text('{"mistral": "sk-half-written-secret-9')
    cli.configure(mistral=mistral.url + "/v1")
    result = cli("chat", *PINNED, "q")
    assert result.status == 2
    assert "keys.json" in result.err
    assert "sk-half-written" not in result.err


# -- models default and config path -------------------------------------------------------------------------


def test_models_default_shows_sets_and_is_used(cli: Any, mistral: ScriptedServer) -> None:
    """`models default MODEL` writes default_model into the config file, keeping the rest; chat then uses it."""
    cli.configure(mistral=mistral.url + "/v1")
    cli.config.write_text("# my settings\n" + cli.config.read_text())
    before = cli("models", "default")
    assert (before.status, before.out) == (0, "")
    assert "no default model is set" in before.err
    assert cli("models", "default", f"mistral/{MODEL}").status == 0
    text = cli.config.read_text()
    assert text.startswith(f'default_model = "mistral/{MODEL}"\n# my settings\n[providers.mistral]\n')
    assert cli("models", "default").out == f"mistral/{MODEL}\n"
    assert cli("models", "default", "mistral/magistral-small-latest").status == 0
    assert cli.config.read_text().count("default_model") == 1
    mistral.add(mistral_stream("ok"))
    assert cli("chat", "q").status == 0
    assert mistral.requests[0].json()["model"] == "magistral-small-latest"


def test_models_default_refuses_an_unknown_provider(cli: Any) -> None:
    """A default naming a provider that is not installed or configured: exit 2, the file unchanged."""
    before = cli.config.read_text()
    result = cli("models", "default", "mistrall/x")
    assert result.status == 2
    assert "no provider named 'mistrall'" in result.err
    assert cli.config.read_text() == before


def test_config_path(cli: Any, tmp_path: Path) -> None:
    """`config path` prints $CLAWDESK_CONFIG, or --config when given (whether the file exists or not)."""
    assert cli("config", "path").out == f"{cli.config}\n"
    other = tmp_path / "elsewhere.toml"
    assert cli("config", "path", "--config", str(other)).out == f"{other}\n"
