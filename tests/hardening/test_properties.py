"""Properties of the hardening's parsers: key cleaning, proxy settings and redaction, over any input."""

from __future__ import annotations

import string
import sys

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clawdesk import ConfigError, Secret
from clawdesk._provider_config import clean_key
from clawdesk._wire._proxy import check_proxies, shown_proxy
from clawdesk.provider import short_text

fakedist = sys.modules["clawdesk_tests_fakedist"]
SCRUB = fakedist.scrub_list_restored

_KEY_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


@given(st.text(max_size=40))
def test_clean_key_gives_a_sendable_key_or_a_value_error(text: str) -> None:
    """Any key text is either stripped to printable ASCII without blanks, or refused without showing it."""
    with SCRUB():
        refused: ValueError | None = None
        try:
            cleaned = clean_key(Secret(text)).reveal()
        except ValueError as exc:
            refused = exc
        if refused is not None:
            assert text.strip() not in str(refused) or len(text.strip()) < 3
            return
        assert cleaned == text.strip()
        assert all(0x21 <= ord(c) <= 0x7E for c in cleaned)


@given(
    st.sampled_from(["HTTP_PROXY", "https_proxy", "ALL_PROXY"]),
    st.text(string.printable + "éü\x00\x1b", max_size=40),
    st.text(string.ascii_letters + string.digits, min_size=8, max_size=16),
)
def test_any_proxy_setting_is_accepted_or_a_config_error_without_its_password(
    variable: str, text: str, password: str
) -> None:
    """Whatever a proxy variable holds (with a password in it), checking it raises nothing but ConfigError."""
    assume(password not in text)
    value = f"http://user:{password}@{text}" if "@" not in text else text
    refused: ConfigError | None = None
    try:
        check_proxies({variable: value})
    except ConfigError as exc:
        refused = exc
    if refused is not None:
        assert variable in str(refused)
        assert password not in str(refused)
    assert password not in shown_proxy(value)


@given(
    st.text(_KEY_CHARS, min_size=6, max_size=40),
    st.text(max_size=400),
    st.text(max_size=50),
    st.integers(min_value=10, max_value=400),
)
def test_short_text_never_leaves_a_head_of_a_key(key: str, before: str, after: str, limit: int) -> None:
    """Wherever a known key sits in a text and wherever the cut falls, no 6-character head of it is left."""
    with SCRUB():
        Secret(key)
        shown = short_text(before + key + after, limit)
        if key[:6] in shown:
            # Only where the text around the key spells it by itself.
            assert key[:6] in " ".join((before + "\x00" + after).split()), shown
        assert len(shown) <= limit


@pytest.mark.parametrize("value", ["socks5://u:p@h:1", "ftp://h", "http://[::1", "http://h:0"])
def test_shown_proxy_masks_user_info(value: str) -> None:
    """A proxy URL is shown without its user info, whatever else is wrong with it."""
    assert ":p@" not in shown_proxy(value)
