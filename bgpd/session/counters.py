"""Per-peer counters for metrics and `bgpctl show peer`.

Invariants: counters only grow (except `last_*` fields, which are overwritten); they live on the
`Session` across connections, so they survive flaps. The metrics collector reads them at scrape
time.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpd.session.throttle import LogThrottle
from bgpd.wire.constants import ErrorAction, MessageType

# The RFC 7606 actions a session survives (session reset ends it and is the last error).
SOFT_ACTIONS = (
    ErrorAction.AFI_SAFI_DISABLE,
    ErrorAction.TREAT_AS_WITHDRAW,
    ErrorAction.ATTRIBUTE_DISCARD,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LastError:
    """The last NOTIFICATION sent or received (or a hold-timer expiry, which sends one)."""

    code: int
    subcode: int
    text: str  # human description, e.g. "Cease/Administrative Shutdown: maintenance"
    at: float
    sent: bool  # True when we sent it


class PeerCounters:
    """A small mutable record; the Session updates it on every message in and out."""

    __slots__ = (
        "established_transitions",
        "input_warnings",
        "last_error",
        "last_input_problem",
        "last_state_change",
        "messages_in",
        "messages_out",
        "next_hop_refused",
        "prefixes_announced_in",
        "prefixes_announced_out",
        "prefixes_withdrawn_in",
        "prefixes_withdrawn_out",
        "prefixes_withheld_too_big",
        "rfc7606_actions",
        "socket_error",
    )

    def __init__(self) -> None:
        # Keyed by MessageType members (plain ints index them too, as IntEnum hashes equal).
        self.messages_in: dict[int, int] = dict.fromkeys(MessageType, 0)
        self.messages_out: dict[int, int] = dict.fromkeys(MessageType, 0)
        self.prefixes_announced_in = 0
        self.prefixes_withdrawn_in = 0
        self.prefixes_announced_out = 0  # counted by the speaker as it hands UPDATEs over
        self.prefixes_withdrawn_out = 0
        # Announcements not sent because their attributes leave no room for the prefix in one
        # message of the peer's maximum size (counted by the speaker, each time one is due).
        self.prefixes_withheld_too_big = 0
        self.established_transitions = 0  # flaps: how many times the session came up
        self.last_error: LastError | None = None
        self.last_state_change: float | None = None
        # (text, when) of the last failed connection attempt ("Connection refused", a
        # timeout) since the session was last up: what an operator needs when a session never
        # even reaches OPEN (bgpctl and the BIRD-compatible sockets both show it).
        self.socket_error: tuple[str, float] | None = None
        # RFC 7606 §8: how often each softer action was applied to the peer's UPDATEs (an
        # UPDATE with two discarded attributes counts two), keyed by `ErrorAction.value`.
        self.rfc7606_actions: dict[str, int] = {a.value: 0 for a in SOFT_ACTIONS}
        # RFC 4271 §6.3: prefixes treated as withdrawn for an unusable next hop, per reason
        # (bgpd.policy.next_hop.REASONS); a reason appears once it happened.
        self.next_hop_refused: dict[str, int] = {}
        # (text, when) of the latest of those two kinds of problem, for `bgpctl show peer`.
        self.last_input_problem: tuple[str, float] | None = None
        # Rate limit of the warning lines about the peer's input (both kinds above).
        self.input_warnings = LogThrottle()

    def note_socket_error(self, text: str, at: float) -> None:
        self.socket_error = (text, at)

    @property
    def updates_in(self) -> int:
        return self.messages_in[MessageType.UPDATE]

    @property
    def updates_out(self) -> int:
        return self.messages_out[MessageType.UPDATE]

    def last_error_text(self) -> str:
        """The latest of: the last NOTIFICATION ("Sent: ..." / "Received: ..."), the last
        failed connection attempt ("Socket: ...", as BIRD says it); "" when neither."""
        latest = self.latest_error()
        return "" if latest is None else latest[0]

    def latest_error(self) -> tuple[str, float] | None:
        """`last_error_text` with the time it happened (the session's clock), None when none."""
        err, sock = self.last_error, self.socket_error
        if sock is not None and (err is None or sock[1] >= err.at):
            return f"Socket: {sock[0]}", sock[1]
        if err is None:
            return None
        return f"{'Sent' if err.sent else 'Received'}: {err.text}", err.at

    def __repr__(self) -> str:
        return (
            f"PeerCounters(in={dict(self.messages_in)}, out={dict(self.messages_out)}, "
            f"flaps={self.established_transitions}, last_error={self.last_error})"
        )
