"""The SigV4 signer against AWS's published test suite and against botocore's signer (a test-only oracle)."""

from __future__ import annotations

import calendar
import datetime
import hashlib
import json
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import Secret
from clawdesk_bedrock._sigv4 import (
    AwsCredentials,
    SigV4Signer,
    canonical_headers,
    canonical_query,
    canonical_uri,
    sign,
)

SUITE = json.loads((Path(__file__).parent / "fixtures" / "sigv4_test_suite.json").read_text(encoding="utf-8"))
CONTEXT = SUITE["context"]
SUITE_TIME = calendar.timegm(datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.UTC).timetuple())


def _parse(text: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """``(method, target, headers, body)`` of a test-suite request file.

    In the suite's files an indented line is one more value of the header above
    it (its canonical form joins them with commas, like a repeated header).
    """
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rsplit(" ", 1)[0]  # the target may hold a space (get-space-normalized)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1].isspace() and headers:
            headers.append((headers[-1][0], line.strip()))
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return method, target, headers, body.encode()


@pytest.mark.parametrize("case", SUITE["cases"], ids=[c["name"] for c in SUITE["cases"]])
def test_aws_test_suite(case: dict[str, Any]) -> None:
    """Each case of AWS's SigV4 test suite gets exactly the Authorization header the suite expects."""
    assert hashlib.sha256(case["request"].encode()).hexdigest() == case["sha256"]
    method, target, headers, body = _parse(case["request"])
    expected = next(value for name, value in headers if name.lower() == "authorization")
    token = CONTEXT["session_token_of"].get(case["name"]) or next(
        (value for name, value in headers if name.lower() == "x-amz-security-token"), None
    )
    # The signer adds these three itself; everything else in the file was signed.
    given_headers = [
        (n, v) for n, v in headers if n.lower() not in ("authorization", "x-amz-date", "x-amz-security-token")
    ]
    path, _, query = target.partition("?")
    credentials = AwsCredentials(
        access_key_id=CONTEXT["access_key_id"],
        secret_access_key=Secret(CONTEXT["secret_access_key"]),
        session_token=Secret(token) if token else None,
    )
    added = sign(
        method=method,
        path=path,
        query=query,
        headers=given_headers,
        body=body,
        credentials=credentials,
        region=CONTEXT["region"],
        service=CONTEXT["service"],
        when=SUITE_TIME,
    )
    assert added["authorization"] == expected
    assert added["x-amz-date"] == "20150830T123600Z"


def test_suite_covers_the_tricky_rules() -> None:
    """The extracted suite holds the cases for normalisation, UTF-8, query order, header folding and tokens."""
    names = {c["name"] for c in SUITE["cases"]}
    assert {
        "get-utf8",
        "get-space-normalized",
        "get-slashes-normalized",
        "get-relative-relative-normalized",
        "get-vanilla-query-order-encoded",
        "get-vanilla-utf8-query",
        "get-header-value-multiline",
        "get-header-key-duplicate",
        "get-vanilla-with-session-token",
        "post-x-www-form-urlencoded",
    } <= names


def test_canonical_uri_encodes_an_encoded_path_again() -> None:
    """A model id's ``%3A`` (and an ARN's ``%2F``) are signed as ``%253A`` / ``%252F``: the non-S3 rule."""
    assert canonical_uri("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse") == (
        "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse"
    )
    assert canonical_uri("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/converse") == (
        "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A1%253Ainference-profile%252Fus.x/converse"
    )
    assert canonical_uri("") == "/"


def test_canonical_query_and_headers() -> None:
    """Queries are re-encoded (space as %20, never +) and sorted; header values are trimmed and folded."""
    assert canonical_query("b=2&a=x y&a=%41") == "a=A&a=x%20y&b=2"
    assert canonical_query("") == ""
    block, names = canonical_headers([("X-B", "  one   two "), ("Host", "h"), ("x-b", "three")])
    assert block == "host:h\nx-b:one two,three\n"
    assert names == "host;x-b"


def _botocore_authorization(
    request: httpx.Request, credentials: AwsCredentials, region: str, when: datetime.datetime
) -> str:
    """botocore's ``Authorization`` for the same request: same URL, headers signed, body, credentials and time."""
    signed = {n: v for n, v in request.headers.items() if n in ("content-type",)}
    aws = botocore.awsrequest.AWSRequest(
        method=request.method, url=str(request.url), headers=signed, data=request.content
    )
    token = credentials.session_token.reveal() if credentials.session_token is not None else None
    boto_credentials = botocore.credentials.Credentials(
        credentials.access_key_id, credentials.secret_access_key.reveal(), token
    )
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        botocore.auth.SigV4Auth(boto_credentials, "bedrock", region).add_auth(aws)
    return str(aws.headers["Authorization"])


_model_ids = st.one_of(
    st.sampled_from(
        [
            "anthropic.claude-3-haiku-20240307-v1:0",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "amazon.nova-pro-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-3-70b-instruct-v1:0",
            "arn:aws:bedrock:eu-west-1:123456789012:provisioned-model/abcdef123456",
        ]
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
        lambda s: s not in (".", "..")
    ),
)
_regions = st.from_regex(r"[a-z]{2}(-gov)?-(east|west|north|south|central|northeast|southeast)-[1-9]", fullmatch=True)
_tokens = st.one_of(st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=16, max_size=300))
_secrets = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=20, max_size=60)
_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_times = st.datetimes(
    min_value=datetime.datetime(2015, 1, 1), max_value=datetime.datetime(2035, 12, 31), timezones=st.just(datetime.UTC)
).map(lambda d: d.replace(microsecond=0))


