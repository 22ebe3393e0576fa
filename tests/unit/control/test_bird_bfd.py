"""`show bfd sessions` on the BIRD-compatible socket: BIRD 2's grammar and layout
(proto/bfd/bfd.c bfd_show_sessions; the heading is checked against a real BIRD 2 in
tests/integration/test_bfd_interop.py)."""

from __future__ import annotations

import time

from bgpd.control.bird_protocol import ParseError, Reply, ShowBfdSessions, parse_command
from bgpd.control.bird_replies import BfdSessionRow, render_bfd_sessions


def test_the_grammar() -> None:
    assert parse_command("show bfd sessions", 4) == ShowBfdSessions()
    assert parse_command("show bfd sessions bfd1", 4) == ShowBfdSessions(name="bfd1")
    assert isinstance(parse_command("show bfd", 4), ParseError)
    assert isinstance(parse_command("show bfd sessions a b", 4), ParseError)


def test_the_layout_is_birds() -> None:
    now = time.mktime((2026, 12, 7, 15, 0, 0, 0, 0, -1))
    row = BfdSessionRow(
        address="10.0.0.2",
        interface="---",
        state="Up",
        since=now - 65,
        interval_s=0.1,
        timeout_s=0.3,
    )
    lines = render_bfd_sessions([row], ShowBfdSessions(), now)
    assert [(line.code, line.text) for line in lines] == [
        (Reply.BFD_SESSIONS, "bfd1:"),
        (
            Reply.BFD_SESSIONS,
            "IP address                Interface  State      Since         Interval  Timeout",
        ),
        (
            Reply.BFD_SESSIONS,
            "10.0.0.2                  ---        Up         14:58:55.000    0.100    0.300",
        ),
        (Reply.OK, ""),
    ]
    assert lines[-1].final


def test_no_sessions_and_unknown_names() -> None:
    assert render_bfd_sessions([], ShowBfdSessions(), 0.0)[0].code is Reply.NO_PROTOCOLS_MATCH
    other = render_bfd_sessions([], ShowBfdSessions(name="nope"), 0.0)
    assert other[0].code is Reply.INVALID_SYMBOL
