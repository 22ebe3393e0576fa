"""bgpctl's `show routes`: the request its arguments make, and the tables of its answers
(stale marks, a summary line per family, counts, what `--received` can and cannot show)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bgpd.control import bgpctl
from bgpd.control.protocol import Request
from bgpd.control.route_tables import render_counts, render_received, render_route_list
from bgpd.views import ReceivedView, RejectedPrefixView, RouteCountView, RouteView


def request(*argv: str) -> Request:
    return bgpctl._request(bgpctl._parser().parse_args(["show", "routes", *argv]))


def test_the_arguments_make_the_query() -> None:
    assert request("for", "10.1.2.3").args == {"prefix": None, "peer": None, "for": "10.1.2.3"}
    assert request("10.1.0.0/16", "--longer").args == {
        "prefix": "10.1.0.0/16",
        "peer": None,
        "longer": True,
    }
    got = request(
        "--peer", "n1", "--advertised", "--community", "1:2", "--community", "1:3",
        "--large-community", "1:2:3", "--as-path", "^65001 ", "--family", "ipv6", "--stale",
        "--best", "--count",
    ).args  # fmt: skip
    assert got == {
        "prefix": None,
        "peer": "n1",
        "advertised": True,
        "communities": ["1:2", "1:3"],
        "large_communities": ["1:2:3"],
        "as_path": "^65001 ",
        "family": "ipv6",
        "stale": True,
        "best": True,
        "count": True,
    }


def test_two_words_that_are_not_for_address_are_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        request("10.0.0.0/8", "10.1.0.0/16")
    assert exc.value.code == 2
    assert "one PREFIX or 'for ADDRESS'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bgpctl._parser().parse_args(["show", "routes", "--longer", "--shorter"])


def view(prefix: str, **more: Any) -> RouteView:
    return RouteView(prefix=prefix, peer="n1", **more)


def test_stale_paths_are_marked_and_a_summary_line_ends_each_family() -> None:
    out = render_route_list(
        [
            view("10.1.0.0/16", best=True),
            view("10.1.0.0/16", stale=True),
            view("10.2.0.0/16", best=True, stale=True, communities=("65535:6",)),
            view("2001:db8::/32", best=True),
        ]
    )
    lines = out.split("\n")
    assert lines[0].startswith("   PREFIX")
    assert lines[1].startswith("*  10.1.0.0/16")
    assert lines[2].startswith(" S 10.1.0.0/16")  # graceful restart stale
    assert lines[3].startswith("*L 10.2.0.0/16")  # long-lived stale (LLGR_STALE)
    assert lines[-2:] == ["ipv4-unicast: 2 prefixes, 3 paths", "ipv6-unicast: 1 prefix, 1 path"]
    assert render_route_list([]) == "No routes."


def test_counts_and_received_tables() -> None:
    counts = [RouteCountView(family="ipv4-unicast", prefixes=1000000, paths=1000002, best=1000000)]
    assert render_counts(counts).split("\n") == [
        "FAMILY        PREFIXES  PATHS    BEST",
        "ipv4-unicast  1000000   1000002  1000000",
    ]
    received = ReceivedView(
        peer="n1",
        accepted=(view("10.1.0.0/16", best=True),),
        rejected=(RejectedPrefixView(family="ipv4-unicast", prefix="10.9.0.0/16"),),
        note="bgpd keeps no Adj-RIB-In",
    )
    out = render_received(received)
    assert "Accepted from n1" in out and "*  10.1.0.0/16" in out
    assert "Refused from n1 (prefix only, attributes not kept):\n  10.9.0.0/16" in out
    assert out.endswith("Note: bgpd keeps no Adj-RIB-In")


def test_bgpctl_renders_each_answer_and_an_error_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    counts = [{"family": "ipv4-unicast", "prefixes": 2, "paths": 2, "best": 2}]
    replies = iter(
        [
            {"ok": True, "data": counts},
            {"ok": True, "data": ReceivedView(peer="n1", note="no Adj-RIB-In").to_json()},
            {"ok": False, "error": "no peer named 'x'"},
        ]
    )
    monkeypatch.setattr(bgpctl, "call", lambda _path, _request: next(replies))
    assert bgpctl.main(["show", "routes", "--count"]) == 0
    assert "ipv4-unicast  2" in capsys.readouterr().out
    assert bgpctl.main(["show", "routes", "--peer", "n1", "--received"]) == 0
    assert "Note: no Adj-RIB-In" in capsys.readouterr().out
    assert bgpctl.main(["--json", "show", "routes", "--peer", "x"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "bgpctl: no peer named 'x'\n"
    assert json.loads(captured.out) == {"error": "no peer named 'x'", "unreachable": False}
