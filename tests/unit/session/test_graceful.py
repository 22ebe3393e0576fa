"""The `graceful` flag of SessionDown (RFC 4724 §4.2, RFC 8538 §4)."""

from __future__ import annotations

import dataclasses

import pytest

from bgpd.net import IPV4_UNICAST
from bgpd.session import Session, SessionDown, SessionState
from bgpd.session.rules import graceful_down
from bgpd.wire.capabilities import GracefulRestart, GracefulRestartFamily
from bgpd.wire.constants import CeaseSubcode, ErrorCode
from bgpd.wire.messages import NotificationMessage
from bgpd.wire.negotiated import Negotiated
from tests.unit.session.session_harness import Network, mirror, pair, settings


def _down(name: str, net: Network) -> SessionDown:
    downs = [e for _, e in net.events[name] if isinstance(e, SessionDown)]
    assert len(downs) == 1, downs
    return downs[0]


def _up(a_gr: bool, b_gr: bool, n_bit: bool = False) -> tuple[Network, Session, Session]:
    a = settings(graceful_restart=a_gr, graceful_restart_notification=n_bit)
    b = mirror(a, passive=True, graceful_restart=b_gr, graceful_restart_notification=n_bit)
    net, pa, pb = pair(a, b)
    pa.start(net.now)
    pb.start(net.now)
    net.advance(1)
    assert pa.state is SessionState.ESTABLISHED
    return net, pa, pb


def test_connection_lost_with_graceful_restart_on_both_sides() -> None:
    net, _, _ = _up(a_gr=True, b_gr=True)
    net.drop_links()
    for name in ("A", "B"):
        down = _down(name, net)
        assert down.graceful and down.notification is None and not down.sent_by_us
        assert down.reason == "connection lost"


def test_graceful_only_toward_the_side_that_advertised_it() -> None:
    net, _, _ = _up(a_gr=True, b_gr=False)
    net.drop_links()
    assert not _down("A", net).graceful  # B did not advertise GR: A drops B's routes
    assert _down("B", net).graceful  # A did: B keeps A's routes as stale


def test_notification_ends_gr_without_the_n_bit() -> None:
    net, _, pb = _up(a_gr=True, b_gr=True)
    pb.stop(net.now)
    net.pump()
    assert not _down("A", net).graceful
    assert not _down("B", net).graceful


def test_with_the_n_bit_a_cease_is_graceful_but_hard_reset_is_not() -> None:
    net, _, pb = _up(a_gr=True, b_gr=True, n_bit=True)
    pb.stop(net.now)
    net.pump()
    assert _down("A", net).graceful

    net, _, pb = _up(a_gr=True, b_gr=True, n_bit=True)
    pb.stop(net.now, subcode=CeaseSubcode.HARD_RESET)
    net.pump()
    assert not _down("A", net).graceful


def _negotiated(peer_n: bool | None, local_n: bool | None) -> Negotiated:
    def gr(n: bool | None) -> GracefulRestart | None:
        if n is None:
            return None
        fam = (GracefulRestartFamily(family=IPV4_UNICAST, forwarding_preserved=True),)
        return GracefulRestart(restart_state=False, notification=n, restart_time=120, families=fam)

    return dataclasses.replace(
        Negotiated.default(64512, 64512),
        peer_graceful_restart=gr(peer_n),
        local_graceful_restart=gr(local_n),
    )


HOLD = NotificationMessage(code=ErrorCode.HOLD_TIMER_EXPIRED, subcode=0)
HARD = NotificationMessage(code=ErrorCode.CEASE, subcode=CeaseSubcode.HARD_RESET)


@pytest.mark.parametrize(
    ("peer_n", "local_n", "notification", "graceful"),
    [
        (None, True, None, False),  # peer without GR
        (False, None, None, True),  # TCP loss, peer GR: retain (we need not advertise GR)
        (False, False, HOLD, False),  # RFC 4724: a NOTIFICATION ends it hard
        (True, False, HOLD, False),  # N bit only on one side
        (True, None, HOLD, False),
        (True, True, HOLD, True),  # RFC 8538
        (True, True, HARD, False),
        (True, True, None, True),
    ],
)
def test_graceful_down_rule(
    peer_n: bool | None,
    local_n: bool | None,
    notification: NotificationMessage | None,
    graceful: bool,
) -> None:
    assert graceful_down(_negotiated(peer_n, local_n), notification) is graceful
