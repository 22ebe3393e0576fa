"""NLRI fields (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3): parsing into packed prefixes, packing.

Invariants: parsed prefixes are `Nlri` bytes (length octet + ceil(length/8) octets) with host
bits cleared, so equal prefixes are equal bytes. Parsing either consumes the whole field or
raises `NlriError` (the caller picks the RFC 7606 action: session reset for the classic fields,
AFI/SAFI disable inside MP attributes, RFC 7606 §5.3).

The loops are the decoder's hot path: per prefix they do one table lookup for the span (an
invalid length maps to a span that overruns any field, so one comparison catches both errors),
one slice, and one table lookup for stray host bits. An IPv4 field is first split by a regular
expression in C (`_V4_PREFIX`: a well-formed prefix with clean host bits, one alternative per
length); a field it does not cover whole (a bad length, host bits set) takes the loop, which
cleans or refuses exactly as before.
"""

from __future__ import annotations

import re
from typing import cast

from bgpd.net import Afi, Nlri

_TOO_LONG = 1 << 30  # span of an invalid prefix length: overruns every field


def _spans(max_bits: int) -> tuple[int, ...]:
    return tuple(1 + (n + 7) // 8 if n <= max_bits else _TOO_LONG for n in range(256))


SPAN_V4 = _spans(32)
SPAN_V6 = _spans(128)
SPANS: dict[Afi, tuple[int, ...]] = {Afi.IPV4: SPAN_V4, Afi.IPV6: SPAN_V6}
MAX_BITS: dict[Afi, int] = {Afi.IPV4: 32, Afi.IPV6: 128}
# Bits of the last octet that lie past the prefix length (0 when the length is a multiple of 8).
_HOST_MASK = tuple((0xFF >> (n % 8)) if n % 8 else 0 for n in range(256))
_KEEP_MASK = tuple((0xFF << (8 - n % 8)) & 0xFF if n % 8 else 0xFF for n in range(256))


def _v4_alternative(plen: int) -> bytes:
    """A regex matching one IPv4 prefix of length `plen` with no host bit set."""
    octets = (plen + 7) // 8
    head = re.escape(bytes((plen,))) + b"." * max(octets - 1, 0)
    if octets == 0 or plen % 8 == 0:
        return head + b"." * (octets > 0)
    keep = _KEEP_MASK[plen]
    last = b"".join(re.escape(bytes((x,))) for x in range(256) if x & ~keep & 0xFF == 0)
    return head + b"[" + last + b"]"


# The lengths of a full table's bulk first: the alternatives are tried in order.
_V4_ORDER = (24, 22, 23, 21, 20, 19, 18, 17, 16, 32)
_V4_PREFIX = re.compile(
    b"(?s)"
    + b"|".join(
        _v4_alternative(n) for n in (*_V4_ORDER, *(n for n in range(33) if n not in _V4_ORDER))
    )
)


class NlriError(Exception):
    """A syntactically incorrect NLRI field (RFC 7606 §5.3); never escapes the codec."""


def _clean(data: bytes, i: int, j: int, plen: int) -> bytes:
    return data[i : j - 1] + bytes((data[j - 1] & _KEEP_MASK[plen],))


def parse_prefixes(data: bytes, span: tuple[int, ...]) -> list[Nlri]:
    """Every prefix of an NLRI field without path ids."""
    if span is SPAN_V4:
        # Matches never overlap, so matches as long as the field together are the field.
        found = cast(list[Nlri], _V4_PREFIX.findall(data))
        if sum(map(len, found)) == len(data):
            return found
    return parse_prefixes_loop(data, span)


def parse_prefixes_loop(data: bytes, span: tuple[int, ...]) -> list[Nlri]:
    """`parse_prefixes` a prefix at a time: the general way, and the one that cleans host bits
    and reports errors."""
    out: list[Nlri] = []
    append = out.append
    mask = _HOST_MASK
    i = 0
    n = len(data)
    while i < n:
        plen = data[i]
        j = i + span[plen]
        if j > n:
            raise NlriError(_describe(data, i, span))
        if data[j - 1] & mask[plen]:
            append(_clean(data, i, j, plen))
        else:
            append(data[i:j])
        i = j
    return out


def parse_prefixes_add_path(data: bytes, span: tuple[int, ...]) -> tuple[list[Nlri], list[int]]:
    """Every (path id, prefix) of an NLRI field with RFC 7911 §3 path identifiers."""
    out: list[Nlri] = []
    ids: list[int] = []
    append = out.append
    add_id = ids.append
    mask = _HOST_MASK
    from_bytes = int.from_bytes
    i = 0
    n = len(data)
    while i < n:
        if i + 5 > n:
            raise NlriError("truncated path identifier")
        add_id(from_bytes(data[i : i + 4], "big"))
        i += 4
        plen = data[i]
        j = i + span[plen]
        if j > n:
            raise NlriError(_describe(data, i, span))
        if data[j - 1] & mask[plen]:
            append(_clean(data, i, j, plen))
        else:
            append(data[i:j])
        i = j
    return out, ids


def _describe(data: bytes, i: int, span: tuple[int, ...]) -> str:
    plen = data[i]
    if span[plen] == _TOO_LONG:
        return f"prefix length {plen} too long for the family"
    return f"prefix of length {plen} overruns the NLRI field"


def pack_prefix_with_id(path_id: int, prefix: Nlri) -> bytes:
    return path_id.to_bytes(4, "big") + prefix
