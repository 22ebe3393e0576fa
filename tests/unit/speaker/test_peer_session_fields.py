"""A peer's own AS (`local_asn`, BIRD's `local as`), next hop mode and allowance of our AS
(`allow_local_as`, BIRD's `allow local as`) through the sans-IO speaker: crafted UPDATEs in,
what each raw peer is sent decoded back out, and reloads that change them."""

from __future__ import annotations

import ipaddress

from bgpd.config import diff_configs, parse_config
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, format_router_id, pack_prefix
from bgpd.session import SessionState
from bgpd.wire.attributes import PathAttributes
from bgpd.wire.codec import encode_update
from bgpd.wire.messages import NlriBatch, UpdateMessage
from tests.unit.speaker.raw_peers import (
    LOCAL_ASN,
    LOCAL_ID,
    PeerSpec,
    RawNet,
    RawPeer,
    as_path,
    speaker_config,
)

PREFIX = "10.1.0.0/24"
SRC_HOP = "10.0.0.2"

SRC = PeerSpec(name="src", address=SRC_HOP, asn=65001, extended_message=False)


def spec(name: str, last_octet: int, asn: int, extra: str = "") -> PeerSpec:
    return PeerSpec(
        name=name, address=f"10.0.0.{last_octet}", asn=asn, extended_message=False, extra=extra
    )


def announce(net: RawNet, name: str, path: tuple[int, ...], prefix: str = PREFIX) -> None:
    peer = net.peers[name]
    hop = ipaddress.ip_address(peer.spec.address).packed
    ibgp = peer.spec.asn == LOCAL_ASN
    attrs = PathAttributes(
        as_path=as_path(*path) if path else (),
        next_hop=hop,
        local_pref=100 if ibgp else None,
    )
    batch = NlriBatch(family=IPV4_UNICAST, prefixes=(pack_prefix(prefix),), next_hop=hop)
    update = UpdateMessage(attributes=attrs, announced=(batch,), withdrawn=())
    net.send(name, encode_update(update, peer.ctx()))


def received(peer: RawPeer, prefix: str = PREFIX) -> tuple[tuple[int, ...], str] | None:
    """(AS path, next hop) of the latest announcement of `prefix` to `peer`, None when it is
    not (or no longer) announced."""
    nlri = pack_prefix(prefix)
    found: tuple[tuple[int, ...], str] | None = None
    for update in peer.updates:
        if any(nlri in b.prefixes for b in update.withdrawn):
            found = None
        for batch in update.announced:
            if nlri in batch.prefixes and update.attributes is not None:
                hop = str(ipaddress.ip_address(batch.next_hop[:4]))
                found = (update.attributes.as_path_asns(), hop)
    return found


def in_rib(net: RawNet, peer: str, prefix: str = PREFIX) -> bool:
    return any(r.peer == peer for r in net.speaker.route_views(prefix))


def up(*specs: PeerSpec) -> RawNet:
    net = RawNet(peers=(SRC, *specs))
    for s in (SRC, *specs):
        net.connect(s.name)
    return net


# --- local_asn -----------------------------------------------------------------------------


def test_toward_ebgp_the_open_and_the_path_carry_the_local_as_alone() -> None:
    net = up(spec("out", 3, 65003, "local_asn = 4200000100"), spec("plain", 4, 65004))
    out, plain = net.peers["out"], net.peers["plain"]
    assert out.negotiated is not None and out.negotiated.peer_asn == 4_200_000_100
    assert plain.negotiated is not None and plain.negotiated.peer_asn == LOCAL_ASN
    announce(net, "src", (65001,))
    # BIRD's `local as`: only the session's AS is prepended, the node's 64512 is not
    assert received(out) == ((4_200_000_100, 65001), LOCAL_ID)
    assert received(plain) == ((LOCAL_ASN, 65001), LOCAL_ID)
    # bgpctl show peer(s) and its JSON say which AS each session speaks as
    views = {v.name: v for v in net.speaker.peer_views(net.now)}
    assert views["out"].local_asn == 4_200_000_100
    assert views["plain"].local_asn == LOCAL_ASN
    assert views["out"].to_json()["local_asn"] == 4_200_000_100


