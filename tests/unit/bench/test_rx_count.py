"""bench/rx_count.py: the simulated clients' fast count against bgpd's full decode.

Every stream here is fed to a `Tally` (runs, whole-block marks, per-message path) and to a
`DecodeCheck` (bgpd's MessageReader and UpdateDecoder), whole and cut into reads at many
places (messages split across reads), and what each holds is compared prefix by prefix.
"""

from __future__ import annotations

import asyncio
import ipaddress
import pathlib
import random

import pytest

from bench.rr_clients import AttrSet, Client, client_address, encode_attrs, make_universe
from bench.rx_count import MIN_RUN, DecodeCheck, Tally, Universe, sample
from bench.scale_clients import RecordingClient, read_recording
from bgpd.errors import WireError
from bgpd.wire.attributes import encode_attribute
from bgpd.wire.codec import encode_keepalive
from bgpd.wire.constants import AttrType
from bgpd.wire.framing import frame

CLIENTS, BLOCKS, BORROWED = 20, 4, 2
PER = BLOCKS + BORROWED
ME = 7  # the client under test: block 7 is its own
REFLECTOR = "172.30.0.1"
ATTRS = AttrSet(med=None, communities=((64512, 100),), incomplete=False)


def universe() -> Universe:
    return make_universe(CLIENTS, BLOCKS, BORROWED)


def entries(u: Universe, indexes: list[int]) -> bytes:
    return b"".join(u.entries[g] for g in indexes)


def block(b: int) -> list[int]:
    return list(range(b * PER, (b + 1) * PER))


def attrs(origin: int) -> bytes:
    """What a reflector sends for client ``origin``: same length for every origin."""
    address = ipaddress.IPv4Address(client_address(origin)).packed
    return (
        encode_attrs(ATTRS, client_address(origin))
        + encode_attribute(0x80, AttrType.ORIGINATOR_ID, address)
        + encode_attribute(0x80, AttrType.CLUSTER_LIST, bytes((244, 0, 0, 1)))
    )


