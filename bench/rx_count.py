"""Counting what a simulated client receives: the byte stream in, what it holds out.

Role: the measuring instrument of ``bench/rr_clients.py`` and ``bench/scale_clients.py`` (sans
IO: bytes in, counts out; the caller owns the socket and the clock). At 5,000 simulated nodes
every node receives about 5,000 UPDATEs per phase, 25 million in all, on the same two cores as
the reflector under test, so what one UPDATE costs here bounds what the benchmark can show.

The table: client ``i`` owns the global prefix indexes of block ``i`` (``i*per .. i*per+per-1``,
`Universe`). What a client holds is two bitmaps: ``full`` (one octet per block: every prefix
of the block held) and ``seen`` (one octet per prefix, made only when a field covers part of a
block); prefix ``p`` is held when ``full[p // per]`` or ``seen[p]``.

How a read is counted (`Tally.feed`), cheapest case first:

- **Runs of look-alike UPDATEs.** A reflector sends runs of UPDATEs of one layout (at scale,
  one per node: the same attributes but the next hop and ORIGINATOR_ID, and the node's 24
  prefixes). From a message's header the run is found with strided slices of the read
  (``buf[p::length]``: the length and type octets of every following message, the withdrawn
  and attribute lengths, the 16 marker octets), all C loops; every message of the run has then
  the same layout, so its NLRI (or withdrawn) fields are cut with one ``map`` over cached
  slices. A field that is exactly one whole block (the common case: a node's announcement, or
  its withdrawal) is found in one dict (`Universe.blocks`) and marked with
  ``map(full.__setitem__)``: no Python bytecode per message.
- **Any other field** is decoded once per worker process (a reflector sends the same field to
  every client) into runs of global indexes, cached by its bytes, and marked in ``seen``
  (touched ``full`` blocks are first spelled out in ``seen`` when a withdrawal needs it); a
  prefix outside the table is counted as ``unexpected``.
- **Any other message** (a run shorter than `MIN_RUN`, OPEN, KEEPALIVE, NOTIFICATION, an
  End-of-RIB, an UPDATE both withdrawing and announcing) takes the per-message path, its header
  checked as ``bgpd.wire.framing`` checks it (a bad one raises `WireError`).

Invariants: the messages of a read are applied in stream order (a run never mixes withdrawn and
announced fields); a message split across reads is kept until it is whole. The distinct count
is exact whenever it is taken; it is taken lazily, only when the prefixes announced since the
last count could reach the next threshold (99 %, then 100 % of the goal), since withdrawals
only lower it. `DecodeCheck` is the exact check: bgpd's own decoder over the same bytes,
compared with what the tally holds (``--check N``: N clients per worker process).
"""

from __future__ import annotations

import ipaddress
import math
from collections import deque
from itertools import chain, compress, islice, repeat
from typing import NamedTuple

from bgpd.net import IPV4_UNICAST
from bgpd.wire.constants import HEADER_LEN, MARKER, MAX_MESSAGE_LEN, AttrType, MessageType
from bgpd.wire.framing import MessageReader, check_length
from bgpd.wire.negotiated import Negotiated
from bgpd.wire.update import UpdateDecoder

_UPDATE = MessageType.UPDATE.value
MIN_RUN = 4  # shorter runs are cheaper message by message
MAX_RUN = 512  # the strided slices look this far ahead at most (a run may be longer)
_FIVE_OCTETS = bytes(range(25, 33))  # prefix lengths whose NLRI entry is 5 octets
_MIN_UPDATE = HEADER_LEN + 4  # RFC 4271 §4.3: the two length fields
_AHEAD = MIN_RUN - 2  # the last message of a shortest run, from the next one
_ONES = repeat(1)  # map() stops at the fields: shared, never exhausted
_ZEROS = repeat(0)


class Field(NamedTuple):
    """A decoded NLRI or withdrawn routes field."""

    on: tuple[tuple[slice, bytes], ...]  # ``seen`` slice assignments that announce it
    off: tuple[tuple[slice, bytes], ...]  # that withdraw it
    count: int  # prefixes in the field
    unexpected: int  # of which outside the table
    block: int  # the block it covers exactly, else -1
    blocks: tuple[int, ...]  # the blocks it touches


