"""Random interleavings of every input a Session can get: nothing but documented errors escape, the
invariants hold after every step, and once the chaos stops the pair always comes back up."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bgpd.net import IPV4_UNICAST
from bgpd.session import (
    NotEstablishedError,
    Session,
    SessionDown,
    SessionError,
    SessionEstablished,
    SessionState,
    StateChanged,
)
from bgpd.wire.codec import encode_end_of_rib, encode_keepalive
from tests.unit.session.session_harness import Network, RawEnd, mirror, peer_open, settings

NAMES = ("A", "B")
who = st.sampled_from(NAMES)
operations = st.one_of(
    st.tuples(st.just("start"), who),
    st.tuples(st.just("stop"), who, st.text(max_size=300)),
    st.tuples(st.just("reset"), who),
    st.tuples(st.just("advance"), st.floats(min_value=0, max_value=400)),
    st.tuples(st.just("drop_links")),
    st.tuples(st.just("pause"), who),
    st.tuples(st.just("resume"), who),
    st.tuples(st.just("refuse_dials"), who),
    st.tuples(st.just("garbage"), who, st.integers(0, 3), st.binary(max_size=64)),
    st.tuples(st.just("truncate"), who, st.integers(0, 3), st.integers(1, 40)),
    st.tuples(st.just("lost"), who, st.integers(0, 3)),
    st.tuples(st.just("failed"), who, st.integers(0, 200)),
    st.tuples(st.just("send_update"), who),
    st.tuples(st.just("route_refresh"), who),
    st.tuples(st.just("stray"), who, st.booleans(), st.sampled_from(["10.0.0.2", "10.0.0.9"])),
)


class Checker:
    """Follows each peer's events and checks them against its state."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.seen = dict.fromkeys(NAMES, 0)
        self.state = dict.fromkeys(NAMES, SessionState.IDLE)
        self.up = dict.fromkeys(NAMES, False)

    def check(self) -> None:
        net = self.net
        for name in NAMES:
            peer = net.peer(name)
            for _, event in net.events[name][self.seen[name] :]:
                if isinstance(event, StateChanged):
                    assert event.old is self.state[name] and event.new is not event.old
                    self.state[name] = event.new
                elif isinstance(event, SessionEstablished):
                    assert not self.up[name]
                    self.up[name] = True
                elif isinstance(event, SessionDown):
                    assert self.up[name]
                    self.up[name] = False
            self.seen[name] = len(net.events[name])
            if name in net.paused:
                continue  # its events wait in the peer until it resumes
            assert self.state[name] is peer.state
            established = peer.state is SessionState.ESTABLISHED
            assert self.up[name] is established
            assert (peer.negotiated is not None) is established
            assert (peer.established_at is not None) is established
            states = list(peer.connection_states().values())
            assert states.count(SessionState.ESTABLISHED) == (1 if established else 0)
            assert len(states) <= 3
            if not states:
                assert peer.state in (
                    SessionState.IDLE,
                    SessionState.CONNECT,
                    SessionState.ACTIVE,
                )
            # Liveness: an enabled peer with nothing in progress always has a timer running.
            if peer.enabled and not states and not peer.settings.passive:
                assert peer.next_deadline() is not None
            deadline = peer.next_deadline()
            if deadline is not None:
                assert deadline > net.now - 400 - 1e-6  # never far behind the clock


def _conn(peer: Session, index: int) -> int | None:
    ids = sorted(peer.connection_states())
    return ids[index % len(ids)] if ids else None


