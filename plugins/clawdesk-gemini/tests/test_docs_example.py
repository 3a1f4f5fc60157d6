"""The function-calling example of docs/providers/gemini.md runs, as written, against a scripted Gemini."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from clawdesk.testing import ScriptedServer

PAGE = Path(__file__).resolve().parents[3] / "docs" / "providers" / "gemini.md"
W = sys.modules["clawdesk_gemini_testwire"]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


@pytest.mark.skipif(not PAGE.exists(), reason="the repository's docs are not here (an installed package's tests)")
def test_docs_example_runs(
    server: ScriptedServer, gw: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page's example sends the signed call back and prints the final answer."""
    signature = "CiQBj2NhbGz7/78HCAkKCwwNDg8QERITFBUWFxgZGhscHQ=="
    gw.model = "gemini-3-flash-preview"
    server.add(
        gw.answer(gw.call("get_weather", {"city": "Paris"}, signature=signature, call_id="fc-7")),
        gw.answer(gw.text("18 °C in Paris.")),
    )
    config = tmp_path / "config.toml"
    config.write_text(W.config_text(server.url), encoding="utf-8")
    monkeypatch.setenv("CLAWDESK_CONFIG", str(config))
    monkeypatch.setenv("CLAWDESK_PLUGINS", "gemini")
    monkeypatch.setenv("GEMINI_API_KEY", W.KEY)
    (block,) = _python_blocks()
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(block, str(PAGE), "exec"), namespace)
    assert capsys.readouterr().out == "18 °C in Paris.\n"
    model, results = server.requests[1].json()["contents"][1:]
    assert model["parts"][0]["thoughtSignature"] == signature
    assert results["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}, "id": "fc-7"}}]
