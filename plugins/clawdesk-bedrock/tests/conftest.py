"""A scripted Bedrock for the tests: it checks every request's signature and body, and streams real frames.

- Every test runs with the AWS variables of the machine removed, the AWS files
  pointed at paths that do not exist and instance metadata turned off, so no
  test reads the developer's credentials or reaches for an AWS address.
- :class:`FakeBedrock` answers from a script like
  :class:`~clawdesk.testing.ScriptedServer` (which it drives), but first checks
  each request's auth as AWS would: a bearer token it knows, or a SigV4
  signature it recomputes with botocore's signer (a test-only oracle) from the
  key it knows for the access key id, refusing with AWS's own 403 error
  shapes. Converse bodies are validated against the service model's
  ``ConverseRequest`` (the committed fixture); a test fails at teardown if one
  broke it.
- The frame helpers build ``application/vnd.amazon.eventstream`` messages with
  the toolkit's encoder, padding each payload with ``"p"`` as Bedrock does, and
  validate each payload against its event's shape first.
"""

from __future__ import annotations

import calendar
import json
import re
import time
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import jsonschema
import pytest

import clawdesk
import clawdesk_bedrock._plugin
from clawdesk import Registry
from clawdesk.provider import encode_event_stream_message
from clawdesk.testing import RecordedRequest, Reply, ScriptedServer

REGION = "us-west-2"
KEY_ID = "AKIACLAWDESKTEST0001"
SECRET = "clawdesk/Test+Secret-Key-0123456789abcdefXYZ"
TOKEN = "IQoJb3JpZ2luX2VjClawdeskTestSessionToken0123456789=="
BEARER = "ABSKQmVkcm9ja0FQSUtleS1jbGF3ZGVzay10ZXN0LTAxMjM0NQ=="
REQUEST_ID = "0c1f5a2e-8d4b-4f0e-9a7c-2b3d4e5f6a7b"
EVENTSTREAM = "application/vnd.amazon.eventstream"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
USAGE = {"inputTokens": 12, "outputTokens": 5, "totalTokens": 17}
FIXTURES = Path(__file__).parent / "fixtures"
_SCHEMAS = json.loads((FIXTURES / "bedrock_schemas.json").read_text(encoding="utf-8"))
_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_AUTH_SCHEME_PREFERENCE",
)


def _validator(part: str, root: str) -> jsonschema.protocols.Validator:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": _SCHEMAS[part]["defs"]}
    schema["$ref"] = f"#/$defs/{root}"
    return jsonschema.Draft202012Validator(schema)


VALIDATORS = {root: _validator("runtime", root) for root in _SCHEMAS["runtime"]["roots"]}
VALIDATORS.update({root: _validator("control", root) for root in _SCHEMAS["control"]["roots"]})
_EVENT_SHAPES = {
    "messageStart": "MessageStartEvent",
    "contentBlockStart": "ContentBlockStartEvent",
    "contentBlockDelta": "ContentBlockDeltaEvent",
    "contentBlockStop": "ContentBlockStopEvent",
    "messageStop": "MessageStopEvent",
    "metadata": "ConverseStreamMetadataEvent",
    "internalServerException": "InternalServerException",
    "modelStreamErrorException": "ModelStreamErrorException",
    "validationException": "ValidationException",
    "throttlingException": "ThrottlingException",
    "serviceUnavailableException": "ServiceUnavailableException",
}


