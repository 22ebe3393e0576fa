"""Reload log lines come in the order things happened (issue 17, point 6): each action's line
right after the lines of its own effects, not a summary printed after everything."""

from __future__ import annotations

import logging

import pytest

from bgpd.logs import EventParser

from .harness import Net, config


def test_each_reload_action_is_logged_when_it_is_taken(caplog: pytest.LogCaptureFixture) -> None:
    net = Net()
    both = [("to_b", "127.0.0.2", 64512), ("to_c", "127.0.0.3", 64512)]
    net.add("a", "127.0.0.1", config(64512, "127.0.0.1", both))
    net.add("b", "127.0.0.2", config(64512, "127.0.0.2", [("to_a", "127.0.0.1", 64512)]))
    net.add("c", "127.0.0.3", config(64512, "127.0.0.3", [("to_a", "127.0.0.1", 64512)]))
    net.start()
    net.advance(10)
    caplog.clear()
    caplog.set_level(logging.INFO)
    only_c = config(64512, "127.0.0.1", [("to_c", "127.0.0.3", 64512)], statics="")
    only_c += '\n[[static]]\nprefix = "10.9.0.0/24"\n'
    actions = net.reload("a", only_c)
    assert actions == ["peer to_b removed", "static routes re-exported"]
    parser = EventParser()
    lines = [
        (parser.parse(r).event, parser.parse(r).fields)
        for r in caplog.records
        if r.name.startswith("bgpd.") and parser.parse(r).fields.get("peer") in (None, "to_b")
    ]
    events = [
        f"{event} {fields.get('action', '')}".strip()
        for event, fields in lines
        if event in ("peer down", "reload") or event.startswith("peer state")
    ]
    # the peer's own lines first, then the action that caused them, then the next action
    assert events.index("reload peer to_b removed") > events.index("peer down")
    assert events.index("reload static routes re-exported") > events.index(
        "reload peer to_b removed"
    )