class Universe:
    """Every prefix of the population (NLRI entry -> global index) and a decoded-field cache.

    A reflector sends the same field to many clients (with update groups, the very same
    UPDATE), so a field is decoded once per worker and cached by its bytes; ``blocks`` maps a
    field that is exactly one client's block to the block. The caches hold at most
    ``CACHE_BYTES`` of fields and start over when full.
    """

    __slots__ = (
        "_cached_bytes",
        "_fills",
        "_runs",
        "_slices",
        "blocks",
        "cache",
        "entries",
        "index",
        "per",
    )

    CACHE_BYTES = 256 << 20

    def __init__(self, entries: list[bytes], per: int) -> None:
        self.entries = entries  # global index -> NLRI entry (length octet, then the prefix)
        self.per = per  # prefixes per client block
        self.index: dict[bytes, int] = {e: g for g, e in enumerate(entries)}
        self._slices: dict[int, list[slice]] = {}  # n -> the entry slices of n 5-octet entries
        self._runs: dict[tuple[int, int, int], list[slice]] = {}  # fields of a run, see `run`
        self._fills: dict[tuple[int, int], bytes] = {}
        self.cache: dict[bytes, Field] = {}
        self.blocks: dict[bytes, int] = {}
        self._cached_bytes = 0

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def block_count(self) -> int:
        return len(self.entries) // self.per

    def fill(self, n: int, value: int) -> bytes:
        """``n`` octets of ``value`` (cached: a bitmap slice assignment's right-hand side)."""
        fill = self._fills.get((n, value))
        if fill is None:
            fill = self._fills[n, value] = bytes((value,)) * n
        return fill

    def run(self, length: int, start: int, stop: int) -> list[slice]:
        """Slices of the field ``start:stop`` of consecutive messages of ``length`` octets."""
        key = (length, start, stop)
        slices = self._runs.get(key)
        if slices is None:
            slices = [slice(m * length + start, m * length + stop) for m in range(MAX_RUN)]
            self._runs[key] = slices
        return slices

    def decode(self, field: bytes) -> Field:
        """The cached decoding of an NLRI or withdrawn routes field."""
        hit = self.cache.get(field)
        if hit is not None:
            return hit
        indexes, unexpected = self._indexes(field)
        runs: list[tuple[int, int]] = []
        if indexes:
            indexes.sort()
            start = prev = indexes[0]
            for g in indexes[1:]:
                if g == prev:
                    continue  # the same prefix twice in one field
                if g != prev + 1:
                    runs.append((start, prev + 1))
                    start = g
                prev = g
            runs.append((start, prev + 1))
        per = self.per
        touched = sorted({b for a, z in runs for b in range(a // per, (z - 1) // per + 1)})
        block = -1
        if len(runs) == 1 and not unexpected and len(indexes) == per:
            a, z = runs[0]
            if z - a == per and a % per == 0:
                block = a // per
        out = Field(
            tuple((slice(a, z), self.fill(z - a, 1)) for a, z in runs),
            tuple((slice(a, z), self.fill(z - a, 0)) for a, z in runs),
            len(indexes) + unexpected,
            unexpected,
            block,
            tuple(touched),
        )
        if self._cached_bytes > self.CACHE_BYTES:
            self.cache.clear()
            self.blocks.clear()
            self._cached_bytes = 0
        self.cache[field] = out
        if block >= 0:
            self.blocks[field] = block
        self._cached_bytes += 2 * len(field) + 300  # the keys, and roughly the entry
        return out

    def _indexes(self, field: bytes) -> tuple[list[int], int]:
        n, rest = divmod(len(field), 5)
        if not rest and not field[::5].translate(None, _FIVE_OCTETS):
            # Every entry is 5 octets (a /25../32): cut them in C loops.
            slices = self._slices.get(n)
            if slices is None:
                slices = self._slices[n] = [slice(i * 5, (i + 1) * 5) for i in range(n)]
            try:
                return list(map(self.index.__getitem__, map(field.__getitem__, slices))), 0
            except KeyError:
                pass  # a prefix outside the table: the loop below counts it
        indexes: list[int] = []
        unexpected = 0
        pos = 0
        get = self.index.get
        while pos < len(field):
            step = 1 + (field[pos] + 7) // 8
            g = get(field[pos : pos + step])
            if g is None:
                unexpected += 1
            else:
                indexes.append(g)
            pos += step
        return indexes, unexpected


def attribute_types(attrs: bytes) -> dict[int, bytes]:
    """Type code -> value of every attribute in a path attributes field (for the one check)."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos + 3 <= len(attrs):
        flags, code = attrs[pos], attrs[pos + 1]
        if flags & 0x10:
            n = int.from_bytes(attrs[pos + 2 : pos + 4], "big")
            pos += 4
        else:
            n = attrs[pos + 2]
            pos += 3
        out[code] = attrs[pos : pos + n]
        pos += n
    return out


class Tally:
    """One client's count of one session's stream: framing, what it holds, the thresholds.

    `feed` takes a read and returns the messages that are not UPDATEs (for the session);
    ``level`` is 0 below 99 % of ``goal``, 1 from 99 % and 2 once every prefix is held, as of
    the last count. ``reflected`` is set by the first UPDATE carrying NLRI (RFC 4456:
    ORIGINATOR_ID and CLUSTER_LIST present, NEXT_HOP not the reflector's).
    """

    __slots__ = (
        "_rest",
        "_window",
        "full",
        "goal",
        "last_distinct",
        "level",
        "own",
        "received",
        "reflected",
        "reflector",
        "seen",
        "since_count",
        "threshold",
        "unexpected",
        "universe",
        "updates",
        "withdrawn",
    )

    def __init__(self, universe: Universe, own: int, reflector: bytes) -> None:
        self.universe = universe
        self.own = own  # the client's own block
        self.reflector = reflector  # its address, packed: a reflected next hop is not it
        self.goal = universe.size - universe.per
        self.received = 0  # prefixes announced, with repeats
        self.withdrawn = 0  # prefixes withdrawn, with repeats
        self.updates = 0
        self.unexpected = 0
        self.reflected: bool | None = None
        self.full = bytearray(universe.block_count)
        self.seen: bytearray | None = None  # made by the first field that is not a block
        self._rest = b""
        self._window = MAX_RUN
        self.last_distinct = self.since_count = self.level = 0
        self.threshold = math.ceil(0.99 * self.goal)

    def reset(self) -> None:
        """A new session: an empty table, counting from scratch (statistics kept)."""
        self.full = bytearray(self.universe.block_count)
        self.seen = None
        self._rest = b""
        self.last_distinct = self.since_count = self.level = 0
        self.threshold = math.ceil(0.99 * self.goal)

    def rearm(self) -> None:
        """Keep the table, forget being done: the next count at the goal sets ``level`` 2."""
        self.last_distinct = self.distinct()
        self.since_count = 0
        self.level = 0
        self.threshold = self.goal

    # -- what is held ------------------------------------------------------------------------

    def _held_in(self, block: int) -> int:
        per = self.universe.per
        if self.full[block]:
            return per
        if self.seen is None:
            return 0
        return self.seen[block * per : (block + 1) * per].count(1)

    def distinct(self) -> int:
        """Distinct prefixes held from other clients (own ones echoed are not counted)."""
        per = self.universe.per
        total = per * self.full.count(1)
        seen = self.seen
        if seen is not None:
            # Prefixes of full blocks also marked in ``seen`` are held once.
            total += seen.count(1) - sum(
                seen[b * per : (b + 1) * per].count(1)
                for b in compress(range(len(self.full)), self.full)
            )
        return total - self.echoed()

    def echoed(self) -> int:
        return self._held_in(self.own)

    def held(self) -> set[bytes]:
        """The NLRI entries held (own ones included): for the exact check."""
        entries, per = self.universe.entries, self.universe.per
        out = set(
            chain.from_iterable(
                entries[b * per : (b + 1) * per] for b in compress(range(len(self.full)), self.full)
            )
        )
        if self.seen is not None:
            out.update(compress(entries, self.seen))
        return out

    # -- the stream --------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Counts every whole UPDATE in ``data``; returns the other messages, in order.

        Raises `WireError` on a bad header (what `bgpd.wire.framing` raises), after counting
        the messages before it.
        """
        buf = self._rest + data if self._rest else bytes(data)
        end = len(buf)
        pos = 0
        others: list[tuple[int, bytes]] = []
        universe = self.universe
        get = universe.cache.get
        full = self.full
        per = universe.per
        while end - pos >= HEADER_LEN:
            length = (buf[pos + 16] << 8) | buf[pos + 17]
            msg_type = buf[pos + 18]
            if not (msg_type == _UPDATE and _MIN_UPDATE <= length <= MAX_MESSAGE_LEN) or (
                not buf.startswith(MARKER, pos)
            ):
                if not buf.startswith(MARKER, pos):
                    self._rest = b""
                    MessageReader().feed(buf[pos:])  # raises the header error
                check_length(msg_type, length, MAX_MESSAGE_LEN)
            nxt = pos + length
            if nxt > end:
                break
            if msg_type != _UPDATE:
                others.append((msg_type, buf[pos + HEADER_LEN : nxt]))
                pos = nxt
                continue
            if (
                end - pos >= MIN_RUN * length
                and buf[nxt + 16 : nxt + 21] == buf[pos + 16 : pos + 21]
                and buf[nxt + _AHEAD * length + 16 : nxt + _AHEAD * length + 21]
                == buf[pos + 16 : pos + 21]
            ):
                k = self._run(buf, pos, length, end)
                if k:
                    pos += k * length
                    continue
            # One message. Inline for the common case: an announcement without withdrawals.
            s = pos + HEADER_LEN + 4 + ((buf[pos + 21] << 8) | buf[pos + 22])  # the NLRI
            if buf[pos + 19] or buf[pos + 20] or s >= nxt:
                self._update(buf[pos + HEADER_LEN : nxt])
                pos = nxt
                continue
            self.updates += 1
            if self.reflected is None:
                self._check_reflection(buf[pos + HEADER_LEN + 4 : s])
            field = buf[s:nxt]
            decoded = get(field) or universe.decode(field)
            if decoded.block >= 0:
                full[decoded.block] = 1
                count = per
            else:
                count = self._mark(decoded, 1)
            self.received += count
            self.since_count += count
            pos = nxt
        self._rest = buf[pos:] if pos < end else b""
        if self.last_distinct + self.since_count >= self.threshold:
            self._recount()
        return others

    def _run(self, buf: bytes, pos: int, length: int, end: int) -> int:
        """Counts the run of look-alike UPDATEs at ``pos``; its length, 0 if too short.

        The caller saw the next message and the last of `MIN_RUN` look alike. The strided
        slices look ``window`` messages ahead: twice the last run, so that short runs do not
        pay for a long look.
        """
        n = min((end - pos) // length, self._window)
        stop = pos + n * length
        k = n
        for off in (17, 16, 18, 19, 20):  # length, type, withdrawn length: the first differ
            column = buf[pos + off : stop : length]
            k = min(k, n - len(column.lstrip(column[:1])))
            if k < MIN_RUN:
                self._window = 2 * MIN_RUN
                return 0
        wlen = (buf[pos + 19] << 8) | buf[pos + 20]
        a = HEADER_LEN + 2 + wlen  # the attribute length, from the message's start
        if a + 2 > length:
            return 0  # malformed: message by message
        for off in (a, a + 1):
            column = buf[pos + off : pos + k * length : length]
            k = min(k, len(column) - len(column.lstrip(column[:1])))
            if k < MIN_RUN:
                return 0
        s = a + 2 + ((buf[pos + a] << 8) | buf[pos + a + 1])  # the NLRI
        if s > length or (wlen and s < length):
            return 0  # malformed, or withdraws and announces: message by message
        stop = pos + k * length
        marker = b"\xff" * k
        for off in range(16):
            if buf[pos + off : stop : length] != marker:
                return 0  # a bad marker: the message path raises the header error
        self._window = min(2 * k, MAX_RUN)
        self.updates += k
        region = buf[pos:stop]
        if wlen:
            slices = self.universe.run(length, HEADER_LEN + 2, a)
            self._withdraw(list(map(region.__getitem__, islice(slices, k))))
        elif s < length:
            if self.reflected is None:
                self._check_reflection(buf[pos + a + 2 : pos + s])
            slices = self.universe.run(length, s, length)
            self._announce(list(map(region.__getitem__, islice(slices, k))))
        return k

    def _update(self, body: bytes) -> None:
        """One UPDATE body, message by message (RFC 4271 §4.3)."""
        self.updates += 1
        n = len(body)  # at least 4 (`check_length`)
        wlen = (body[0] << 8) | body[1]
        if n < 4 + wlen:
            return  # malformed: counted as nothing; the decoder check reports it
        if wlen:
            self._withdraw([body[2 : 2 + wlen]])
        s = 4 + wlen + ((body[2 + wlen] << 8) | body[3 + wlen])
        if s >= n:
            return
        if self.reflected is None:
            self._check_reflection(body[4 + wlen : s])
        self._announce([body[s:]])

    def _announce(self, fields: list[bytes]) -> None:
        if len(fields) == 1:  # the message path: no exception for a field that is no block
            count = self._mark(self.universe.decode(fields[0]), 1)
            self.received += count
            self.since_count += count
            return
        try:
            deque(
                map(self.full.__setitem__, map(self.universe.blocks.__getitem__, fields), _ONES), 0
            )
            count = self.universe.per * len(fields)
        except KeyError:  # not all whole blocks: field by field (announcing twice is harmless)
            count = 0
            for field in fields:
                count += self._mark(self.universe.decode(field), 1)
        self.received += count
        self.since_count += count

    def _withdraw(self, fields: list[bytes]) -> None:
        if self.seen is None and len(fields) > 1:
            try:
                blocks = self.universe.blocks.__getitem__
                deque(map(self.full.__setitem__, map(blocks, fields), _ZEROS), 0)
                self.withdrawn += self.universe.per * len(fields)
                return
            except KeyError:  # not all whole blocks (withdrawing twice is harmless)
                pass
        for field in fields:
            self.withdrawn += self._mark(self.universe.decode(field), 0)

    def _mark(self, field: Field, value: int) -> int:
        """Marks one decoded field held (1) or not (0); returns its prefixes."""
        if field.unexpected:
            self.unexpected += field.unexpected
        full = self.full
        if field.block >= 0 and (value or self.seen is None):
            full[field.block] = value
            return field.count
        universe = self.universe
        per = universe.per
        seen = self.seen
        if seen is None:
            seen = self.seen = bytearray(universe.size)
        if not value:
            for b in field.blocks:  # a withdrawal from a full block: spell the block out
                if full[b]:
                    full[b] = 0
                    seen[b * per : (b + 1) * per] = universe.fill(per, 1)
        for run, fill in field.on if value else field.off:
            seen[run] = fill
        return field.count

    def _check_reflection(self, attrs_field: bytes) -> None:
        attrs = attribute_types(attrs_field)
        self.reflected = (
            AttrType.ORIGINATOR_ID in attrs
            and AttrType.CLUSTER_LIST in attrs
            and attrs.get(AttrType.NEXT_HOP, b"") != self.reflector
        )

    def _recount(self) -> None:
        self.last_distinct = self.distinct()
        self.since_count = 0
        while self.level < 2 and self.last_distinct >= self.threshold:
            self.level += 1
            self.threshold = self.goal if self.level == 1 else 1 << 62


class DecodeCheck:
    """The exact check of a `Tally`: bgpd's own decoder over the same reads.

    It frames with `MessageReader`, decodes every UPDATE with `UpdateDecoder` (RFC 4271/7606,
    attributes included) and keeps the set of prefixes the stream leaves announced;
    `compare` says how that differs from what the tally holds, None when it does not.
    """

    __slots__ = ("_decoder", "_reader", "error", "held", "updates")

    def __init__(self) -> None:
        negotiated = Negotiated(
            local_asn=65000,
            peer_asn=65000,
            peer_router_id=1,
            hold_time=90,
            as4=True,
            families=frozenset({IPV4_UNICAST}),
        )
        self._decoder = UpdateDecoder(negotiated)
        self._reader = MessageReader()
        self.held: set[bytes] = set()
        self.updates = 0
        self.error: str | None = None  # what the decoder refused (the check then fails)

    def reset(self) -> None:
        """A new session: an empty table."""
        self._reader = MessageReader()
        self.held = set()

    def feed(self, data: bytes) -> None:
        if self.error is not None:
            return
        try:
            messages = self._reader.feed(data)
            for msg_type, body in messages:
                if msg_type != _UPDATE:
                    continue
                self.updates += 1
                update = self._decoder.decode(body)
                for batch in update.withdrawn:
                    self.held.difference_update(batch.prefixes)
                for batch in update.announced:
                    self.held.update(batch.prefixes)
        except Exception as exc:  # a malformed stream: the check fails, naming it
            self.error = f"bgpd's decoder: {type(exc).__name__}: {exc}"

    def compare(self, tally: Tally) -> str | None:
        """None when the tally holds exactly what the decoder holds, else the difference."""
        if self.error is not None:
            return f"count check failed: {self.error}"
        fast = tally.held()
        if not tally.unexpected and fast == self.held:
            return None
        index = tally.universe.index
        inside = {e for e in self.held if e in index}
        outside = len(self.held) - len(inside)
        if fast == inside and tally.unexpected:  # outside ones counted apart
            return None
        missing, extra = inside - fast, fast - inside
        return (
            f"count check failed: the tally holds {len(fast)}, bgpd's decoder {len(inside)} "
            f"(+{outside} outside the table, {tally.unexpected} unexpected counted); "
            f"{len(missing)} missing (e.g. {_show(missing)}), {len(extra)} extra "
            f"(e.g. {_show(extra)})"
        )


def sample(indexes: range, n: int) -> set[int]:
    """``n`` of ``indexes``, spread evenly (the first one first): the clients checked."""
    n = min(n, len(indexes))
    return {indexes[k * len(indexes) // n] for k in range(n)} if n > 0 else set()


def _show(entries: set[bytes]) -> str:
    out = []
    for e in sorted(entries)[:3]:
        addr = e[1:].ljust(4, b"\x00")
        out.append(f"{ipaddress.IPv4Address(addr)}/{e[0]}")
    return ", ".join(out) or "-"