@given(
    model=_model_ids,
    region=_regions,
    body=_bodies,
    token=_tokens,
    secret=_secrets,
    key_id=st.from_regex(r"(AKIA|ASIA)[A-Z0-9]{16}", fullmatch=True),
    when=_times,
    stream=st.booleans(),
    port=st.sampled_from([None, 443, 8443]),
)
def test_converse_requests_match_botocore(
    model: str,
    region: str,
    body: Any,
    token: str | None,
    secret: str,
    key_id: str,
    when: datetime.datetime,
    stream: bool,
    port: int | None,
) -> None:
    """A Converse request signed by our signer carries botocore's Authorization header, byte for byte."""
    host = f"bedrock-runtime.{region}.amazonaws.com" + (f":{port}" if port else "")
    operation = "converse-stream" if stream else "converse"
    url = f"https://{host}/model/{quote(model, safe='')}/{operation}"
    content = json.dumps({"messages": [{"role": "user", "content": [{"text": json.dumps(body)}]}]}).encode()
    # Built the way the wire toolkit builds it, client headers (user-agent, accept-encoding) included.
    with httpx.Client(headers={"user-agent": "clawdesk"}) as client:
        request = client.build_request(
            "POST", url, content=content, headers={"accept": "application/json", "content-type": "application/json"}
        )
    credentials = AwsCredentials(
        access_key_id=key_id, secret_access_key=Secret(secret), session_token=Secret(token) if token else None
    )
    SigV4Signer(credentials, region=region, clock=lambda: when.timestamp())(request)
    assert request.headers["authorization"] == _botocore_authorization(request, credentials, region, when)
    assert request.headers["x-amz-date"] == when.strftime("%Y%m%dT%H%M%SZ")
    if token:
        assert request.headers["x-amz-security-token"] == token
    else:
        assert "x-amz-security-token" not in request.headers


@given(region=_regions, when=_times, token=_tokens, cursor=st.one_of(st.none(), st.text(min_size=1, max_size=30)))
def test_control_plane_requests_match_botocore(
    region: str, when: datetime.datetime, token: str | None, cursor: str | None
) -> None:
    """A signed GET of the model listing (query string, no body) matches botocore too."""
    query = "maxResults=1000" + (f"&nextToken={quote(cursor, safe='-_.~')}" if cursor else "")
    with httpx.Client() as client:
        request = client.build_request("GET", f"https://bedrock.{region}.amazonaws.com/inference-profiles?{query}")
    credentials = AwsCredentials(
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key=Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        session_token=Secret(token) if token else None,
    )
    SigV4Signer(credentials, region=region, clock=lambda: when.timestamp())(request)
    assert request.headers["authorization"] == _botocore_authorization(request, credentials, region, when)


def test_signer_repr_and_errors_hide_secrets() -> None:
    """Neither the signer's nor the credentials' repr shows the key id, the secret key or the token."""
    credentials = AwsCredentials(
        access_key_id="AKIAREPRTEST00000000",
        secret_access_key=Secret("secret-for-repr-test-123456"),
        session_token=Secret("token-for-repr-test-123456"),
        source="test",
    )
    shown = repr(SigV4Signer(credentials, region="us-east-1")) + repr(credentials) + str(credentials)
    for secret in ("AKIAREPRTEST00000000", "secret-for-repr-test-123456", "token-for-repr-test-123456"):
        assert secret not in shown
    assert "temporary" in shown