def test_a_local_as_equal_to_the_peers_makes_the_session_ibgp() -> None:
    net = up(spec("ib", 3, 65100, "local_asn = 65100"))
    ib = net.peers["ib"]
    assert ib.negotiated is not None and ib.negotiated.ibgp
    announce(net, "src", (65001,))
    # iBGP rules: nothing prepended, the eBGP next hop kept, LOCAL_PREF present
    assert received(ib) == ((65001,), SRC_HOP)
    (update,) = [u for u in ib.updates if u.announced]
    assert update.attributes is not None and update.attributes.local_pref == 100


def test_the_loop_check_looks_for_the_sessions_local_as_only() -> None:
    net = up(spec("las", 3, 65003, "local_asn = 65100"))
    announce(net, "las", (65003, LOCAL_ASN))  # the node's AS: accepted on this session (BIRD)
    assert in_rib(net, "las")
    announce(net, "las", (65003, 65100))  # the session's own AS: a loop, treat-as-withdraw
    assert not in_rib(net, "las")
    announce(net, "src", (65001, LOCAL_ASN))  # an ordinary session still checks the node's
    assert not in_rib(net, "src")


def test_update_groups_split_by_local_as() -> None:
    net = up(
        spec("e1", 3, 65003, "local_asn = 65100"),
        spec("e2", 4, 65004, "local_asn = 65100"),
        spec("e3", 5, 65005),
        spec("e4", 6, 65006, "local_asn = 65200"),
    )
    announce(net, "src", (65001,))
    # src+e3 (eBGP from the node's AS), e1+e2 (from AS 65100), e4 (from AS 65200)
    assert sorted(net.speaker.update_group_sizes()) == [1, 2, 2]
    paths = {n: received(net.peers[n]) for n in ("e1", "e2", "e3", "e4")}
    assert paths == {
        "e1": ((65100, 65001), LOCAL_ID),
        "e2": ((65100, 65001), LOCAL_ID),
        "e3": ((LOCAL_ASN, 65001), LOCAL_ID),
        "e4": ((65200, 65001), LOCAL_ID),
    }


# --- next_hop_mode -------------------------------------------------------------------------


def test_next_hop_under_each_mode_toward_ibgp_and_ebgp() -> None:
    net = up(
        spec("ib_auto", 3, LOCAL_ASN),
        spec("ib_self", 4, LOCAL_ASN, 'next_hop_mode = "self"'),
        spec("ib_old_self", 5, LOCAL_ASN, "next_hop_self = true"),
        spec("eb_auto", 6, 65006),
        spec("eb_keep", 7, 65007, 'next_hop_mode = "keep"'),
        spec("eb_self", 8, 65008, 'next_hop_mode = "self"'),
    )
    announce(net, "src", (65001,))
    hops = {n: received(p) for n, p in net.peers.items() if n != "src"}
    assert hops == {
        "ib_auto": ((65001,), SRC_HOP),
        "ib_self": ((65001,), LOCAL_ID),
        "ib_old_self": ((65001,), LOCAL_ID),
        "eb_auto": ((LOCAL_ASN, 65001), LOCAL_ID),
        "eb_keep": ((LOCAL_ASN, 65001), SRC_HOP),
        "eb_self": ((LOCAL_ASN, 65001), LOCAL_ID),
    }


def test_a_next_hop_mode_change_reexports_without_a_reset() -> None:
    net = up(spec("eb", 3, 65003))
    announce(net, "src", (65001,))
    assert received(net.peers["eb"]) == ((LOCAL_ASN, 65001), LOCAL_ID)
    reload(net, (SRC, spec("eb", 3, 65003, 'next_hop_mode = "keep"')))
    assert net.state("eb") is SessionState.ESTABLISHED and not net.peers["eb"].closed
    assert received(net.peers["eb"]) == ((LOCAL_ASN, 65001), SRC_HOP)


# --- allow_local_as --------------------------------------------------------------------------


