"""bgpd/text.py: the one rule for showing text from peers and datastores."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bgpd.text import (
    UNSAFE_CATEGORIES,
    ascii_digits,
    escape_controls,
    escape_controls_by_line,
    is_safe,
)

# Issue 11's RFC 8203 shutdown text: it forges a `show protocols` row and ends the reply early.
FORGING = "maintenance\n1002-Mesh_10_0_0_9 BGP master up 12:00:00 Established\n0000 "


def test_the_issues_shutdown_text_stays_one_line() -> None:
    assert escape_controls(FORGING) == (
        "maintenance\\n1002-Mesh_10_0_0_9 BGP master up 12:00:00 Established\\n0000 "
    )


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # clear the screen: C0 ESC
        ("a\rb\tc\x00d\x07", "a\\rb\\tc\\x00d\\x07"),
        ("del\x7f", "del\\x7f"),  # DEL
        ("c1\x85\x9b2J", "c1\\x85\\x9b2J"),  # NEL and CSI of C1
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line and paragraph separators
        ("evil\u202egnp.exe", "evil\\u202egnp.exe"),  # right-to-left override
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("tag\U000e0041", "tag\\U000e0041"),  # a format character beyond the BMP
        ("lone\udcff", "lone\\udcff"),  # a surrogate (undecodable byte, surrogateescape)
    ],
)
def test_controls_become_visible_escapes(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown
    assert not is_safe(raw) and is_safe(shown)


@pytest.mark.parametrize(
    "text", ["", "Mesh_10_0_0_9", "maintenance até 12h", "保守作業 🛠", "a\u00a0b", "back\\slash"]
)
def test_printable_text_is_kept_as_it_is(text: str) -> None:
    assert escape_controls(text) == text
    assert is_safe(text)


@given(st.text())
@example(FORGING)
@example("\x1b[2J")
def test_the_result_is_safe_and_escaping_twice_changes_nothing(text: str) -> None:
    once = escape_controls(text)
    assert all(unicodedata.category(c) not in UNSAFE_CATEGORIES for c in once)
    assert "\n" not in once and "\r" not in once and "\x1b" not in once
    assert escape_controls(once) == once
    assert is_safe(text) == (once == text)


def test_by_line_keeps_only_newlines() -> None:
    assert escape_controls_by_line("a\nb\x1b[2J\r\nc") == "a\nb\\x1b[2J\\r\nc"


@pytest.mark.parametrize(
    ("text", "digits"),
    [("24", True), ("0", True), ("", False), ("²", False), ("٣", False), ("2 4", False)],
)
def test_ascii_digits_only(text: str, digits: bool) -> None:
    assert ascii_digits(text) is digits
