"""The daemon <-> BFD process messages (bgpd.runtime.bfd_messages): every message survives the
trip byte for byte, frames cut anywhere are put back together, and what is not a message of
this version is refused out loud."""

from __future__ import annotations

import json
import struct

import pytest

from bgpd.bfd import BfdPeer, BfdSettings, Diagnostic, PeerStateChanged, State, StateChanged
from bgpd.runtime.bfd_messages import (
    MAX_FRAME,
    VERSION,
    BfdMessageError,
    Changes,
    Closed,
    Configure,
    FrameReader,
    Hello,
    LogLine,
    Message,
    SessionStatus,
    Shutdown,
    Status,
    encode_message,
)

SETTINGS = BfdSettings(desired_min_tx_us=100_000, required_min_rx_us=300_000, detect_mult=3)
MESSAGES: list[Message] = [
    Configure(
        peers=(
            BfdPeer(name="a", address="10.0.0.1", multihop=False, settings=SETTINGS),
            BfdPeer(
                name="b", address="fd00::2", multihop=True, settings=SETTINGS, local_address="::1"
            ),
        ),
        log_level=20,
    ),
    Configure(peers=(), log_level=10),
    Shutdown(),
    Hello(pid=4242),
    Changes(
        changes=(
            PeerStateChanged(
                peer="a",
                change=StateChanged(
                    old=State.UP,
                    new=State.DOWN,
                    diag=Diagnostic.CONTROL_DETECTION_EXPIRED,
                    at=12.5,
                    failure=True,
                ),
            ),
        )
    ),
    Status(
        sessions=(
            SessionStatus(
                peer="a", address="10.0.0.1", state="Up", since=1.7e9, interval_s=0.1, timeout_s=0.3
            ),
        ),
        drops={"ttl": 3},
    ),
    LogLine(level=40, logger="bgpd.runtime.bfd_transport", msg="x port=%d why=%s", args=(1, "y")),
    Closed(),
]


def test_every_message_survives_the_trip() -> None:
    reader = FrameReader()
    assert reader.feed(b"".join(encode_message(m) for m in MESSAGES)) == MESSAGES


def test_frames_cut_anywhere_are_put_back_together() -> None:
    data = b"".join(encode_message(m) for m in MESSAGES)
    reader = FrameReader()
    out: list[Message] = []
    for i in range(len(data)):
        out += reader.feed(data[i : i + 1])
    assert out == MESSAGES


def frame(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return struct.pack("!I", len(body)) + body


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (frame({"v": VERSION + 1, "type": "hello", "pid": 1}), "protocol version 2, expected 1"),
        (frame({"type": "hello", "pid": 1}), "protocol version None"),
        (frame({"v": VERSION, "type": "reboot"}), "unknown message type 'reboot'"),
        (frame({"v": VERSION, "type": "hello"}), "malformed"),
        (frame({"v": VERSION, "type": "changes", "changes": [{"peer": "a"}]}), "malformed"),
        (frame([1, 2]), "a JSON object"),
        (struct.pack("!I", 3) + b"{{{", "malformed"),
        (struct.pack("!I", MAX_FRAME + 1), "at most"),
    ],
)
def test_what_is_no_message_of_this_version_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(BfdMessageError, match=reason):
        FrameReader().feed(data)


def test_a_bad_session_parameter_is_refused_as_the_core_refuses_it() -> None:
    peer = {"name": "a", "address": "10.0.0.1", "multihop": False, "local_address": None}
    peer |= {"min_tx_us": 0, "min_rx_us": 1, "multiplier": 3}
    with pytest.raises(BfdMessageError, match="desired_min_tx_us must be positive"):
        FrameReader().feed(
            frame({"v": VERSION, "type": "configure", "peers": [peer], "log_level": 20})
        )
