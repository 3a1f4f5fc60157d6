"""``clawdesk chat -m bedrock/...`` end to end: a real subprocess, a scripted Bedrock that verifies each signature."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def _run(args: list[str], config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The test's environment has no AWS variable of the machine (conftest); the call gets only what it is given.
    base = {k: v for k, v in os.environ.items() if k != "CLAWDESK_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "clawdesk", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, "CLAWDESK_PLUGINS": "bedrock", **env},
        check=False,
    )


def _config(tmp_path: Path, fake: Any, helpers: Any, **table: Any) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(helpers.config_text(fake.url, max_retries=0, **table), encoding="utf-8")
    return path


def _secrets_absent(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    shown = result.stdout + result.stderr
    for secret in secrets:
        assert secret not in shown


def test_chat_streams_with_only_the_aws_variables(fake: Any, helpers: Any, tmp_path: Path) -> None:
    """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION alone: a signed stream, printed."""
    fake.add(helpers.stream_reply(helpers.text_frames("Hello", " from", " Bedrock")))
    env = {
        "AWS_ACCESS_KEY_ID": helpers.KEY_ID,
        "AWS_SECRET_ACCESS_KEY": helpers.SECRET,
        "AWS_SESSION_TOKEN": helpers.TOKEN,
        "AWS_REGION": helpers.REGION,
    }
    result = _run(["chat", "-m", f"bedrock/{helpers.MODEL}", "hi"], _config(tmp_path, fake, helpers), env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Hello from Bedrock"
    assert fake.accepted == [f"sigv4:{helpers.KEY_ID}"]
    assert fake.requests[0].path.endswith("/converse-stream")
    _secrets_absent(result, helpers.SECRET, helpers.TOKEN)


def test_chat_with_a_profile_of_the_credentials_file(fake: Any, helpers: Any, tmp_path: Path) -> None:
    """AWS_PROFILE with the credentials and config files (region from the profile) signs the call."""
    fake.keys["AKIAPROFILECLI000000"] = ("cli/profile+secret-0123456789", None)
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = AKIAWRONGDEFAULT0000\naws_secret_access_key = wrong-0123456789\n\n"
        "[team]\naws_access_key_id = AKIAPROFILECLI000000\naws_secret_access_key = cli/profile+secret-0123456789\n",
        encoding="utf-8",
    )
    (tmp_path / "config").write_text(f"[profile team]\nregion = {helpers.REGION}\n", encoding="utf-8")
    fake.add(helpers.stream_reply(helpers.text_frames("profile", " ok")))
    env = {
        "AWS_PROFILE": "team",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }
    result = _run(["chat", "-m", f"bedrock/{helpers.MODEL}", "--json", "hi"], _config(tmp_path, fake, helpers), env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["content"] == "profile ok"
    assert data["usage"]["input_tokens"] == 12
    assert fake.accepted == ["sigv4:AKIAPROFILECLI000000"]
    _secrets_absent(result, "cli/profile+secret-0123456789")


def test_chat_with_a_bedrock_api_key(fake: Any, helpers: Any, tmp_path: Path) -> None:
    """AWS_BEARER_TOKEN_BEDROCK (with AWS_REGION) is sent as a bearer token instead of a signature."""
    fake.add(helpers.stream_reply(helpers.text_frames("bearer", " ok")))
    env = {"AWS_BEARER_TOKEN_BEDROCK": helpers.BEARER, "AWS_REGION": helpers.REGION}
    result = _run(["chat", "-m", f"bedrock/{helpers.MODEL}", "hi"], _config(tmp_path, fake, helpers), env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "bearer ok"
    assert fake.accepted == ["bearer"]
    assert "x-amz-date" not in fake.requests[0].headers
    _secrets_absent(result, helpers.BEARER)


@pytest.mark.parametrize("debug", [False, True])
def test_a_refused_signature_is_one_line_without_secrets(fake: Any, helpers: Any, tmp_path: Path, debug: bool) -> None:
    """A wrong secret key: exit 1, one line naming the provider and what to check; no secret, even with --debug."""
    fake.add(helpers.stream_reply(helpers.text_frames("never")))
    env = {
        "AWS_ACCESS_KEY_ID": helpers.KEY_ID,
        "AWS_SECRET_ACCESS_KEY": "not/the+right-secret-0123456789",
        "AWS_SESSION_TOKEN": helpers.TOKEN,
        "AWS_REGION": helpers.REGION,
    }
    args = ["--debug"] if debug else []
    result = _run([*args, "chat", "-m", f"bedrock/{helpers.MODEL}", "hi"], _config(tmp_path, fake, helpers), env)
    assert result.returncode == 1
    assert "bedrock" in result.stderr
    assert "InvalidSignatureException" not in result.stdout
    assert "signature" in result.stderr.lower()
    if not debug:
        assert "Traceback" not in result.stderr
    _secrets_absent(result, "not/the+right-secret-0123456789", helpers.TOKEN)


def test_no_credentials_anywhere_says_what_to_set(fake: Any, helpers: Any, tmp_path: Path) -> None:
    """With no credentials at all the CLI names the variables to set, and nothing is sent."""
    result = _run(
        ["chat", "-m", f"bedrock/{helpers.MODEL}", "hi"], _config(tmp_path, fake, helpers), {"AWS_REGION": "us-east-1"}
    )
    assert result.returncode == 1
    assert "AWS_ACCESS_KEY_ID" in result.stderr
    assert fake.requests == []


def test_models_refresh_is_signed_too(fake: Any, helpers: Any, tmp_path: Path) -> None:
    """``clawdesk models -p bedrock --refresh`` lists the region's models through signed control-plane calls."""
    from clawdesk.testing import Reply

    summary = {
        "modelArn": "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0",
        "modelId": "amazon.nova-pro-v1:0",
        "modelName": "Nova Pro",
        "providerName": "Amazon",
        "inputModalities": ["TEXT", "IMAGE"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": True,
        "inferenceTypesSupported": ["ON_DEMAND"],
        "modelLifecycle": {"status": "ACTIVE"},
    }
    assert helpers.schema_errors("ListFoundationModelsResponse", {"modelSummaries": [summary]}) == []
    fake.route("GET", "/foundation-models?byOutputModality=TEXT", Reply.json({"modelSummaries": [summary]}))
    fake.route("GET", "/inference-profiles?maxResults=1000", Reply.json({"inferenceProfileSummaries": []}))
    env = {
        "AWS_ACCESS_KEY_ID": helpers.KEY_ID,
        "AWS_SECRET_ACCESS_KEY": helpers.SECRET,
        "AWS_SESSION_TOKEN": helpers.TOKEN,
    }
    config = _config(tmp_path, fake, helpers, control_url=fake.url, region=helpers.REGION)
    result = _run(["models", "-p", "bedrock", "--refresh", "--json"], config, env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["bedrock/amazon.nova-pro-v1:0"]
    assert "vision" in rows[0]["capabilities"]
    assert fake.accepted == [f"sigv4:{helpers.KEY_ID}"] * 2
