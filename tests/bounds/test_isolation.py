"""Plugin isolation: a plugin that hangs or spins at import does not hold up ``clawdesk chat -m other/x`` (only
the pinned model's plugin is imported), the import timeout still bounds listing, and ``clawdesk plugins
--check`` imports each plugin in a subprocess and names those that hang, crash or balloon. Real CLI
subprocesses, fake plugin distributions in a private folder, real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from clawdesk import Registry
from clawdesk.testing import Reply, ScriptedServer

fakedist = sys.modules["clawdesk_tests_fakedist"]
plugin_source = fakedist.plugin_source

KEY = "sk-isolation-0123456789"


def marked(marker: Path, body: str) -> str:
    """Import-time code that first leaves ``marker`` (proof that the import ran), then does ``body``."""
    return f"open({str(marker)!r}, 'w').close()\n{body}"


def test_a_pinned_chat_imports_only_its_own_plugin(fake_site: Any, tmp_path: Path) -> None:
    """With a plugin that blocks and one that spins at import (a 60 s timeout), `chat -m alpha/x` answers."""
    sleeper, spinner = tmp_path / "sleeper-imported", tmp_path / "spinner-imported"
    fake_site.add("sleeper", plugin_source("sleeper", prelude=marked(sleeper, fake_site.blocking_prelude(limit=120))))
    fake_site.add("spinner", plugin_source("spinner", prelude=marked(spinner, "while True:\n    pass\n")))
    fake_site.add("alpha")
    env = fakedist.cli_env(
        tmp_path, site=fake_site.path, extra={"CLAWDESK_PLUGIN_IMPORT_TIMEOUT": "60", "ALPHA_API_KEY": KEY}
    )
    with ScriptedServer() as server:
        server.add(Reply.json({"content": "still standing"}))
        config = tmp_path / "config.toml"
        config.write_text(f'[providers.alpha]\nbase_url = "{server.url}"\n')
        # Importing either hostile plugin would cost the 60 s import timeout: more than this run may take.
        chat = fakedist.run_cli(
            ["chat", "hi", "-m", "alpha/small", "--no-stream", "--no-log", "--config", str(config)], env, timeout=40
        )
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip() == "still standing"
    assert not sleeper.exists()
    assert not spinner.exists()


def test_listing_still_bounds_each_import(fake_site: Any, tmp_path: Path) -> None:
    """`clawdesk plugins` imports every plugin; one stuck at import is reported after the import timeout."""
    fake_site.add("sleeper", plugin_source("sleeper", prelude=fake_site.blocking_prelude(limit=60)))
    fake_site.add("alpha")
    env = fakedist.cli_env(tmp_path, site=fake_site.path, extra={"CLAWDESK_PLUGIN_IMPORT_TIMEOUT": "0.5"})
    listed = fakedist.run_cli(["plugins", "--json"], env, timeout=40)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["alpha"]["status"] == "ok"
    assert rows["sleeper"]["status"] == "error"
    assert "did not finish within 0.5s" in rows["sleeper"]["error"]


def test_plugins_check_names_what_hangs_crashes_and_balloons(fake_site: Any, tmp_path: Path) -> None:
    """`plugins --check` imports each plugin in a subprocess: a hang, a crash, an exit and a balloon are named."""
    fake_site.add("sleeper", plugin_source("sleeper", prelude=fake_site.blocking_prelude(limit=60)))
    fake_site.add("crasher", plugin_source("crasher", prelude="raise RuntimeError('boom at import')\n"))
    fake_site.add("quitter", plugin_source("quitter", prelude="import os\nos._exit(3)\n"))
    # 4 GiB at once: refused at once under the check's 512 MiB address-space limit.
    fake_site.add("balloon", plugin_source("balloon", prelude="_hoard = b'x' * (4 * 1024 ** 3)\n"))
    fake_site.add("alpha")
    env = fakedist.cli_env(
        tmp_path,
        site=fake_site.path,
        plugins="sleeper,crasher,quitter,balloon,alpha",
        extra={"CLAWDESK_PLUGIN_IMPORT_TIMEOUT": "3", "CLAWDESK_PLUGIN_CHECK_MEMORY_MB": "512"},
    )
    checked = fakedist.run_cli(["plugins", "--check", "--json"], env, timeout=60)
    assert checked.returncode == 1, checked.stderr
    rows = {row["name"]: row for row in json.loads(checked.stdout)}
    assert rows["alpha"]["verdict"] == "ok"
    assert rows["sleeper"]["verdict"] == "hangs"
    assert "did not finish within 3s" in rows["sleeper"]["detail"]
    assert rows["crasher"]["verdict"] == "crashes"
    assert "RuntimeError: boom at import" in rows["crasher"]["detail"]
    assert rows["quitter"]["verdict"] == "crashes"
    assert "exit status 3" in rows["quitter"]["detail"]
    assert rows["balloon"]["verdict"] == "balloons"
    assert "512 MiB" in rows["balloon"]["detail"]
    text = fakedist.run_cli(["plugins", "--check"], env, timeout=60)
    assert "sleeper" in text.stdout
    assert "hangs:" in text.stdout


def test_a_lazy_registry_imports_a_plugin_when_it_is_asked_for(fake_site: Any) -> None:
    """Registry(lazy=True) imports nothing up front, one plugin for provider(name), the rest for names()."""
    beta = fake_site.add("beta")
    alpha = fake_site.add("alpha")
    registry = Registry(plugins="alpha,beta", lazy=True)
    assert alpha not in sys.modules
    assert beta not in sys.modules
    assert registry.provider("alpha").name == "alpha"
    assert alpha in sys.modules
    assert beta not in sys.modules
    assert sorted(registry.names()) == ["alpha", "beta"]
    assert {s.name: s.status for s in registry.statuses() if s.status != "disabled"} == {"alpha": "ok", "beta": "ok"}
