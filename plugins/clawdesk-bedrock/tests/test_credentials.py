"""Credentials and region, found the way the AWS SDKs find them; the config's checks; secrets kept out of sight."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import clawdesk
from clawdesk import AuthFailed, ConfigError
from clawdesk_bedrock._config import BedrockConfig
from clawdesk_bedrock._credentials import resolve_access

pytestmark = pytest.mark.anyio

SECRET_2 = "profile/Secret+Key-abcdefghijklmnopqrstu"
TOKEN_2 = "profile-session-token-0123456789abcdef"


def _config(**table: Any) -> BedrockConfig:
    config = clawdesk.parse_config(json_table(table)).provider_config("bedrock", BedrockConfig, env={})
    assert isinstance(config, BedrockConfig)
    return config


def json_table(table: dict[str, Any]) -> str:
    return "[providers.bedrock]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items())


def _files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, credentials: str = "", config: str = "") -> None:
    (tmp_path / "credentials").write_text(credentials, encoding="utf-8")
    (tmp_path / "config").write_text(config, encoding="utf-8")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))


def _without_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import botocore...` raise ImportError, as on a machine without it.
    for name in ("botocore", "botocore.session", "botocore.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)


async def test_environment_keys(monkeypatch: pytest.MonkeyPatch, helpers: Any, env_keys: None) -> None:
    """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION give SigV4 credentials."""
    access = await resolve_access(_config())
    assert access.kind == "sigv4"
    assert access.region == helpers.REGION
    assert access.credentials is not None
    assert access.credentials.access_key_id == helpers.KEY_ID
    assert access.credentials.secret_access_key.reveal() == helpers.SECRET
    assert access.credentials.session_token is not None
    assert access.credentials.session_token.reveal() == helpers.TOKEN


async def test_bearer_token_comes_before_environment_keys(monkeypatch: pytest.MonkeyPatch, env_keys: None) -> None:
    """AWS_BEARER_TOKEN_BEDROCK wins over the access keys of the environment, as botocore prefers it."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-0123456789")
    access = await resolve_access(_config())
    assert access.kind == "bearer"
    assert access.token is not None
    assert access.token.reveal() == "bedrock-api-key-0123456789"
    assert access.source == "AWS_BEARER_TOKEN_BEDROCK"


async def test_auth_sigv4_ignores_the_bearer_token(monkeypatch: pytest.MonkeyPatch, env_keys: None) -> None:
    """``auth = "sigv4"`` signs even when a bearer token is in the environment."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-0123456789")
    assert (await resolve_access(_config(auth="sigv4"))).kind == "sigv4"


async def test_auth_bearer_without_a_key_is_refused() -> None:
    """``auth = "bearer"`` with no API key anywhere names both places to put one."""
    with pytest.raises(AuthFailed, match=r"AWS_BEARER_TOKEN_BEDROCK or providers\.bedrock\.api_key"):
        await resolve_access(_config(auth="bearer", region="us-east-1"))


async def test_table_keys_come_first(monkeypatch: pytest.MonkeyPatch, env_keys: None) -> None:
    """Access keys in the provider's table win over the bearer token and the keys of the environment."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-0123456789")
    access = await resolve_access(
        _config(access_key_id="AKIATABLE00000000000", secret_access_key="table-secret-0123456789", region="eu-west-1")
    )
    assert access.kind == "sigv4"
    assert access.credentials is not None
    assert access.credentials.access_key_id == "AKIATABLE00000000000"
    assert access.credentials.session_token is None
    assert access.region == "eu-west-1"
    assert access.source == "providers.bedrock.access_key_id"


