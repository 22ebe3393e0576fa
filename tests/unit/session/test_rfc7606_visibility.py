"""RFC 7606 §8: every treat-as-withdraw, attribute discard and AFI/SAFI disable a session applies
is counted per peer and action and logged at warning (peer, attribute name and type code,
action, reason), rate-limited per peer. Issue 11 point 7: they used to pass silently.

One crafted UPDATE per attribute rule (the decoder's side is tests/unit/wire/
test_update_errors.py); here the session that receives it must say so."""

from __future__ import annotations

import logging
import random

import pytest

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.session import ConnectRequested, Session, SessionState
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol
from bgpd.wire.constants import MessageType
from tests.unit.session.session_harness import RawEnd, peer_open, settings
from tests.unit.wire.helpers import (
    AS_PATH_65001,
    BASE_V4,
    NEXT_HOP_10_0_0_1,
    NLRI_10_0_0_0_24,
    ORIGIN_IGP,
    message,
    update_body,
)

TAW = "treat-as-withdraw"
DISCARD = "attribute-discard"
DISABLE = "afi-safi-disable"
MP_REACH_BAD_NH = "90 0e 000a 0002 01 05 20010db800 00"  # IPv6 next hop length 5


def established(peer_asn: int = 64512) -> tuple[Session, RawEnd]:
    families = frozenset({IPV4_UNICAST, IPV6_UNICAST})
    peer = Session(settings(peer_asn=peer_asn, families=families), random.Random(1), name="P")
    peer.start(0.0)
    assert any(isinstance(a, ConnectRequested) for a in peer.take_actions())
    peer.connection_made(1, 0.0, outbound=True)
    end = RawEnd(peer, 1)
    end.read_open()
    caps = (
        Multiprotocol(family=IPV4_UNICAST),
        Multiprotocol(family=IPV6_UNICAST),
        FourOctetAs(asn=peer_asn),
    )
    end.send_open(peer_open(asn=peer_asn, caps=caps), 0.0)
    end.send_keepalive(0.0)
    assert peer.state is SessionState.ESTABLISHED
    end.read()
    peer.take_events()
    return peer, end


def send_update(
    end: RawEnd, attributes: str, nlri: str = NLRI_10_0_0_0_24, now: float = 0.0
) -> None:
    end.send(message(MessageType.UPDATE, update_body("", attributes, nlri)), now)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("update malformed")]


EBGP = 65001
CASES = [
    # (attributes, NLRI, peer AS, attribute name, type code, action)
    (ORIGIN_IGP.replace("00", "03") + AS_PATH_65001 + NEXT_HOP_10_0_0_1, "ORIGIN", 1, TAW),
    (ORIGIN_IGP + "40 02 06 02 01 00000000" + NEXT_HOP_10_0_0_1, "AS_PATH", 2, TAW),
    (ORIGIN_IGP + AS_PATH_65001 + "40 03 03 0a0000", "NEXT_HOP", 3, TAW),
    (BASE_V4 + "80 04 02 0005", "MED", 4, TAW),
    (BASE_V4 + "40 05 02 00c8", "LOCAL_PREF", 5, TAW),
    (BASE_V4 + "40 06 01 00", "ATOMIC_AGGREGATE", 6, DISCARD),
    (BASE_V4 + "c0 07 07 0000fde9 0a0000", "AGGREGATOR", 7, DISCARD),
    (BASE_V4 + "c0 08 05 0000000100", "COMMUNITIES", 8, TAW),
    (BASE_V4 + "80 09 03 0a0000", "ORIGINATOR_ID", 9, TAW),
    (BASE_V4 + "80 0a 06 0a0000090a00", "CLUSTER_LIST", 10, TAW),
    (BASE_V4 + "c0 11 06 02 01 0000fde9", "AS4_PATH", 17, DISCARD),
    (BASE_V4 + "c0 12 08 0000fde9 0a000009", "AS4_AGGREGATOR", 18, DISCARD),
    (BASE_V4 + "c0 20 00", "LARGE_COMMUNITY", 32, TAW),
    (MP_REACH_BAD_NH + BASE_V4, "MP_REACH_NLRI", 14, DISABLE),
    (ORIGIN_IGP + NEXT_HOP_10_0_0_1, "AS_PATH", 2, TAW),  # missing well-known (§3 d)
    (BASE_V4 + "80 04 04 00000005" + "80 04 04 00000009", "MED", 4, DISCARD),  # duplicate
    (BASE_V4 + "80 04 09 00000005", "attribute_list", 0, TAW),  # overruns the list (§4)
]
EBGP_CASES = [
    (BASE_V4 + "40 05 04 000000c8", "LOCAL_PREF", 5, DISCARD),
    (BASE_V4 + "80 09 04 0a000005", "ORIGINATOR_ID", 9, DISCARD),
    (BASE_V4 + "80 0a 04 0a000009", "CLUSTER_LIST", 10, DISCARD),
]


@pytest.mark.parametrize(
    ("attributes", "name", "type_code", "action", "peer_asn"),
    [(*c, 64512) for c in CASES] + [(*c, EBGP) for c in EBGP_CASES],
)
def test_each_action_is_counted_and_logged(
    attributes: str,
    name: str,
    type_code: int,
    action: str,
    peer_asn: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    peer, end = established(peer_asn)
    send_update(end, attributes)
    assert peer.state is SessionState.ESTABLISHED  # the softer actions keep the session
    counts = peer.counters.rfc7606_actions
    assert counts[action] == 1
    assert sum(counts.values()) == 1
    (line,) = warnings(caplog)
    for token in ("peer=P", f"attribute={name}", f"type={type_code}", f"action={action}"):
        assert token in line, line
    if action == DISABLE:
        assert "families=ipv6-unicast" in line
    last = peer.counters.last_input_problem
    assert last is not None and last[0].startswith(f"{action} of {name}:")


def test_a_clean_update_counts_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    peer, end = established()
    send_update(end, BASE_V4)
    assert set(peer.counters.rfc7606_actions.values()) == {0}
    assert warnings(caplog) == []


def test_every_update_counts_but_lines_are_rate_limited_per_action(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    peer, end = established()
    for _ in range(12):  # the same malformed attribute set, 12 UPDATEs
        send_update(end, BASE_V4 + "c0 08 05 0000000100")
    send_update(end, BASE_V4 + "40 06 01 00")  # another action has its own budget
    counts = peer.counters.rfc7606_actions
    assert counts[TAW] == 12 and counts[DISCARD] == 1
    lines = warnings(caplog)
    assert sum(f"action={TAW}" in line for line in lines) == 5
    assert sum(f"action={DISCARD}" in line for line in lines) == 1
    send_update(end, BASE_V4 + "c0 08 05 0000000100", now=61.0)  # a new window
    lines = warnings(caplog)
    assert sum(f"action={TAW}" in line for line in lines) == 6
    assert "suppressed=7" in lines[-1]
    assert counts[TAW] == 13


def test_counters_survive_a_new_session() -> None:
    peer, end = established()
    send_update(end, BASE_V4 + "40 06 01 00")
    counters = peer.counters
    peer.connection_lost(1, 1.0)
    assert peer.counters is counters and counters.rfc7606_actions[DISCARD] == 1
