"""Holding the export back while a peer's input is backlogged, so that one UPDATE sent carries
what several reads brought.

Role: after the runtime hands the speaker a loop turn's reads (`Speaker.begin_batch`), this
decides whether the batch ends now (`end_batch`: the Loc-RIB's changes are exported and sent)
or stays open into the next turn, whose reads then add their changes to the same batch. A
sender that spreads an attribute set's prefixes over its stream (BIRD feeding a table packs
1-2 prefixes per UPDATE) otherwise costs one change group, one UPDATE encoded and one sent
per UPDATE received; held over several reads, the Loc-RIB coalesces them per prefix and the
exporter packs each set's prefixes together (docs/performance.md, "Ingest and forward").
BIRD gets the same effect by writing only when its socket is writable.

Invariants:
- A batch is held only while the input is backlogged: some connection of the batch returned
  at least `BACKLOG_READ` bytes from one read and still has bytes waiting in its socket
  (FIONREAD). A trickle (a reflector's clients joining, routine churn) is never held.
- Bounded: a held batch ends at the first turn that finds no backlog, at the first turn that
  finds `HOLD_MAX_STAGED` prefixes or more staged in the Loc-RIB, or at the first turn that
  finds `HOLD_MAX_S` passed since the held batch began; the owner arms a timer for that
  moment, so a hold ends even if no input comes. The delay a route sees is at most
  `HOLD_MAX_S` plus the processing of one read; the kernel's "converged" step waits for it.
- Only the export waits: session messages (KEEPALIVE, NOTIFICATION, OPEN) go out as they are
  made, and the order of what each peer receives is the speaker's (nothing is reordered).
- The decision is the runtime's: the sans-IO speaker never reads the clock, it only sees a
  batch that lasts longer.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios

__all__ = ["BACKLOG_READ", "HOLD_MAX_S", "HOLD_MAX_STAGED", "ExportHold", "bytes_waiting"]

# One read this big means the peer's stream outruns us (asyncio reads at most 256 KiB at a
# time; a peer's routine UPDATEs arrive in reads of a few KiB).
BACKLOG_READ = 1 << 16
# A 256 KiB read of 1-2 prefixes per UPDATE takes 30-50 ms to process on an idle core, 100-400
# ms on a loaded one: 0.25 s holds 2-6 of them. An attribute set's prefixes recur only
# thousands of UPDATEs apart in such a stream, so the longer the hold, the fewer UPDATEs go
# out; the bound keeps routes moving meanwhile.
HOLD_MAX_S = 0.25
# A batch this big amortises the per-UPDATE cost already (one read of 35 prefixes per UPDATE
# brings about 40,000): holding it longer only delays it.
HOLD_MAX_STAGED = 20_000

_INT = struct.Struct("i")


def bytes_waiting(sock: socket.socket | None) -> int:
    """Bytes received on `sock` that nobody has read yet (0 when that cannot be told)."""
    if sock is None:
        return 0
    try:
        return int(_INT.unpack(fcntl.ioctl(sock.fileno(), termios.FIONREAD, bytes(4)))[0])
    except (OSError, ValueError):
        return 0  # closed meanwhile: its loss is the next input, nothing to wait for


class ExportHold:
    """When the held batch began (None: no batch is held), how many backlogged turns it has
    taken, and why it ended (for the debug line; one turn: the batch was not extended)."""

    __slots__ = ("reason", "since", "turns")

    def __init__(self) -> None:
        self.since: float | None = None
        self.turns = 0
        self.reason = ""

    def keep(self, started: float, now: float, *, backlogged: bool, staged: int) -> bool:
        """Whether the batch (its latest turn began at `started`) stays open at `now`, given
        whether the input is still backlogged and how many prefixes wait in the Loc-RIB."""
        if not backlogged:
            self.reason = "drained"
        else:
            if self.since is None:
                self.since, self.turns = started, 0
            self.turns += 1
            if staged >= HOLD_MAX_STAGED:
                self.reason = "staged"
            elif now - self.since >= HOLD_MAX_S:
                self.reason = "time"
            else:
                return True
        self.since = None
        return False

    @property
    def deadline(self) -> float | None:
        """When a held batch must end even without input."""
        return None if self.since is None else self.since + HOLD_MAX_S
