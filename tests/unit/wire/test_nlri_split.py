"""The IPv4 NLRI split by regular expression (`parse_prefixes`) gives exactly what the loop a
prefix at a time gives (`parse_prefixes_loop`): the same prefixes, host bits cleaned the same
way, the same error for a malformed field."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpd.wire.nlri import SPAN_V4, NlriError, parse_prefixes, parse_prefixes_loop


def outcome(parse: object, data: bytes) -> object:
    try:
        return parse(data, SPAN_V4)  # type: ignore[operator]
    except NlriError as exc:
        return ("error", str(exc))


@st.composite
def fields(draw: st.DrawFn) -> bytes:
    """Mostly well-formed fields, some with host bits set, a bad length or cut short."""
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        plen = draw(st.sampled_from([24, 16, 22, 32, 0, 8, 9, 17, 31, 33, 255]))
        octets = (plen + 7) // 8 if plen <= 32 else draw(st.integers(0, 4))
        parts.append(bytes((plen,)) + draw(st.binary(min_size=octets, max_size=octets)))
    data = b"".join(parts)
    if data and draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@settings(max_examples=2000)
@given(st.one_of(fields(), st.binary(max_size=24)))
def test_the_split_is_the_loop(data: bytes) -> None:
    assert outcome(parse_prefixes, data) == outcome(parse_prefixes_loop, data)


def test_host_bits_and_errors_take_the_loop() -> None:
    assert parse_prefixes(bytes((24, 10, 1, 2, 17, 10, 1, 0xFF)), SPAN_V4) == [
        bytes((24, 10, 1, 2)),
        bytes((17, 10, 1, 0x80)),  # host bits cleaned
    ]
    assert outcome(parse_prefixes, bytes((33, 1, 2, 3, 4, 5)))[0] == "error"  # type: ignore[index]
    assert outcome(parse_prefixes, bytes((24, 10, 1)))[0] == "error"  # type: ignore[index]
