"""BFD Control packet codec (RFC 5880 §4.1) and the reception checks of §6.8.6."""

from __future__ import annotations

import pytest

from bgpd.bfd.packet import (
    BfdPacketError,
    ControlPacket,
    Diagnostic,
    State,
    decode_control,
    encode_control,
)

# Hand-assembled from RFC 5880 §4.1: version 1, diag 0; state Up (3<<6) with Poll; mult 3;
# length 24; my 0x11223344, your 0x55667788; tx 300 ms, rx 300 ms, echo 0.
GOLDEN = bytes.fromhex("20e003181122334455667788000493e0000493e000000000")


def test_golden_vector_decodes_and_encodes_back() -> None:
    packet = decode_control(GOLDEN)
    assert packet == ControlPacket(
        state=State.UP,
        poll=True,
        detect_mult=3,
        my_discr=0x11223344,
        your_discr=0x55667788,
        desired_min_tx_us=300_000,
        required_min_rx_us=300_000,
    )
    assert encode_control(packet) == GOLDEN


def test_every_field_round_trips() -> None:
    packet = ControlPacket(
        state=State.DOWN,
        diag=Diagnostic.CONTROL_DETECTION_EXPIRED,
        final=True,
        detect_mult=255,
        my_discr=0xFFFFFFFF,
        your_discr=0,
        desired_min_tx_us=1_000_000,
        required_min_rx_us=0,
        required_min_echo_rx_us=50_000,
        control_plane_independent=True,
        demand=True,
    )
    assert decode_control(encode_control(packet)) == packet


def _mutate(offset: int, value: int) -> bytes:
    data = bytearray(GOLDEN)
    data[offset] = value
    return bytes(data)


# the A bit, Length 26 and two bytes of an authentication section
AUTHENTICATED = _mutate(1, 0xC4)[:3] + bytes([26]) + GOLDEN[4:] + b"\x01\x02"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (GOLDEN[:23], "short"),
        (_mutate(0, 0x40), "version"),  # version 2
        (_mutate(3, 23), "length"),
        (_mutate(3, 25), "length"),  # longer than the payload
        (_mutate(2, 0), "detect_mult_zero"),
        (_mutate(1, 0xC1), "multipoint"),
        (GOLDEN[:4] + bytes(4) + GOLDEN[8:], "my_discriminator_zero"),
        (GOLDEN[:8] + bytes(4) + GOLDEN[12:], "your_discriminator_zero"),  # Up, yours 0
        (
            _mutate(1, 0xC4)[:3] + bytes([26]) + GOLDEN[4:] + b"\x01\x02",
            "authentication_not_configured",
        ),
        (_mutate(1, 0xF0), "poll_and_final"),
    ],
)
def test_invalid_packets_are_refused_with_their_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BfdPacketError) as err:
        decode_control(data)
    assert err.value.reason == reason


def test_your_discriminator_zero_is_fine_while_down() -> None:
    down = _mutate(1, 0x40)  # state Down, no flags
    down = down[:8] + bytes(4) + down[12:]
    assert decode_control(down).your_discr == 0


def test_a_reserved_diagnostic_does_not_drop_the_packet() -> None:
    assert decode_control(_mutate(0, 0x20 | 20)).diag is Diagnostic.NONE