def schema_errors(root: str, data: Any) -> list[str]:
    """Where ``data`` breaks the service model's shape ``root`` (empty: it conforms)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATORS[root].iter_errors(data)]


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS variable of the machine, AWS files that do not exist, no instance metadata: each test sets its own."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-absent"))
    # botocore's chain would otherwise ask 169.254.169.254 for instance credentials.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def _aws_error(status: int, code: str, message: str, *, key: str = "message") -> Reply:
    return Reply.json(
        {key: message},
        status=status,
        headers=(
            ("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/com.amazon.coral.service/"),
            ("x-amzn-RequestId", REQUEST_ID),
        ),
    )


_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)


class FakeBedrock:
    """Bedrock's front door over a :class:`ScriptedServer`: auth first, then the scripted reply.

    ``keys`` maps access key ids to ``(secret, session token or None)``;
    ``bearers`` are the API keys it accepts; ``skew`` moves its clock (seconds)
    to make signatures expire. ``accepted`` lists how each request that got
    through was authenticated (``"sigv4:<key id>"`` or ``"bearer"``).
    """

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.region = REGION
        self.keys: dict[str, tuple[str, str | None]] = {KEY_ID: (SECRET, TOKEN)}
        self.bearers = {BEARER}
        self.skew = 0.0
        self.accepted: list[str] = []
        self.problems: list[str] = []

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    def answer(self, reply: Reply) -> Callable[[RecordedRequest], Reply]:
        def handle(request: RecordedRequest) -> Reply:
            refused = self.check(request)
            if refused is not None:
                return refused
            self.validate(request)
            return reply

        return handle

    def add(self, *replies: Reply) -> None:
        self.server.add(*(self.answer(r) for r in replies))

    def route(self, method: str, path: str, reply: Reply) -> None:
        self.server.route(method, path, self.answer(reply))

    def validate(self, request: RecordedRequest) -> None:
        path = request.path.split("?")[0]
        root = "ConverseStreamRequest" if path.endswith("/converse-stream") else "ConverseRequest"
        if request.method == "POST" and path.startswith("/model/"):
            self.problems += [f"{path}: {p}" for p in schema_errors(root, request.json())]

    def check(self, request: RecordedRequest) -> Reply | None:
        """``None`` when the request's auth holds, else AWS's 403 for what is wrong."""
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            if auth[7:] in self.bearers:
                self.accepted.append("bearer")
                return None
            return _aws_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        match = _AUTH.fullmatch(auth)
        if match is None:
            return _aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        key = match["key"]
        if key not in self.keys:
            return _aws_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        secret, token = self.keys[key]
        names = match["signed"].split(";")
        problem = self._scope_problem(request, match, names, token)
        if problem is not None:
            code = "ExpiredTokenException" if "token" in problem else "InvalidSignatureException"
            return _aws_error(403, code, problem)
        # botocore's signer recomputes the signature from the headers the request says it signed.
        aws = botocore.awsrequest.AWSRequest(
            method=request.method,
            url=f"http://{request.headers['host']}{request.path}",
            headers={name: request.headers[name] for name in names},
            data=request.body,
        )
        aws.context["timestamp"] = request.headers["x-amz-date"]
        signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret, token), "bedrock", self.region)
        if signer.signed_headers(signer.headers_to_sign(aws)) != match["signed"]:
            return _aws_error(403, "InvalidSignatureException", "SignedHeaders does not list the headers signed")
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        if expected != match["signature"]:
            return _aws_error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            )
        self.accepted.append(f"sigv4:{key}")
        return None

    def _scope_problem(
        self, request: RecordedRequest, match: re.Match[str], names: list[str], token: str | None
    ) -> str | None:
        if match["service"] != "bedrock":
            return f"Credential should be scoped to correct service: 'bedrock'. (got {match['service']!r})"
        if match["region"] != self.region:
            return f"Credential should be scoped to a valid region, not '{match['region']}'."
        if not {"host", "x-amz-date"} <= set(names):
            return "host and x-amz-date must be signed"
        amz_date = request.headers.get("x-amz-date", "")
        if amz_date[:8] != match["date"]:
            return "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        now = time.time() + self.skew
        if abs(now - signed_at) > 300:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            return f"Signature expired: {amz_date} is now earlier than {stamp} (5 min.)"
        if token is not None and (
            "x-amz-security-token" not in names or request.headers.get("x-amz-security-token") != token
        ):
            return "The security token included in the request is invalid (session token missing or wrong)"
        return None


@pytest.fixture
def fake() -> Iterator[FakeBedrock]:
    """A scripted Bedrock on 127.0.0.1; at teardown every Converse body it accepted must match the service model."""
    with ScriptedServer() as server:
        bedrock = FakeBedrock(server)
        yield bedrock
    assert not bedrock.problems, f"request bodies break ConverseRequest: {bedrock.problems}"


# -- frames and answers ----------------------------------------------------------------

_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"


def frame(kind: str, payload: Mapping[str, Any], *, pad: int | None = None) -> bytes:
    """One ConverseStream event, validated against its shape, with Bedrock's random ``"p"`` padding."""
    errors = schema_errors(_EVENT_SHAPES[kind], dict(payload))
    assert not errors, f"scripted {kind} breaks the service model: {errors}"
    body = dict(payload)
    body["p"] = _PAD[: (len(json.dumps(payload)) * 7) % len(_PAD) + 1] if pad is None else _PAD[:pad]
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_event_stream_message(headers, json.dumps(body).encode())


