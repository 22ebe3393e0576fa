"""Text from peers and datastores made safe to print: one rule for every text output.

Role: a peer's RFC 8203 shutdown text, a peer name or description from a datastore, an
interface name, a client's command echoed back... reach the BIRD-compatible sockets, bgpctl's
tables and the text logs. A control character in them could end a reply or a log line early and
forge the next one (calicoctl and calico-node's -bird-ready read BIRD replies line by line), or
drive the operator's terminal (`ESC [2J`). `escape_controls` replaces each such character by a
visible escape and keeps every printable character, Unicode included.

Invariants: the result holds no character of `UNSAFE_CATEGORIES` (so no line break of any kind,
no terminal control, no invisible formatting character); printable text comes back unchanged
(and without a copy); escaping an escaped text changes nothing. Stdlib only, no I/O.
"""

from __future__ import annotations

import unicodedata

# Unicode general categories escaped: Cc controls (C0, DEL, C1 with NEL U+0085), Cf format
# characters (bidirectional overrides, zero-width characters: they reorder or hide text), Zl and
# Zp (U+2028/U+2029 break lines in many viewers), Cs lone surrogates (undecodable bytes).
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_controls(text: str) -> str:
    """`text` with every unsafe character as a visible escape: `\\n`, `\\r`, `\\t`, `\\x1b`,
    `\\u2028`, `\\U000e0001`. Printable text (the common case) is returned as it is."""
    if text.isprintable():
        return text
    return "".join(_escape(c) if unicodedata.category(c) in UNSAFE_CATEGORIES else c for c in text)


def escape_controls_by_line(text: str) -> str:
    """For multi-line text bgpd wrote itself (a config's problems, the running config): each
    "\\n" stays a line break; every other unsafe character is escaped."""
    return "\n".join(escape_controls(line) for line in text.split("\n"))


def is_safe(text: str) -> bool:
    """True when `escape_controls` would return `text` unchanged."""
    return text.isprintable() or not any(unicodedata.category(c) in UNSAFE_CATEGORIES for c in text)


def ascii_digits(text: str) -> bool:
    """True for a non-empty run of ASCII digits only: `str.isdigit` also accepts "²" and "٣",
    which `int()` then refuses or reads as a number nobody typed."""
    return text.isascii() and text.isdigit()