@example(  # found by the search: a one-sided loss under hold time 0 (a half-open connection)
    ops=[("start", "A"), ("start", "B"), ("lost", "A", 0)],
    b_passive=False,
    a_gr=False,
    b_hold=0,
    seed=0,
)
@example(  # found by the search: overdue timers of a peer that was hung for 405 s
    ops=[("start", "A"), ("pause", "A"), ("advance", 5.0), ("advance", 400.0), ("resume", "A")],
    b_passive=False,
    a_gr=False,
    b_hold=0,
    seed=0,
)
@hsettings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    ops=st.lists(operations, max_size=40),
    b_passive=st.booleans(),
    a_gr=st.booleans(),
    b_hold=st.sampled_from([0, 3, 9, 90, 240]),
    seed=st.integers(0, 1000),
)
def test_random_event_sequences(
    ops: list[tuple[object, ...]], b_passive: bool, a_gr: bool, b_hold: int, seed: int
) -> None:
    a = settings(graceful_restart=a_gr)
    b = mirror(a, passive=b_passive, hold_time=b_hold)
    pa = Session(a, random.Random(seed), name="A")
    pb = Session(b, random.Random(seed + 1), name="B")
    net = Network(pa, pb)
    strays: list[tuple[Session, int]] = []
    checker = Checker(net)
    eor = encode_end_of_rib(IPV4_UNICAST)
    for op in ops:
        kind = op[0]
        peer = net.peer(op[1]) if len(op) > 1 and op[1] in NAMES else None
        if kind == "start":
            assert peer is not None
            peer.start(net.now)
        elif kind == "stop":
            assert peer is not None
            peer.stop(net.now, text=str(op[2]))
        elif kind == "reset":
            assert peer is not None
            peer.reset(net.now)
        elif kind == "advance":
            net.advance(float(op[1]))  # type: ignore[arg-type]
        elif kind == "drop_links":
            net.drop_links()
        elif kind == "pause":
            net.paused.add(str(op[1]))
        elif kind == "resume":
            net.resume(str(op[1]))
        elif kind == "refuse_dials":
            net.refuse_dials ^= {str(op[1])}
        elif kind in ("garbage", "truncate", "lost"):
            assert peer is not None
            conn_id = _conn(peer, int(op[2]))  # type: ignore[call-overload]
            if conn_id is not None and peer.name not in net.paused:
                if kind == "garbage":
                    peer.receive_data(conn_id, bytes(op[3]), net.now)  # type: ignore[call-overload]
                elif kind == "truncate":
                    peer.receive_data(conn_id, encode_keepalive()[: int(op[3])], net.now)  # type: ignore[call-overload]
                else:
                    peer.connection_lost(conn_id, net.now)
        elif kind == "failed":
            assert peer is not None
            peer.connection_failed(int(op[2]), net.now)  # type: ignore[call-overload]
        elif kind == "send_update":
            assert peer is not None
            if peer.state is SessionState.ESTABLISHED:
                peer.send_update_bytes(eor, net.now)
            else:
                try:
                    peer.send_update_bytes(eor, net.now)
                except NotEstablishedError:
                    pass
                else:
                    raise AssertionError("sending while not Established must raise")
        elif kind == "route_refresh":
            assert peer is not None
            negotiated = peer.negotiated
            if negotiated is not None and negotiated.route_refresh:
                peer.send_route_refresh(IPV4_UNICAST, net.now)
            elif negotiated is not None:
                with pytest.raises(SessionError, match="did not negotiate"):
                    peer.send_route_refresh(IPV4_UNICAST, net.now)
            else:
                try:
                    peer.send_route_refresh(IPV4_UNICAST, net.now)
                except NotEstablishedError:
                    pass
                else:
                    raise AssertionError("sending while not Established must raise")
        elif kind == "stray":
            # A connection from outside the simulated network claiming to be the neighbour.
            assert peer is not None
            if peer.name in net.paused:
                continue
            conn_id = 10_000 + len(net.wire) + int(net.now * 1000)
            if conn_id in peer.connection_states():
                continue
            peer.connection_made(conn_id, net.now, outbound=False)
            strays.append((peer, conn_id))
            if conn_id in peer.connection_states():
                end = RawEnd(peer, conn_id)
                other = peer.settings
                end.send_open(peer_open(asn=other.peer_asn or 1, router_id=str(op[3])), net.now)
                if op[2]:
                    end.send_keepalive(net.now)
        net.pump()
        checker.check()

    # The chaos ends: everything heals and the session comes back. Stray TCP connections go
    # away too: one that reached Established with hold time 0 (no liveness checks, RFC 4271
    # §4.2) would otherwise legitimately hold the real neighbour off forever (§6.8).
    for peer, conn_id in strays:
        if conn_id in peer.connection_states():
            peer.connection_lost(conn_id, net.now)
    net.resume()
    # A connection one end saw lost ("lost") can stay open at the other end. With hold time 0
    # nothing crosses it, so nothing would ever reset it (RFC 4271 §4.2: no liveness checks)
    # and the live end keeps rejecting the redials as collisions with an Established session
    # (§6.8). Healing networks reset half-open connections at the first segment: model that.
    net.reset_half_open()
    net.refuse_dials.clear()
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1500)
    checker.check()
    assert pa.state is SessionState.ESTABLISHED, (pa, pb)
    assert pb.state is SessionState.ESTABLISHED, (pa, pb)