async def test_profile_from_the_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_PROFILE picks a section of the credentials file; the config file's ``[profile x]`` gives the region."""
    _files(
        tmp_path,
        monkeypatch,
        credentials=f"[default]\naws_access_key_id = AKIADEFAULT000000000\naws_secret_access_key = nope-0000000000\n\n"
        f"[dev]\naws_access_key_id = AKIADEV0000000000000\naws_secret_access_key = {SECRET_2}\n"
        f"aws_session_token = {TOKEN_2}\n",
        config="[profile dev]\nregion = ap-southeast-2\n",
    )
    monkeypatch.setenv("AWS_PROFILE", "dev")
    access = await resolve_access(_config())
    assert access.credentials is not None
    assert access.credentials.access_key_id == "AKIADEV0000000000000"
    assert access.credentials.secret_access_key.reveal() == SECRET_2
    assert access.credentials.session_token is not None
    assert access.region == "ap-southeast-2"
    assert "profile 'dev'" in access.source


async def test_region_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The region: the table, then AWS_REGION, then AWS_DEFAULT_REGION, then the profile's."""
    _files(
        tmp_path,
        monkeypatch,
        credentials="[default]\naws_access_key_id = AKIADEFAULT000000000\naws_secret_access_key = s-0123456789\n",
        config="[default]\nregion = sa-east-1\n",
    )
    assert (await resolve_access(_config())).region == "sa-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert (await resolve_access(_config())).region == "ca-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert (await resolve_access(_config())).region == "eu-central-1"
    assert (await resolve_access(_config(region="us-gov-west-1"))).region == "us-gov-west-1"


async def test_environment_keys_beat_aws_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_keys: None
) -> None:
    """The environment's keys win over AWS_PROFILE (botocore's order); a profile in the table wins over both."""
    _files(
        tmp_path,
        monkeypatch,
        credentials=f"[dev]\naws_access_key_id = AKIADEV0000000000000\naws_secret_access_key = {SECRET_2}\n",
    )
    monkeypatch.setenv("AWS_PROFILE", "dev")
    access = await resolve_access(_config())
    assert access.credentials is not None
    assert access.credentials.access_key_id != "AKIADEV0000000000000"
    access = await resolve_access(_config(profile="dev"))
    assert access.credentials is not None
    assert access.credentials.access_key_id == "AKIADEV0000000000000"


async def test_keys_in_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys may also sit in the config file's ``[profile x]`` section."""
    _files(
        tmp_path,
        monkeypatch,
        config=f"[profile ci]\naws_access_key_id = AKIACI00000000000000\naws_secret_access_key = {SECRET_2}\n"
        "region = eu-north-1\n",
    )
    monkeypatch.setenv("AWS_PROFILE", "ci")
    access = await resolve_access(_config())
    assert access.credentials is not None
    assert access.credentials.access_key_id == "AKIACI00000000000000"
    assert access.region == "eu-north-1"


async def test_a_changed_file_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parsed files are cached only until they change."""
    _files(
        tmp_path,
        monkeypatch,
        credentials="[default]\naws_access_key_id = AKIAFIRST00000000000\naws_secret_access_key = s-0123456789\n",
    )
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    first = await resolve_access(_config())
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = AKIASECONDLONGER0000\naws_secret_access_key = s-0123456789\n", encoding="utf-8"
    )
    os.utime(tmp_path / "credentials", ns=(1, 1))
    second = await resolve_access(_config())
    assert first.credentials is not None
    assert second.credentials is not None
    assert (first.credentials.access_key_id, second.credentials.access_key_id) == (
        "AKIAFIRST00000000000",
        "AKIASECONDLONGER0000",
    )


@pytest.mark.parametrize(
    ("section", "what"),
    [
        ("role_arn = arn:aws:iam::123456789012:role/r\nsource_profile = default\n", "profile 'dev'"),
        ("sso_session = my-sso\nsso_account_id = 123456789012\nsso_role_name = r\n", "profile 'dev'"),
        ("credential_process = /bin/false\n", "profile 'dev'"),
    ],
)
async def test_machinery_without_botocore_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, what: str
) -> None:
    """A profile that needs assume-role, SSO or credential_process, without botocore: AuthFailed naming the extra."""
    _files(tmp_path, monkeypatch, config=f"[profile dev]\nregion = us-east-1\n{section}")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    _without_botocore(monkeypatch)
    with pytest.raises(AuthFailed) as caught:
        await resolve_access(_config())
    assert what in str(caught.value)
    assert "clawdesk-bedrock[aws]" in str(caught.value)


async def test_container_credentials_without_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    """Container credentials in the environment, without botocore: refused with the install hint, never unsigned."""
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _without_botocore(monkeypatch)
    with pytest.raises(AuthFailed, match=r"clawdesk-bedrock\[aws\]"):
        await resolve_access(_config())


async def test_credential_process_through_botocore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With botocore installed, a ``credential_process`` profile is resolved by botocore's own chain."""
    script = tmp_path / "creds.py"
    script.write_text(
        "import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAPROCESS000000000', "
        f"'SecretAccessKey': {SECRET_2!r}, 'SessionToken': {TOKEN_2!r}}}))\n",
        encoding="utf-8",
    )
    _files(
        tmp_path,
        monkeypatch,
        config=f"[profile proc]\nregion = us-east-2\ncredential_process = {sys.executable} {script}\n",
    )
    access = await resolve_access(_config(profile="proc"))
    assert access.kind == "sigv4"
    assert access.region == "us-east-2"
    assert access.credentials is not None
    assert access.credentials.access_key_id == "AKIAPROCESS000000000"
    assert access.credentials.secret_access_key.reveal() == SECRET_2
    assert access.source == "botocore (custom-process)"