def test_our_as_is_accepted_up_to_n_times_and_refused_at_n_plus_one() -> None:
    net = up(
        spec("two", 3, 65003, "allow_local_as = 2"),
        spec("las", 4, 65004, "local_asn = 65100\nallow_local_as = 1"),
    )
    announce(net, "two", (65003, LOCAL_ASN, LOCAL_ASN))
    assert in_rib(net, "two")
    announce(net, "two", (65003, LOCAL_ASN, LOCAL_ASN, LOCAL_ASN))
    assert not in_rib(net, "two")
    announce(net, "las", (65004, 65100))  # the allowance is of the session's own AS
    assert in_rib(net, "las")
    announce(net, "las", (65004, 65100, 65100))
    assert not in_rib(net, "las")
    announce(net, "src", (65001, LOCAL_ASN))  # another peer's allowance is its own
    assert not in_rib(net, "src")


def reload(net: RawNet, specs: tuple[PeerSpec, ...]) -> list[str]:
    new = parse_config(speaker_config(specs))
    actions = net.speaker.apply_config(new, diff_configs(net.speaker.config, new), net.now)
    net.flush()
    return actions


def test_an_allow_local_as_change_asks_the_peer_again_without_a_reset() -> None:
    net = up(spec("p", 3, 65003))
    p = net.peers["p"]
    announce(net, "p", (65003, LOCAL_ASN))
    assert not in_rib(net, "p")  # refused, and bgpd keeps no copy of it
    actions = reload(net, (SRC, spec("p", 3, 65003, "allow_local_as = 1")))
    assert "peer p policy re-applied" in actions
    # RFC 2918 soft reset inbound: a ROUTE-REFRESH, the session stays up
    assert {r.family for r in p.refresh_requests} == {IPV4_UNICAST, IPV6_UNICAST}
    assert net.state("p") is SessionState.ESTABLISHED and not p.closed and not p.notifications
    announce(net, "p", (65003, LOCAL_ASN))  # the peer answers with its table again
    assert in_rib(net, "p")
    # and back: what was accepted is judged again and dropped
    reload(net, (SRC, spec("p", 3, 65003)))
    assert len(p.refresh_requests) == 4
    announce(net, "p", (65003, LOCAL_ASN))
    assert not in_rib(net, "p")
    assert net.state("p") is SessionState.ESTABLISHED


def test_a_local_as_change_resets_that_peer_only() -> None:
    net = up(spec("a", 3, 65003), spec("b", 4, 65004))
    reload(net, (SRC, spec("a", 3, 65003, "local_asn = 65100"), spec("b", 4, 65004)))
    assert net.peers["a"].closed  # a new OPEN is needed: the session is reset
    assert not net.peers["b"].closed and not net.peers["src"].closed
    session = net.speaker.peer_session("a")
    assert session is not None and session.settings.local_asn == 65100


def test_router_id_is_unchanged_by_a_local_as() -> None:
    # the OPEN's BGP Identifier stays the node's (BIRD's `local as` changes the AS only)
    net = up(spec("out", 3, 65003, "local_asn = 65100"))
    session = net.speaker.peer_session("out")
    assert session is not None
    assert format_router_id(session.settings.router_id) == LOCAL_ID


def test_a_keepalive_change_reaches_the_running_session_without_a_reset() -> None:
    net = up(spec("p", 3, 65003))
    session = net.speaker.peer_session("p")
    assert session is not None and session.keepalive_interval == 30  # hold 90 / 3
    actions = reload(net, (SRC, spec("p", 3, 65003, "keepalive_time = 10")))
    assert "peer p timers updated" in actions
    assert session.keepalive_interval == 10
    assert net.speaker.peer_session("p") is session and not net.peers["p"].closed


def test_a_keepalive_change_beside_a_policy_change_is_taken_too() -> None:
    net = up(spec("p", 3, 65003))
    reload(net, (SRC, spec("p", 3, 65003, 'keepalive_time = 10\nnext_hop_mode = "keep"')))
    session = net.speaker.peer_session("p")
    assert session is not None and session.keepalive_interval == 10
    assert not net.peers["p"].closed