def exception_frame(kind: str, message: str, **extra: Any) -> bytes:
    """An in-stream exception (``:message-type: exception``) as Bedrock sends it."""
    payload = {"message": message, **extra}
    errors = schema_errors(_EVENT_SHAPES[kind], payload)
    assert not errors, f"scripted {kind} breaks the service model: {errors}"
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return encode_event_stream_message(headers, json.dumps(payload).encode())


def text_frames(
    *texts: str, stop: str = "end_turn", usage: Mapping[str, int] | None = USAGE, start: bool = True
) -> list[bytes]:
    """The frames of a streamed text answer: start, one delta per text, block stop, message stop, metadata."""
    frames = [frame("messageStart", {"role": "assistant"})] if start else []
    frames += [frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}}) for t in texts]
    frames.append(frame("contentBlockStop", {"contentBlockIndex": 0}))
    frames.append(frame("messageStop", {"stopReason": stop}))
    if usage is not None:
        frames.append(frame("metadata", {"usage": dict(usage), "metrics": {"latencyMs": 321}}))
    return frames


def tool_frames(call_id: str, name: str, pieces: list[str], *, index: int = 0) -> list[bytes]:
    """A tool-use block: its start with id and name, its input in ``pieces``, its stop."""
    frames = [
        frame(
            "contentBlockStart",
            {"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": call_id, "name": name}}},
        )
    ]
    frames += [
        frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": p}}}) for p in pieces
    ]
    frames.append(frame("contentBlockStop", {"contentBlockIndex": index}))
    return frames


def stream_reply(frames: list[bytes], **kw: Any) -> Reply:
    """A ConverseStream answer: the frames as chunks of an event-stream body."""
    return Reply.stream(frames, content_type=EVENTSTREAM, headers=(("x-amzn-RequestId", REQUEST_ID),), **kw)


def answer(
    content: list[dict[str, Any]] | None = None,
    *,
    stop: str = "end_turn",
    usage: Mapping[str, int] = USAGE,
    **extra: Any,
) -> dict[str, Any]:
    """A Converse answer, validated against ``ConverseResponse``."""
    data = {
        "output": {
            "message": {"role": "assistant", "content": content if content is not None else [{"text": "Hello!"}]}
        },
        "stopReason": stop,
        "usage": dict(usage),
        "metrics": {"latencyMs": 420},
        **extra,
    }
    errors = schema_errors("ConverseResponse", data)
    assert not errors, f"scripted answer breaks the service model: {errors}"
    return data


def answer_reply(data: Mapping[str, Any]) -> Reply:
    return Reply.json(data, headers=(("x-amzn-RequestId", REQUEST_ID),))


def config_text(base_url: str, **extra: Any) -> str:
    lines = ["[providers.bedrock]", f'base_url = "{base_url}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_client(fake: FakeBedrock) -> Callable[..., clawdesk.Clawdesk]:
    """A Clawdesk whose only provider is this plugin, at the fake; keywords become ``[providers.bedrock]`` keys."""

    def make(**table: Any) -> clawdesk.Clawdesk:
        registry = Registry(discover=False)
        registry.register(clawdesk_bedrock._plugin)
        config = clawdesk.parse_config(config_text(table.pop("base_url", fake.url), **table))
        return clawdesk.Clawdesk(registry=registry, config=config)

    return make


@pytest.fixture
def env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Temporary credentials and the region in the environment, as after ``aws configure export-credentials``."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture(scope="session")
def helpers() -> Any:
    """This module's helpers for the test files (importlib mode cannot import conftest)."""
    return types.SimpleNamespace(
        REGION=REGION,
        KEY_ID=KEY_ID,
        SECRET=SECRET,
        TOKEN=TOKEN,
        BEARER=BEARER,
        REQUEST_ID=REQUEST_ID,
        EVENTSTREAM=EVENTSTREAM,
        MODEL=MODEL,
        USAGE=USAGE,
        schema_errors=schema_errors,
        aws_error=_aws_error,
        frame=frame,
        exception_frame=exception_frame,
        text_frames=text_frames,
        tool_frames=tool_frames,
        stream_reply=stream_reply,
        answer=answer,
        answer_reply=answer_reply,
        config_text=config_text,
    )