async def test_nothing_found_lists_where_it_looked(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials anywhere and no botocore: AuthFailed naming the variables, the files and the extra."""
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    _without_botocore(monkeypatch)
    with pytest.raises(AuthFailed) as caught:
        await resolve_access(_config())
    text = str(caught.value)
    for needle in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "aws-credentials-absent", "[aws]"):
        assert needle in text


async def test_nothing_found_by_botocore_either(monkeypatch: pytest.MonkeyPatch) -> None:
    """With botocore installed and nothing configured (instance metadata off), the refusal says botocore found none."""
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(AuthFailed, match="botocore's chain found none either"):
        await resolve_access(_config())


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"AWS_ACCESS_KEY_ID": "AKIAONLY000000000000"}, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
        (
            {"AWS_SECRET_ACCESS_KEY": "lonely-secret-0123456789"},
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
        ),
        ({"AWS_PROFILE": "ghost"}, "the AWS profile 'ghost' is not in"),
        ({"AWS_REGION": "us-east-1.evil.example/"}, "is not an AWS region"),
    ],
)
async def test_broken_settings_are_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    """Half a key pair, a missing profile or a bad region each give one clear line, without the secret."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(AuthFailed) as caught:
        await resolve_access(_config())
    assert message in str(caught.value)
    assert "lonely-secret-0123456789" not in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_a_broken_file_is_refused_without_quoting_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreadable credentials file is named in the error; its lines (which may hold keys) are not quoted."""
    _files(tmp_path, monkeypatch, credentials=f"aws_secret_access_key = {SECRET_2}\n[default\n")
    with pytest.raises(AuthFailed) as caught:
        await resolve_access(_config(region="us-east-1"))
    assert "credentials" in str(caught.value)
    assert SECRET_2 not in str(caught.value)


async def test_no_region_with_the_default_endpoint(
    fake: Any, helpers: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys but no region, with the default endpoint: AuthFailed naming where a region goes; nothing is sent."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", helpers.KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", helpers.SECRET)
    async with make_client(base_url="https://bedrock-runtime.{region}.amazonaws.com", max_retries=0) as client:
        with pytest.raises(clawdesk.AllProvidersFailed) as caught:
            await client.chat(f"bedrock/{helpers.MODEL}", "hi")
    assert "AWS_REGION" in str(caught.value)
    assert fake.requests == []


async def test_chat_with_a_profile_through_the_fake(
    fake: Any, helpers: Any, make_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile of the credentials file signs a call the fake accepts (its key checked by signature)."""
    fake.keys["AKIAPROFILE000000000"] = (SECRET_2, None)
    _files(
        tmp_path,
        monkeypatch,
        credentials=f"[work]\naws_access_key_id = AKIAPROFILE000000000\naws_secret_access_key = {SECRET_2}\n",
        config=f"[profile work]\nregion = {helpers.REGION}\n",
    )
    fake.add(helpers.answer_reply(helpers.answer([{"text": "signed by a profile"}])))
    async with make_client(profile="work", max_retries=0) as client:
        reply = await client.chat(f"bedrock/{helpers.MODEL}", "hi")
    assert reply.message.text == "signed by a profile"
    assert fake.accepted == ["sigv4:AKIAPROFILE000000000"]
    assert "x-amz-security-token" not in fake.requests[0].headers


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"api_key": "k-0123456789", "access_key_id": "AKIAX0000000000000000", "secret_access_key": "s"},
            "not api_key and access keys",
        ),
        ({"access_key_id": "AKIAX0000000000000000"}, "one is missing"),
        ({"session_token": "t-0123456789"}, "session_token goes with"),
        (
            {"profile": "dev", "access_key_id": "AKIAX0000000000000000", "secret_access_key": "s"},
            "not access keys and profile",
        ),
        ({"auth": "bearer", "profile": "dev"}, "auth = 'bearer'"),
        ({"auth": "sigv4", "api_key": "k-0123456789"}, "auth = 'sigv4'"),
        ({"region": "US East"}, "expected an AWS region"),
        ({"base_url": "https://{host}.example.com"}, "only placeholder"),
    ],
)
def test_config_refuses_what_cannot_be_meant(table: dict[str, Any], message: str) -> None:
    """Contradictory or malformed tables are a ConfigError naming the key path, before any call."""
    with pytest.raises(ConfigError) as caught:
        _config(**table)
    assert message in str(caught.value)
    assert "providers.bedrock" in str(caught.value)


