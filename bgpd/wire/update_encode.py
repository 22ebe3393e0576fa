"""UPDATE encoding: attribute lists, announcement/withdrawal packing, End-of-RIB.

Role: the outbound hot path. An attribute set is encoded once per update group
(`encode_path_attributes`) and its prefixes are packed into as few UPDATEs as the negotiated
maximum size allows (`pack_announcements`, `pack_withdrawals`); the same bytes go to every
member of the group.

Invariants: every returned message is complete (header included) and no longer than
`ctx.max_message_len`; MP_REACH_NLRI/MP_UNREACH_NLRI come first in the attribute list
(RFC 7606 §5.1) and always use the Extended Length form; IPv4 unicast uses the classic fields.
An attribute set can be too large for one message with even one prefix (a peer without
extended messages, RFC 8654, after our AS prepend or from an extended-message peer): callers
ask `announcement_overhead` once per attribute set and withhold what does not fit, since the
packers raise ValueError rather than emit an oversized UPDATE.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from bgpd.net import IPV4_UNICAST, Family, Nlri
from bgpd.wire.attributes import OPTIONAL_NON_TRANSITIVE, PathAttributes, encode_attribute
from bgpd.wire.attributes import encode_path_attributes_raw as _encode_raw
from bgpd.wire.constants import (
    HEADER_LEN,
    MARKER,
    AttrFlag,
    AttrType,
    MessageType,
)
from bgpd.wire.messages import NlriBatch, UpdateMessage
from bgpd.wire.negotiated import EncodeContext

_HEAD = struct.Struct("!HB")
_EXTENDED_LENGTH = int(AttrFlag.EXTENDED_LENGTH)  # plain int: IntFlag operators are slow
_MP_ATTR_HEAD = bytes((OPTIONAL_NON_TRANSITIVE | _EXTENDED_LENGTH,))
_MP_REACH = bytes((AttrType.MP_REACH_NLRI,))
_MP_UNREACH = bytes((AttrType.MP_UNREACH_NLRI,))
_UPDATE_TYPE = MessageType.UPDATE
_EMPTY_LEN = b"\x00\x00"
# RFC 4760 §3 MP_REACH_NLRI header around the next hop: AFI (2), SAFI (1), length (1), reserved.
_MP_REACH_FIXED = 5

# The longest NLRI entry of the families bgpd speaks: a 4-octet ADD-PATH id (RFC 7911 §3), the
# length octet and an IPv6 /128. An attribute set leaving this much room fits every prefix.
LONGEST_ENTRY = 4 + 1 + 16


def encode_path_attributes(attrs: PathAttributes, ctx: EncodeContext) -> bytes:
    """The attribute list for `attrs` (no MP attributes); toward a 2-octet AS peer it carries
    AS_TRANS in AS_PATH/AGGREGATOR plus AS4_PATH/AS4_AGGREGATOR (RFC 6793 §4.2.2)."""
    return _encode_raw(attrs, ctx.as4)


def _update(withdrawn: bytes, attributes: bytes, nlri: bytes) -> bytes:
    total = HEADER_LEN + 4 + len(withdrawn) + len(attributes) + len(nlri)
    return b"".join(
        (
            MARKER,
            _HEAD.pack(total, _UPDATE_TYPE),
            len(withdrawn).to_bytes(2, "big"),
            withdrawn,
            len(attributes).to_bytes(2, "big"),
            attributes,
            nlri,
        )
    )


def has_attribute(attr_bytes: bytes, type_code: int) -> bool:
    """Whether a well-formed attribute list holds an attribute of that type."""
    i = 0
    n = len(attr_bytes)
    while i + 3 <= n:
        if attr_bytes[i + 1] == type_code:
            return True
        if attr_bytes[i] & _EXTENDED_LENGTH:
            i += 4 + ((attr_bytes[i + 2] << 8) | attr_bytes[i + 3])
        else:
            i += 3 + attr_bytes[i + 2]
    return False


def _entries(
    ctx: EncodeContext, family: Family, prefixes: Sequence[Nlri], path_ids: Sequence[int] | None
) -> Sequence[bytes]:
    if family not in ctx.add_path_send:
        return prefixes
    if path_ids is None or len(path_ids) != len(prefixes):
        raise ValueError(f"ADD-PATH is sent for {family}: one path id per prefix is needed")
    # RFC 7911 §3: a 4-octet path identifier precedes each prefix.
    return [i.to_bytes(4, "big") + p for i, p in zip(path_ids, prefixes, strict=True)]


def _chunks(entries: Sequence[bytes], budget: int) -> list[bytes]:
    """Concatenations of consecutive entries, each at most `budget` octets."""
    out: list[bytes] = []
    start = 0
    size = 0
    for idx, entry in enumerate(entries):
        n = len(entry)
        if size + n > budget:
            if n > budget:
                raise ValueError("attributes leave no room for a prefix in one message")
            out.append(b"".join(entries[start:idx]))
            start = idx
            size = 0
        size += n
    if start < len(entries):
        out.append(b"".join(entries[start:]))
    return out


def _mp_reach_head(family: Family, next_hop: bytes) -> bytes:
    # RFC 4760 §3: AFI, SAFI, next hop length, next hop, reserved octet.
    return struct.pack("!HBB", family.afi, family.safi, len(next_hop)) + next_hop + b"\x00"


def pack_announcements(  # noqa: PLR0917 - the agreed positional signature
    ctx: EncodeContext,
    family: Family,
    attr_bytes: bytes,
    next_hop: bytes,
    prefixes: Sequence[Nlri],
    path_ids: Sequence[int] | None = None,
) -> list[bytes]:
    """UPDATEs announcing `prefixes` with `attr_bytes`, as many per message as fit."""
    if not prefixes:
        return []
    entries = _entries(ctx, family, prefixes, path_ids)
    max_len = ctx.max_message_len
    if family == IPV4_UNICAST:
        return pack_ipv4_announcements(ipv4_head(attr_bytes, next_hop), entries, max_len)
    mp_head = _mp_reach_head(family, next_hop)
    # Header, withdrawn length, attribute length, MP_REACH header (4) + fixed part, attributes.
    fixed = HEADER_LEN + 4 + 4 + len(mp_head) + len(attr_bytes)
    out = []
    for nlri in _chunks(entries, max_len - fixed):
        value_len = len(mp_head) + len(nlri)
        attr_len = 4 + value_len + len(attr_bytes)
        out.append(
            b"".join(
                (
                    MARKER,
                    _HEAD.pack(HEADER_LEN + 4 + attr_len, _UPDATE_TYPE),
                    _EMPTY_LEN,
                    attr_len.to_bytes(2, "big"),
                    _MP_ATTR_HEAD,
                    _MP_REACH,
                    value_len.to_bytes(2, "big"),
                    mp_head,
                    nlri,
                    attr_bytes,
                )
            )
        )
    return out


def announcement_overhead(family: Family, attr_bytes: bytes, next_hop: bytes) -> int:
    """Octets of an UPDATE announcing `family` with `attr_bytes` besides its NLRI entries: a
    message of `max_len` octets has `max_len` minus this left for prefixes (none when that is
    less than the entry's length)."""
    if family == IPV4_UNICAST:
        return HEADER_LEN + len(ipv4_head(attr_bytes, next_hop))
    # Header, withdrawn length, attribute length, MP_REACH_NLRI attribute header (4) and fixed
    # part, the other attributes.
    return HEADER_LEN + 4 + 4 + _MP_REACH_FIXED + len(next_hop) + len(attr_bytes)


def ipv4_head(attr_bytes: bytes, next_hop: bytes) -> bytes:
    """What every IPv4 unicast announcement with these attributes holds between its header and
    its NLRI: the empty withdrawn field, the attribute length and the attributes, NEXT_HOP
    included (added from `next_hop` when the list lacks it). Cache it per attribute set."""
    if not has_attribute(attr_bytes, AttrType.NEXT_HOP):
        attr_bytes += encode_attribute(AttrFlag.TRANSITIVE, AttrType.NEXT_HOP, next_hop)
    return _EMPTY_LEN + len(attr_bytes).to_bytes(2, "big") + attr_bytes


def pack_ipv4_announcements(head: bytes, entries: Sequence[bytes], max_len: int) -> list[bytes]:
    """IPv4 unicast UPDATEs: `head` (see `ipv4_head`) and as many of `entries` (packed
    prefixes, path ids in front under ADD-PATH) per message as `max_len` allows."""
    fixed = HEADER_LEN + len(head)
    pack = _HEAD.pack
    nlri = b"".join(entries)
    if len(nlri) <= max_len - fixed:  # the usual case: one message
        return [b"".join((MARKER, pack(fixed + len(nlri), _UPDATE_TYPE), head, nlri))]
    return [
        b"".join((MARKER, pack(fixed + len(chunk), _UPDATE_TYPE), head, chunk))
        for chunk in _chunks(entries, max_len - fixed)
    ]


def pack_withdrawals(
    ctx: EncodeContext,
    family: Family,
    prefixes: Sequence[Nlri],
    path_ids: Sequence[int] | None = None,
) -> list[bytes]:
    """UPDATEs withdrawing `prefixes`, as many per message as fit."""
    if not prefixes:
        return []
    entries = _entries(ctx, family, prefixes, path_ids)
    max_len = ctx.max_message_len
    if family == IPV4_UNICAST:
        return [_update(chunk, b"", b"") for chunk in _chunks(entries, max_len - HEADER_LEN - 4)]
    mp_head = struct.pack("!HB", family.afi, family.safi)
    out = []
    for nlri in _chunks(entries, max_len - HEADER_LEN - 4 - 4 - len(mp_head)):
        value = mp_head + nlri
        attr = _MP_ATTR_HEAD + _MP_UNREACH + len(value).to_bytes(2, "big") + value
        out.append(_update(b"", attr, b""))
    return out


def encode_end_of_rib(family: Family) -> bytes:
    """RFC 4724 §2: an empty UPDATE for IPv4 unicast, an empty MP_UNREACH_NLRI otherwise."""
    if family == IPV4_UNICAST:
        return _update(b"", b"", b"")
    value = struct.pack("!HB", family.afi, family.safi)
    return _update(
        b"", encode_attribute(OPTIONAL_NON_TRANSITIVE, AttrType.MP_UNREACH_NLRI, value), b""
    )


def _batch_entries(batch: NlriBatch, ctx: EncodeContext) -> bytes:
    ids = batch.path_ids
    if batch.family in ctx.add_path_send:
        if ids is None:
            raise ValueError(f"ADD-PATH is sent for {batch.family}: path ids are needed")
        return b"".join(_entries(ctx, batch.family, batch.prefixes, ids))
    return b"".join(batch.prefixes)


def _length16(value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise ValueError(f"attribute of {len(value)} octets exceeds 65535")
    return len(value).to_bytes(2, "big")


def encode_update(msg: UpdateMessage, ctx: EncodeContext) -> bytes:
    """One UPDATE holding exactly `msg` (for tests and tools; the packers are the hot path).

    IPv4 unicast batches use the classic fields (announced ones must share the NEXT_HOP of
    the attributes); at most one other family may be announced and one withdrawn, since an
    UPDATE carries at most one MP_REACH_NLRI and one MP_UNREACH_NLRI (RFC 7606 §3 g).
    Raises ValueError when `msg` cannot be one UPDATE.
    """
    if msg.end_of_rib is not None:
        return encode_end_of_rib(msg.end_of_rib)
    classic_wd = b"".join(_batch_entries(b, ctx) for b in msg.withdrawn if b.family == IPV4_UNICAST)
    mp_wd = [b for b in msg.withdrawn if b.family != IPV4_UNICAST]
    classic_ann = [b for b in msg.announced if b.family == IPV4_UNICAST]
    mp_ann = [b for b in msg.announced if b.family != IPV4_UNICAST]
    if len({b.family for b in mp_wd}) > 1 or len(mp_ann) > 1:
        raise ValueError("an UPDATE holds at most one MP_REACH_NLRI and one MP_UNREACH_NLRI")
    attrs = b""
    if mp_wd:
        family = mp_wd[0].family
        value = struct.pack("!HB", family.afi, family.safi) + b"".join(
            _batch_entries(b, ctx) for b in mp_wd
        )
        attrs += _MP_ATTR_HEAD + _MP_UNREACH + _length16(value) + value
    if mp_ann:
        batch = mp_ann[0]
        value = _mp_reach_head(batch.family, batch.next_hop) + _batch_entries(batch, ctx)
        attrs += _MP_ATTR_HEAD + _MP_REACH + _length16(value) + value
    nlri = b""
    if msg.announced:
        if msg.attributes is None:
            raise ValueError("announced prefixes need attributes")
        path_attrs = msg.attributes
        if classic_ann:
            next_hops = {b.next_hop for b in classic_ann}
            if path_attrs.next_hop is None and len(next_hops) == 1:
                path_attrs = path_attrs.replace(next_hop=next_hops.pop())
            elif next_hops != {path_attrs.next_hop}:
                raise ValueError("classic NLRI must share the NEXT_HOP attribute")
            nlri = b"".join(_batch_entries(b, ctx) for b in classic_ann)
        attrs += encode_path_attributes(path_attrs, ctx)
    size = HEADER_LEN + 4 + len(classic_wd) + len(attrs) + len(nlri)
    if size > ctx.max_message_len:  # checked first: beyond 65,535 the length cannot be packed
        raise ValueError(f"UPDATE of {size} octets exceeds {ctx.max_message_len}")
    return _update(classic_wd, attrs, nlri)
