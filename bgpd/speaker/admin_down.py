"""Administrative shutdown of one peer by the operator (`bgpctl peer NAME disable`, BIRD's
`disable NAME`), kept until the operator enables it again.

Role: `AdminDisabling` is the part of `bgpd.speaker.core.Speaker` that stops a peer's session
with Cease/Administrative Shutdown carrying the operator's RFC 8203/9003 Shutdown Communication,
withdraws its routes, and keeps it down: it is not started again (`start_allowed`), its
connections are refused, until `enable_peer`. BIRD's `restart NAME` is a hard reset
(`reset_peer`), as BIRD restarts a protocol.

Invariants: a mixin of `Speaker` only, state in the Speaker's `_disabled` slot (peer name → the
operator's message, "" for none). The state lives in the running speaker, not in the config: a
reload (which re-creates a peer's session when its parameters change) keeps it; a peer the
reload removes forgets it; a restart of bgpd starts every peer again, as BIRD does for a
protocol disabled from its CLI. A message longer than RFC 9003's 255 octets is refused, never
cut.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from bgpd.speaker.peer_state import PeerState
from bgpd.wire.constants import CeaseSubcode
from bgpd.wire.messages import MAX_SHUTDOWN_OCTETS

logger = logging.getLogger(__name__)

DISABLED_TEXT = "disabled by operator"


class ShutdownMessageError(ValueError):
    """The operator's shutdown message does not fit a Shutdown Communication."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminChange:
    """What `disable_peer`/`enable_peer` did: `changed` False when the peer already was so."""

    peer: str
    changed: bool


def disabled_reason(message: str) -> str:
    """The down reason of a disabled peer, as views show it."""
    return f"{DISABLED_TEXT}: {message}" if message else DISABLED_TEXT


class AdminDisabling:
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:  # the Speaker's state and steps this uses (speaker.core)
        _peers: dict[str, PeerState]
        _disabled: dict[str, str]

        def _for_peer(self, name: str, now: float, step: Callable[[], None]) -> None: ...
        def _propagate(self, now: float) -> None: ...
        def start_allowed(self, peer: str) -> bool: ...

    def disabled_message(self, peer: str) -> str | None:
        """The operator's message of a disabled peer ("" without one), None when enabled."""
        return self._disabled.get(peer)

    def disable_peer(self, name: str, now: float, message: str = "") -> AdminChange:
        """Cease/Administrative Shutdown with `message` (RFC 8203/9003), and the peer stays
        down until `enable_peer`. KeyError for an unknown peer; `ShutdownMessageError` for a
        message over 255 octets of UTF-8."""
        state = self._peers[name]
        if len(message.encode("utf-8")) > MAX_SHUTDOWN_OCTETS:
            raise ShutdownMessageError(
                f"shutdown message is {len(message.encode('utf-8'))} octets of UTF-8, "
                f"at most {MAX_SHUTDOWN_OCTETS} fit (RFC 9003)"
            )
        if name in self._disabled:
            return AdminChange(peer=name, changed=False)
        self._disabled[name] = message
        logger.info(
            "peer disabled peer=%s address=%s message=%r", name, state.config.address, message
        )
        session = state.session
        self._for_peer(name, now, partial(session.stop, now, CeaseSubcode.ADMIN_SHUTDOWN, message))
        self._propagate(now)
        return AdminChange(peer=name, changed=True)

    def enable_peer(self, name: str, now: float) -> AdminChange:
        """The peer may run again: started unless something else holds it down (its config,
        BFD). KeyError for an unknown peer."""
        state = self._peers[name]
        if self._disabled.pop(name, None) is None:
            return AdminChange(peer=name, changed=False)
        logger.info("peer enabled peer=%s address=%s", name, state.config.address)
        if self.start_allowed(name):
            self._for_peer(name, now, partial(state.session.start, now))
        return AdminChange(peer=name, changed=True)

    def disabled_names(self) -> list[str]:
        """The peers an operator disabled."""
        return list(self._disabled)

    def disabled_keep_only(self, peers: Iterable[str]) -> None:
        """After a reload: a peer the new config no longer has forgets it was disabled."""
        for name in set(self._disabled) - set(peers):
            del self._disabled[name]
