"""Finding the credentials and the region of a call the way the AWS SDKs find them, without an SDK.

The order (the first that gives credentials wins):

1. the provider's table: ``access_key_id`` + ``secret_access_key``
   (+ ``session_token``), or ``profile``;
2. a Bedrock API key: ``api_key`` in the table, else
   ``$AWS_BEARER_TOKEN_BEDROCK`` (sent as ``Authorization: Bearer``; botocore
   prefers it to the other sources of the environment too);
3. ``$AWS_ACCESS_KEY_ID`` + ``$AWS_SECRET_ACCESS_KEY`` (+ ``$AWS_SESSION_TOKEN``);
4. the profile ``$AWS_PROFILE`` (else ``default``) of the shared credentials
   file (``$AWS_SHARED_CREDENTIALS_FILE``, else ``~/.aws/credentials``) and
   the config file (``$AWS_CONFIG_FILE``, else ``~/.aws/config``, sections
   ``[profile name]``), in botocore's order: a profile that assumes a role,
   uses web identity or SSO first, then keys in the credentials file, then
   ``credential_process``, then keys in the config file;
5. the rest of botocore's chain (container and instance metadata, ...).

``auth = "sigv4"`` skips 2; ``auth = "bearer"`` is 2 alone.

Sources that need more machinery (assume-role, web identity, SSO,
``credential_process``, container and instance metadata) are resolved by
botocore's own resolver when botocore is installed (``pip install
'clawdesk-bedrock[aws]'``), in a worker thread since it may call AWS; without
it the call is refused with :class:`~clawdesk.AuthFailed` naming what to
install. Nothing is ever sent unsigned.

The region: the table's ``region``, ``$AWS_REGION``, ``$AWS_DEFAULT_REGION``,
then the profile's ``region`` in the config file.

Every variable is read from the process environment at each call (as the SDKs
read it when a client is made); the files are parsed again only when they
change. Secret values become :class:`~clawdesk.Secret` as soon as they are
read, and messages name where credentials were looked for, never a value.
"""

from __future__ import annotations

import configparser
import functools
import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from attrs import frozen

from clawdesk import AuthFailed, Secret

from ._config import REGION_RE, BedrockConfig
from ._sigv4 import AwsCredentials

__all__ = ["Access", "resolve_access"]

BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"
INSTALL_HINT = "pip install 'clawdesk-bedrock[aws]' (botocore resolves them)"
# Profile keys that only botocore's machinery can turn into credentials, in the order botocore tries them.
_BEFORE_FILE_KEYS = ("role_arn", "web_identity_token_file", "sso_session", "sso_start_url")
_AFTER_FILE_KEYS = ("credential_process",)
_MACHINE_ENV = (
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@frozen(kw_only=True)
class Access:
    """How one call authenticates: SigV4 ``credentials`` or a bearer ``token``, and the ``region`` (if known)."""

    kind: Literal["sigv4", "bearer"]
    region: str | None
    credentials: AwsCredentials | None = None
    token: Secret | None = None
    source: str


class _Files:
    """The shared credentials and config files, parsed again only when they change.

    The paths are worked out on first use: a call whose credentials and
    region come from the table or the environment never touches them.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    @functools.cached_property
    def credentials_path(self) -> Path:
        return _path(self._environ.get("AWS_SHARED_CREDENTIALS_FILE"), "credentials")

    @functools.cached_property
    def config_path(self) -> Path:
        return _path(self._environ.get("AWS_CONFIG_FILE"), "config")

    def credentials(self, profile: str) -> Mapping[str, str] | None:
        return _read_ini(self.credentials_path).get(profile)

    def config(self, profile: str) -> Mapping[str, str] | None:
        sections = _read_ini(self.config_path)
        if profile == "default":
            return sections.get("profile default") or sections.get("default")
        return sections.get(f"profile {profile}")

    def where(self) -> str:
        return f"{self.credentials_path} or {self.config_path}"


def _path(value: str | None, name: str) -> Path:
    return Path(value).expanduser() if value else Path("~", ".aws", name).expanduser()


_parsed: dict[Path, tuple[tuple[int, int, int], dict[str, dict[str, str]]]] = {}


def _read_ini(path: Path) -> dict[str, dict[str, str]]:
    """The sections of an AWS ini file (``{}`` when there is none); cached until the file changes."""
    try:
        stat = path.stat()
    except OSError:
        return {}
    stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    cached = _parsed.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    parser = configparser.RawConfigParser()
    try:
        text = path.read_text(encoding="utf-8")
        parser.read_string(text, source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        # The parser's message may quote a line of the file, and the line may hold a key.
        reason = type(exc).__name__
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if isinstance(line, int) else ""
        raise _FileError(f"cannot read the AWS file {path}: {reason}{where}") from None
    sections = {name: {k.strip(): v.strip() for k, v in parser.items(name)} for name in parser.sections()}
    _parsed[path] = (stamp, sections)
    return sections


class _FileError(Exception):
    pass


def _nonempty(value: str | None) -> str | None:
    value = value.strip() if value is not None else None
    return value or None


def _region(config: BedrockConfig, environ: Mapping[str, str], files: _Files, profile: str) -> str | None:
    region = config.region or _nonempty(environ.get("AWS_REGION")) or _nonempty(environ.get("AWS_DEFAULT_REGION"))
    source = "AWS_REGION / AWS_DEFAULT_REGION"
    if region is None:
        section = files.config(profile)
        region = _nonempty(section.get("region")) if section is not None else None
        source = f"profile {profile!r} of {files.config_path}"
    if region is not None and not REGION_RE.fullmatch(region):
        raise _Refused(f"the region {region[:40]!r} from {source} is not an AWS region such as 'us-east-1'")
    return region


class _Refused(Exception):
    pass


def _from_profile(name: str, files: _Files, *, explicit: bool) -> AwsCredentials | Literal["botocore"] | None:
    """Profile ``name``'s credentials in the files; ``"botocore"`` when only botocore can make them; else ``None``."""
    config = files.config(name) or {}
    shared = files.credentials(name) or {}
    if any(key in config for key in _BEFORE_FILE_KEYS) or any(key in shared for key in _BEFORE_FILE_KEYS):
        return "botocore"
    found = _keys(shared, f"profile {name!r} of {files.credentials_path}")
    if found is not None:
        return found
    if any(key in config for key in _AFTER_FILE_KEYS) or any(key in shared for key in _AFTER_FILE_KEYS):
        return "botocore"
    found = _keys(config, f"profile {name!r} of {files.config_path}")
    if found is not None:
        return found
    if explicit and not config and not shared:
        raise _Refused(f"the AWS profile {name!r} is not in {files.where()}")
    return None


def _keys(section: Mapping[str, str], source: str) -> AwsCredentials | None:
    key_id = _nonempty(section.get("aws_access_key_id"))
    secret = _nonempty(section.get("aws_secret_access_key"))
    if key_id is None and secret is None:
        return None
    if key_id is None or secret is None:
        missing = "aws_secret_access_key" if secret is None else "aws_access_key_id"
        raise _Refused(f"{source} has no {missing}")
    token = _nonempty(section.get("aws_session_token")) or _nonempty(section.get("aws_security_token"))
    return AwsCredentials(
        access_key_id=key_id,
        secret_access_key=Secret(secret),
        session_token=Secret(token) if token else None,
        source=source,
    )


def _from_environment(environ: Mapping[str, str]) -> AwsCredentials | None:
    key_id = _nonempty(environ.get("AWS_ACCESS_KEY_ID"))
    secret = _nonempty(environ.get("AWS_SECRET_ACCESS_KEY"))
    if key_id is None and secret is None:
        return None
    if key_id is None or secret is None:
        have, missing = (
            ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
            if key_id is None
            else ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        )
        raise _Refused(f"{have} is set but {missing} is not")
    token = _nonempty(environ.get("AWS_SESSION_TOKEN")) or _nonempty(environ.get("AWS_SECURITY_TOKEN"))
    return AwsCredentials(
        access_key_id=key_id,
        secret_access_key=Secret(secret),
        session_token=Secret(token) if token else None,
        source="the environment (AWS_ACCESS_KEY_ID)",
    )


_sessions: dict[str | None, object] = {}


def _from_botocore(profile: str | None) -> AwsCredentials | None:
    """botocore's whole credential chain for ``profile`` (``None``: its own choice). Blocking: run in a thread.

    Raises :class:`ImportError` without botocore, :class:`_Refused` when
    botocore fails to make the credentials; ``None`` when it finds none.
    """
    import botocore.exceptions  # type: ignore[import-untyped]
    import botocore.session  # type: ignore[import-untyped]

    session = _sessions.get(profile)
    if session is None:
        session = _sessions[profile] = botocore.session.Session(profile=profile)
    assert isinstance(session, botocore.session.Session)
    try:
        found = session.get_credentials()
        frozen_credentials = found.get_frozen_credentials() if found is not None else None
    except botocore.exceptions.BotoCoreError as exc:
        _sessions.pop(profile, None)  # a fixed file or a new login is read on the next call
        raise _Refused(f"botocore could not get the AWS credentials: {exc}") from None
    if found is None or frozen_credentials is None or not frozen_credentials.access_key:
        return None
    token = frozen_credentials.token
    return AwsCredentials(
        access_key_id=frozen_credentials.access_key,
        secret_access_key=Secret(frozen_credentials.secret_key),
        session_token=Secret(token) if token else None,
        source=f"botocore ({getattr(found, 'method', 'its chain')})",
    )


async def resolve_access(config: BedrockConfig, environ: Mapping[str, str] | None = None) -> Access:
    """How a call to ``config``'s provider authenticates; see the module docstring for the order.

    Raises :class:`~clawdesk.AuthFailed` naming what is missing, what was
    looked at and, for the sources only botocore handles, what to install.
    """
    env = os.environ if environ is None else environ
    provider = config.name or "bedrock"
    try:
        return await _resolve(config, env)
    except _Refused as exc:
        raise AuthFailed(str(exc), provider=provider) from None
    except _FileError as exc:
        raise AuthFailed(str(exc), provider=provider) from None


async def _resolve(config: BedrockConfig, env: Mapping[str, str]) -> Access:
    files = _Files(env)
    explicit_profile = config.profile
    profile = explicit_profile or _nonempty(env.get("AWS_PROFILE")) or _nonempty(env.get("AWS_DEFAULT_PROFILE"))
    profile_name = profile or "default"
    region = _region(config, env, files, profile_name)
    table = f"providers.{config.name or 'bedrock'}"

    def sigv4(credentials: AwsCredentials) -> Access:
        return Access(kind="sigv4", region=region, credentials=credentials, source=credentials.source)

    if config.auth != "bearer":
        if config.access_key_id and config.secret_access_key is not None:
            return sigv4(
                AwsCredentials(
                    access_key_id=config.access_key_id,
                    secret_access_key=config.secret_access_key,
                    session_token=config.session_token,
                    source=f"{table}.access_key_id",
                )
            )
        if explicit_profile:
            what = f"profile {explicit_profile!r}"
            found = _from_profile(explicit_profile, files, explicit=True)
            if found is None:
                # Botocore may still find some (container or instance credentials).
                nothing = f"the AWS {what} has no credentials in {files.where()}"
                return sigv4(await _botocore(explicit_profile, None, nothing=nothing))
            return sigv4(found if found != "botocore" else await _botocore(explicit_profile, what))
    if config.auth != "sigv4":
        token = config.api_key if config.api_key else None
        source = f"{table}.api_key"
        if token is None:
            value = _nonempty(env.get(BEARER_ENV))
            token, source = (Secret(value), BEARER_ENV) if value else (None, source)
        if token is not None:
            return Access(kind="bearer", region=region, token=token, source=source)
        if config.auth == "bearer":
            raise _Refused(f"auth = 'bearer' needs a Bedrock API key: set {BEARER_ENV} or {table}.api_key")
    from_env = _from_environment(env)
    if from_env is not None:
        return sigv4(from_env)
    if any(_nonempty(env.get(name)) for name in _MACHINE_ENV):
        return sigv4(await _botocore(None, "the environment (web identity or container credentials)"))
    found = _from_profile(profile_name, files, explicit=profile is not None)
    if found == "botocore":
        return sigv4(await _botocore(None, f"profile {profile_name!r}"))
    if found is not None:
        return sigv4(found)
    return sigv4(await _botocore(None, None, nothing=_nothing_found(files, table)))


async def _botocore(profile: str | None, what: str | None, *, nothing: str = "") -> AwsCredentials:
    """Credentials from botocore's chain.

    ``what`` names the source that needs botocore; ``None`` means nothing was
    found without it, and ``nothing`` is then the refusal (with the install
    hint when botocore is missing too).
    """
    try:
        importlib.import_module("botocore.session")  # only: is it there?
    except ImportError:
        if what is not None:
            raise _Refused(f"the AWS credentials of {what} need botocore: {INSTALL_HINT}") from None
        raise _Refused(
            f"{nothing}; for SSO, roles, credential_process, container or instance credentials: {INSTALL_HINT}"
        ) from None
    import anyio.to_thread

    found = await anyio.to_thread.run_sync(_from_botocore, profile)
    if found is None:
        raise _Refused(f"{nothing or 'no AWS credentials'} (botocore's chain found none either)")
    return found


def _nothing_found(files: _Files, table: str) -> str:
    return (
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_PROFILE, "
        f"{BEARER_ENV}, or access keys in {table}; looked at {table}, {BEARER_ENV}, "
        f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and {files.where()}"
    )