def update(withdrawn: bytes = b"", path_attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    body = (
        len(withdrawn).to_bytes(2, "big")
        + withdrawn
        + len(path_attrs).to_bytes(2, "big")
        + path_attrs
        + nlri
    )
    return frame(2, body)


def announce(u: Universe, indexes: list[int], origin: int | None = None) -> bytes:
    return update(
        path_attrs=attrs(indexes[0] // PER if origin is None else origin), nlri=entries(u, indexes)
    )


def withdraw(u: Universe, indexes: list[int]) -> bytes:
    return update(withdrawn=entries(u, indexes))


def cuts(stream: bytes, sizes: list[int]) -> list[bytes]:
    """``stream`` in reads of the given sizes (repeated), the last one what is left."""
    out, pos, i = [], 0, 0
    while pos < len(stream):
        n = sizes[i % len(sizes)]
        out.append(stream[pos : pos + n])
        pos += n
        i += 1
    return out


SPLITS = [[1 << 30], [1], [7], [19], [23, 5], [100], [189], [1000, 3], [4096]]


def feed_both(u: Universe, reads: list[bytes]) -> tuple[Tally, DecodeCheck]:
    tally = Tally(u, ME, ipaddress.IPv4Address(REFLECTOR).packed)
    check = DecodeCheck()
    for data in reads:
        tally.feed(data)
        check.feed(data)
    return tally, check


def assert_same(u: Universe, stream: bytes) -> Tally:
    """The tally and the decoder agree on ``stream``, however it is cut into reads."""
    tally = None
    for sizes in SPLITS:
        tally, check = feed_both(u, cuts(stream, sizes))
        assert check.error is None
        inside = check.held & u.index.keys()  # a prefix outside the table is counted apart
        assert tally.held() == inside, sizes
        assert check.compare(tally) is None
        own = {u.entries[g] for g in block(ME)}
        assert tally.distinct() == len(inside - own), sizes
        assert tally.echoed() == len(inside & own), sizes
        assert tally.updates == check.updates, sizes
    assert tally is not None
    return tally


def test_runs_of_whole_blocks_hold_every_route() -> None:
    u = universe()
    others = [b for b in range(CLIENTS) if b != ME]
    stream = encode_keepalive() + b"".join(announce(u, block(b)) for b in others)
    tally = assert_same(u, stream)
    assert tally.level == 2
    assert tally.distinct() == tally.goal == (CLIENTS - 1) * PER
    assert tally.seen is None  # whole blocks only: the per-prefix bitmap was never needed
    assert tally.reflected is True
    assert tally.received == tally.goal


def test_withdrawals_in_runs_and_again_announced() -> None:
    u = universe()
    everyone = list(range(CLIENTS))
    stream = b"".join(announce(u, block(b)) for b in everyone)
    stream += b"".join(withdraw(u, block(b)) for b in range(12))
    stream += b"".join(announce(u, block(b)) for b in range(3, 6))
    tally = assert_same(u, stream)
    assert tally.distinct() == (CLIENTS - 12 + 3) * PER
    assert tally.withdrawn == 12 * PER
    assert tally.echoed() == 0  # own block withdrawn again (it is one of 0..11)


def test_partial_fields_and_blocks_mixed() -> None:
    u = universe()
    b3, b4, b5 = block(3), block(4), block(5)
    stream = b"".join(
        [
            announce(u, b3[:2]),  # part of a block
            announce(u, b3[2:]),  # the rest: held whole now, from two fields
            announce(u, block(4)),  # a whole block
            withdraw(u, b4[1:3]),  # part of a whole block: spelled out, then withdrawn
            announce(u, b4[2:3] + b5),  # across two blocks
            announce(u, b5[:1] + b5[:1]),  # one prefix twice in one field
            withdraw(u, block(3)),  # a whole block after partial marks
            announce(u, block(9)),
            announce(u, b3[::2]),
        ]
    )
    tally = assert_same(u, stream)
    assert tally.seen is not None


def test_a_run_that_withdraws_and_announces_keeps_stream_order() -> None:
    # Look-alike messages (same length and layout), each withdrawing one block and announcing
    # another: applied message by message, the last word on a block wins.
    u = universe()
    pairs = [(3, 4), (4, 3), (5, 6), (6, 5), (8, 9), (9, 8)]
    stream = b"".join(
        update(withdrawn=entries(u, block(w)), path_attrs=attrs(a), nlri=entries(u, block(a)))
        for w, a in pairs
    )
    assert len(pairs) >= MIN_RUN
    tally = assert_same(u, stream)
    assert tally.held() == {u.entries[g] for b in (3, 5, 8) for g in block(b)}


def test_a_run_mixing_whole_blocks_and_fields_across_blocks() -> None:
    # Same length, same layout: one run, in which one field is not a block (the run falls
    # back to field by field), announced and then withdrawn.
    u = universe()
    b5, b6 = block(5), block(6)
    across = b5[3:] + b6[:3]
    fields = [block(3), block(4), across, block(8), block(9)]
    assert len({len(announce(u, f, origin=1)) for f in fields}) == 1
    stream = b"".join(announce(u, f, origin=1) for f in fields)
    stream += b"".join(withdraw(u, f) for f in [block(9), across, block(3), block(4)])
    tally = assert_same(u, stream)
    assert tally.held() == {u.entries[g] for g in block(8)}
    assert tally.withdrawn == 4 * PER


def test_a_keepalive_and_an_end_of_rib_inside_a_run() -> None:
    u = universe()
    others = [b for b in range(CLIENTS) if b != ME]
    msgs = [announce(u, block(b)) for b in others]
    msgs.insert(5, encode_keepalive())
    msgs.insert(9, update())  # End-of-RIB (RFC 4724 §2)
    stream = b"".join(msgs)
    tally = assert_same(u, stream)
    assert tally.level == 2
    others_out = Tally(u, ME, b"\x00" * 4).feed(stream)
    assert [t for t, _ in others_out] == [4]


def test_prefixes_outside_the_table_are_counted_apart() -> None:
    u = universe()
    stranger = bytes((24, 192, 0, 2))
    stream = update(path_attrs=attrs(3), nlri=entries(u, block(3)) + stranger)
    tally, check = feed_both(u, [stream])
    assert tally.unexpected == 1
    assert check.compare(tally) is None
    assert tally.held() == {u.entries[g] for g in block(3)}
    # A withdrawn 0.0.0.0/0 first: the field's first octets are no attribute length.
    stream += update(withdrawn=b"\x00" + entries(u, block(3)))
    tally = assert_same(u, stream)
    assert tally.held() == set()
    assert tally.unexpected == 2


@pytest.mark.parametrize("seed", range(12))
def test_random_streams_agree_with_the_decoder(seed: int) -> None:
    rnd = random.Random(seed)
    u = universe()
    msgs: list[bytes] = []
    for _ in range(120):
        kind = rnd.random()
        b = rnd.randrange(CLIENTS)
        if kind < 0.45:
            msgs.append(announce(u, block(b)))
        elif kind < 0.65:
            msgs.append(withdraw(u, block(b)))
        elif kind < 0.8:
            picks = sorted(rnd.sample(range(u.size), rnd.randint(1, 9)))
            msgs.append(announce(u, picks, origin=b))
        elif kind < 0.9:
            picks = sorted(rnd.sample(range(u.size), rnd.randint(1, 9)))
            msgs.append(withdraw(u, picks))
        elif kind < 0.95:
            msgs.append(encode_keepalive())
        else:
            a = rnd.randrange(CLIENTS)
            msgs.append(
                update(
                    withdrawn=entries(u, block(b)), path_attrs=attrs(a), nlri=entries(u, block(a))
                )
            )
    stream = b"".join(msgs)
    assert_same(u, stream)
    sizes = [rnd.randint(1, 600) for _ in range(50)]
    tally, check = feed_both(u, cuts(stream, sizes))
    assert check.compare(tally) is None


def test_levels_at_99_and_100_percent_and_rearm() -> None:
    u = make_universe(250, 4, 0)  # 249 other blocks of 4: 99 % is 987 of 996 prefixes
    tally = Tally(u, 0, b"\x00" * 4)
    first = b"".join(announce(u, list(range(b * 4, b * 4 + 4)), origin=b) for b in range(1, 247))
    tally.feed(first)
    assert tally.level == 0  # 984 held
    tally.feed(announce(u, list(range(988, 992)), origin=247))
    assert tally.level == 1  # 988
    tally.feed(announce(u, list(range(992, 1000)), origin=248))
    assert tally.level == 2
    tally.rearm()
    tally.feed(withdraw(u, list(range(992, 996))))
    tally.feed(announce(u, list(range(4, 8)), origin=1))  # held already: still short
    assert tally.level == 0
    tally.feed(announce(u, list(range(992, 996)), origin=248))
    assert tally.level == 2


def test_bad_marker_and_length_raise_what_framing_raises() -> None:
    u = universe()
    good = b"".join(announce(u, block(b)) for b in range(8))
    bad = bytearray(good)
    bad[len(announce(u, block(0))) * 5 + 3] = 0  # the sixth message's marker
    tally = Tally(u, ME, b"\x00" * 4)
    with pytest.raises(WireError, match="marker"):
        tally.feed(bytes(bad))
    assert tally.held() == {u.entries[g] for b in range(5) for g in block(b)}
    short = frame(2, b"\x00\x00\x00\x00")[:16] + (3).to_bytes(2, "big") + b"\x02"
    with pytest.raises(WireError, match="length"):
        Tally(u, ME, b"\x00" * 4).feed(short)


def test_the_check_fails_on_a_wrong_count() -> None:
    u = universe()
    stream = b"".join(announce(u, block(b)) for b in range(CLIENTS) if b != ME)
    tally, check = feed_both(u, [stream])
    assert check.compare(tally) is None
    tally.full[3] = 0  # as if the fast path had missed a node's routes
    failure = check.compare(tally)
    assert failure is not None and "6 missing" in failure
    tally.full[3] = 1
    assert tally.seen is None
    tally.seen = bytearray(u.size)
    tally.seen[ME * PER] = 1  # as if it had counted one too many
    failure = check.compare(tally)
    assert failure is not None and "1 extra" in failure


def test_the_check_fails_on_a_prefix_outside_the_table_not_counted() -> None:
    u = universe()
    stream = update(path_attrs=attrs(3), nlri=entries(u, block(3)) + bytes((24, 192, 0, 2)))
    tally, check = feed_both(u, [stream])
    assert check.compare(tally) is None
    tally.unexpected = 0  # as if the fast path had taken the stranger for nothing
    failure = check.compare(tally)
    assert failure is not None and "+1 outside the table" in failure


def test_the_sample_of_checked_clients_is_spread_and_bounded() -> None:
    assert sample(range(100, 350), 1) == {100}
    assert sample(range(100, 350), 5) == {100, 150, 200, 250, 300}
    assert sample(range(3), 10) == {0, 1, 2}
    assert sample(range(10), 0) == set()


def test_the_check_fails_on_what_the_decoder_refuses() -> None:
    u = universe()
    broken = update(path_attrs=b"\x40\x01\x01", nlri=entries(u, block(3)))  # no AS_PATH etc.
    tally, check = feed_both(u, [broken])
    failure = check.compare(tally)
    assert failure is not None and "decoder" in failure


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        pass

    def close(self) -> None:
        self.closed = True


def test_a_checked_client_is_done_and_agrees_with_the_decoder() -> None:
    async def run() -> tuple[dict[str, object], dict[str, object]]:
        u = universe()
        stream = b"".join(announce(u, block(b)) for b in range(CLIENTS) if b != ME)
        good = Client(ME, u, PER, b"", REFLECTOR, check=True)
        good.connection_made(_Transport())
        for data in cuts(stream, [333]):
            good.data_received(data)
        assert good.done_event.is_set()
        wrong = Client(ME, u, PER, b"", REFLECTOR, check=True)
        wrong.connection_made(_Transport())
        wrong.data_received(stream)
        wrong.tally.full[4] = 0  # a count gone wrong after it said done
        return good.result(0.0), wrong.result(0.0)

    good, wrong = asyncio.run(run())
    assert good["checked"] is True and good["check_failure"] is None
    assert good["distinct"] == good["goal"]
    assert isinstance(wrong["check_failure"], str) and "missing" in wrong["check_failure"]


def test_a_recording_reads_back_per_session(tmp_path: pathlib.Path) -> None:
    # scale_bench --record: what sim_receive_bench replays is what each session read.
    async def run() -> None:
        u = universe()
        with (tmp_path / "node.reads").open("wb") as out:
            node = RecordingClient(ME, u, PER, b"", REFLECTOR, record=out)
            node.connection_made(_Transport())
            node.data_received(b"one")
            node.data_received(b"two")
            node.connection_made(_Transport())
            node.data_received(b"three")

    asyncio.run(run())
    assert read_recording(tmp_path / "node.reads") == [[b"one", b"two"], [b"three"]]