def test_config_repr_hides_every_secret() -> None:
    """repr and str of the config show no key id, secret key, session token or API key."""
    config = _config(
        access_key_id="AKIAREPR000000000000",
        secret_access_key="repr-secret-0123456789",
        session_token="repr-token-0123456789",
    )
    shown = repr(config) + str(config)
    for secret in ("AKIAREPR000000000000", "repr-secret-0123456789", "repr-token-0123456789"):
        assert secret not in shown
    bearer = _config(api_key="repr-bearer-0123456789")
    assert "repr-bearer-0123456789" not in repr(bearer)


async def test_a_profile_without_credentials_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table's profile exists but holds only a region: the refusal names that profile, with or without botocore."""
    _files(tmp_path, monkeypatch, config="[profile empty]\nregion = us-east-1\n")
    with pytest.raises(AuthFailed, match="profile 'empty' has no credentials"):
        await resolve_access(_config(profile="empty"))
    _without_botocore(monkeypatch)
    with pytest.raises(AuthFailed, match=r"profile 'empty' has no credentials.*clawdesk-bedrock\[aws\]"):
        await resolve_access(_config(profile="empty"))


@pytest.mark.parametrize(
    ("table", "env", "files", "usable"),
    [
        ({}, {}, False, False),
        ({}, {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"}, False, True),
        ({}, {"AWS_BEARER_TOKEN_BEDROCK": "token"}, False, True),
        ({"auth": "sigv4"}, {"AWS_BEARER_TOKEN_BEDROCK": "token"}, False, False),
        ({}, {"AWS_PROFILE": "work"}, False, True),
        ({}, {}, True, True),
        ({"profile": "work"}, {}, False, True),
    ],
)
def test_usable_only_with_credentials_at_hand(
    tmp_path: Path, table: dict[str, str], env: dict[str, str], files: bool, usable: bool
) -> None:
    """Bedrock joins the default chain only when AWS credentials are at hand: table, variables or a profile file."""
    environ = {"HOME": str(tmp_path), **env}
    if files:
        (tmp_path / ".aws").mkdir()
        (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    assert BedrockConfig(**table).usable(environ) is usable
