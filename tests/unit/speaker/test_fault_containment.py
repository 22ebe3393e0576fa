"""Issue 11.1, the general class: an exception while processing one session's input or output
ends only that session, with a Cease NOTIFICATION, an error line with the traceback naming the
peer, and the error wait; the other sessions (and the caller's loop) carry on.

The exceptions are forced with monkeypatch at the seams where a bug would surface: the import
of one peer's UPDATE, the encoding of one update group's attributes, the hand-over of bytes to
one member, the processing of one peer's timer.
"""

from __future__ import annotations

import logging

import pytest

from bgpd.net import Family, pack_prefix
from bgpd.outbound import adj_out
from bgpd.rib import Candidate, LocRib
from bgpd.session import SessionState
from bgpd.speaker import Speaker
from bgpd.wire.constants import ErrorCode

from .raw_peers import RawNet, update_bytes


class ForcedError(RuntimeError):
    pass


def full_mesh() -> RawNet:
    net = RawNet()
    for name in ("tor", "mesh", "ibgp", "ext"):
        net.connect(name)
    return net


def assert_ended_alone(
    net: RawNet, victims: set[str], caplog: pytest.LogCaptureFixture, during: str
) -> None:
    for name, peer in net.peers.items():
        if name in victims:
            assert net.state(name) is SessionState.IDLE, name
            assert peer.closed, name
            (notification,) = peer.notifications
            assert (notification.code, notification.subcode) == (ErrorCode.CEASE, 0)
            session = net.speaker.peer_session(name)
            assert session is not None and session.error_wait == 5.0  # the error wait
        else:
            assert net.state(name) is SessionState.ESTABLISHED, name
            assert not peer.closed and not peer.notifications, name
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert message.startswith("peer internal error") and f"during={during}" in message
    assert all(f"peer={v}" in message or f",{v}" in message for v in victims), message
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is ForcedError  # the traceback


def test_an_exception_importing_one_peers_update_ends_that_session_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    net = full_mesh()
    tor = net.peers["tor"]
    net.send("tor", update_bytes(tor, [pack_prefix("10.1.0.0/16")]))
    assert "10.1.0.0/16" in net.peers["mesh"].announced()
    original = LocRib.announce_many

    def announce_many(
        self: LocRib, family: Family, nlris: object, candidate: Candidate, *args: object
    ) -> int:
        if candidate.source.name == "tor":
            raise ForcedError("import failed")
        return original(self, family, nlris, candidate, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(LocRib, "announce_many", announce_many)
    with caplog.at_level(logging.INFO):
        net.send("tor", update_bytes(tor, [pack_prefix("10.2.0.0/16")]))  # raises nothing
    assert_ended_alone(net, {"tor"}, caplog, "input")
    # Its routes left with it: the others were told.
    assert net.peers["mesh"].announced() == set()
    # The others keep working.
    ext = net.peers["ext"]
    net.send("ext", update_bytes(ext, [pack_prefix("10.3.0.0/16")]))
    assert "10.3.0.0/16" in net.peers["mesh"].announced()
    # The error wait ends and the peer may come back (a new connection is taken).
    monkeypatch.setattr(LocRib, "announce_many", original)
    net.advance(6)
    net.connect("tor")
    assert "10.3.0.0/16" in net.peers["tor"].announced()


def test_an_exception_encoding_for_one_group_ends_that_group_not_the_sender(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """tor's UPDATE is exported to three groups; encoding for the iBGP one fails: ibgp ends,
    tor (whose input started it) and the other receivers stay up and get the route."""
    net = full_mesh()
    original = adj_out.encode_path_attributes

    def encode(attrs, ctx):  # type: ignore[no-untyped-def]
        if attrs.local_pref is not None:  # what only the iBGP group is sent
            raise ForcedError("encoder bug")
        return original(attrs, ctx)

    monkeypatch.setattr(adj_out, "encode_path_attributes", encode)
    tor = net.peers["tor"]
    with caplog.at_level(logging.INFO):
        net.send("tor", update_bytes(tor, [pack_prefix("10.1.0.0/16")]))
    assert_ended_alone(net, {"ibgp"}, caplog, "export")
    assert "10.1.0.0/16" in net.peers["mesh"].announced()
    assert "10.1.0.0/16" in net.peers["ext"].announced()


def test_an_exception_handing_bytes_to_one_member_ends_that_member_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """mesh shares its update group with tor, the sender: a failure delivering to mesh ends
    mesh alone (the group's state is what was sent, so tor keeps it)."""
    original = Speaker._deliver
    armed = False

    def deliver(self: Speaker, peer: str, *args: object, **kwargs: object) -> None:
        if armed and peer == "mesh":
            raise ForcedError("session refused the bytes")
        original(self, peer, *args, **kwargs)  # type: ignore[arg-type]

    # The exporter holds the bound method from the speaker's construction on.
    monkeypatch.setattr(Speaker, "_deliver", deliver)
    net = full_mesh()
    armed = True
    tor = net.peers["tor"]
    with caplog.at_level(logging.INFO):
        net.send("tor", update_bytes(tor, [pack_prefix("10.1.0.0/16")]))
    assert_ended_alone(net, {"mesh"}, caplog, "export")
    assert "10.1.0.0/16" in net.peers["ibgp"].announced()
    # tor, in the same group, still gets what the group sends: ext's route.
    ext = net.peers["ext"]
    net.send("ext", update_bytes(ext, [pack_prefix("10.3.0.0/16")]))
    assert "10.3.0.0/16" in net.peers["tor"].announced()


def test_an_exception_in_one_peers_timer_ends_that_session_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    net = full_mesh()
    session = net.speaker.peer_session("ext")
    assert session is not None
    original = type(session).handle_timer

    def handle_timer(self: object, now: float) -> None:
        if self is session:
            raise ForcedError("timer bug")
        original(self, now)  # type: ignore[arg-type]

    monkeypatch.setattr(type(session), "handle_timer", handle_timer)
    with caplog.at_level(logging.INFO):
        net.advance(60)  # keepalives are due on every session
    assert_ended_alone(net, {"ext"}, caplog, "input")


def test_a_repeated_fault_doubles_the_error_wait(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    net = full_mesh()

    def announce_many(self: LocRib, *args: object) -> int:
        raise ForcedError("import failed")

    monkeypatch.setattr(LocRib, "announce_many", announce_many)
    tor = net.peers["tor"]
    net.send("tor", update_bytes(tor, [pack_prefix("10.2.0.0/16")]))
    net.advance(6)
    tor = net.connect("tor")
    net.send("tor", update_bytes(tor, [pack_prefix("10.2.0.0/16")]))
    session = net.speaker.peer_session("tor")
    assert session is not None and session.error_wait == 10.0
    assert net.state("tor") is SessionState.IDLE
