"""The restarting speaker (RFC 4724 §4.1): our exports deferred until the peers' End-of-RIB.

Role: `Recovery` is the part of `bgpd.speaker.core.Speaker` that runs a start with
`[bgp] graceful_restart` after a restart that kept the forwarding state (`set_restarting`): our
OPENs carry the R and F bits, so helpers keep our routes until our End-of-RIB, and nothing is
sent until every peer's End-of-RIB has rebuilt the Loc-RIB (or `[bgp] graceful_restart_wait`
passed); then every peer gets its whole table at once (`Exporter.release`). Without this a
restarted reflector would announce an empty table and End-of-RIB, and its clients would drop
what it had not relearned yet.

Invariants: a mixin of `Speaker` only, with no state of its own (no slots): it reads and writes
the Speaker's attributes declared below for the type checker. The wait's deadline is taken from
the first input's `now` (the core never reads the clock); a peer that cannot be reached, lacks
the capability or is restarting itself is not waited for.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from bgpd.config import Config
from bgpd.net import Family
from bgpd.outbound.exporter import Exporter
from bgpd.session import SessionState
from bgpd.speaker.peer_state import PeerState

logger = logging.getLogger(__name__)


class Recovery:
    # No state of its own: the Speaker's slots hold it. The empty __slots__ keeps Speaker
    # instances without a __dict__; mypy would read it as forbidding the assignments below.
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:  # the Speaker's state and steps the recovery uses (speaker.core)
        _config: Config
        _peers: dict[str, PeerState]
        _exporter: Exporter
        _eor_seen: set[tuple[str, Family]]
        _recovering: bool
        _recovery_deadline: float | None
        _recovery_gone: set[str]

        def _send_touched(self) -> None: ...
        def start_allowed(self, peer: str) -> bool: ...
        def _end_faulted(self, now: float) -> None: ...

    @property
    def recovering(self) -> bool:
        """Whether we are still a restarting speaker deferring our exports (RFC 4724 §4.1)."""
        return self._recovering

    def set_restarting(self, restarting: bool, now: float | None = None) -> None:
        """RFC 4724: we restarted with our forwarding state kept. The next OPENs carry the R
        and F bits, so helpers keep our routes until our End-of-RIB instead of dropping them
        at once, and (§4.1) nothing is sent until our peers' End-of-RIB has rebuilt the
        Loc-RIB (or `[bgp] graceful_restart_wait` passed): then every peer gets the whole table
        and End-of-RIB. Without this a restarted reflector would announce an empty table and
        End-of-RIB, and its clients would drop what it had not relearned yet."""
        for state in self._peers.values():
            settings = state.session.settings
            if settings.restarting != restarting:
                state.session.update_settings(replace(settings, restarting=restarting))
        if restarting and not self._recovering:
            self._recovering = True
            self._recovery_deadline = None  # set from the clock at the next input
            self._recovery_gone.clear()
            self._exporter.deferred = True
        elif not restarting and self._recovering:
            self._finish_recovery(self._recovery_deadline if now is None else now)

    def _check_recovery(self, now: float) -> None:
        if not self._recovering:
            return
        if self._recovery_deadline is None:
            self._recovery_deadline = now + self._config.bgp.graceful_restart_wait
        if now >= self._recovery_deadline:
            logger.warning(
                "graceful restart end-of-rib wait over seconds=%d action=send_routes",
                self._config.bgp.graceful_restart_wait,
            )
            self._finish_recovery(now)
        elif self._recovery_done():
            self._finish_recovery(now)

    def _recovery_done(self) -> bool:
        """Every peer sent End-of-RIB, lacks the capability, is restarting itself (its R bit:
        it waits for ours, RFC 4724 §4.1), or could not be reached."""
        for name, state in self._peers.items():
            established = state.session.state is SessionState.ESTABLISHED
            if not established:
                if name in self._recovery_gone or not self.start_allowed(name):
                    continue
                return False
            negotiated = state.session.negotiated
            gr = None if negotiated is None else negotiated.peer_graceful_restart
            if negotiated is None or gr is None or gr.restart_state:
                continue  # RFC 4724 §4.1: no End-of-RIB to wait for from that peer
            if any((name, family) not in self._eor_seen for family in negotiated.families):
                return False
        return True

    def _finish_recovery(self, now: float | None) -> None:
        self._recovering = False
        self._recovery_deadline = None
        for state in self._peers.values():
            settings = state.session.settings
            if settings.restarting:
                state.session.update_settings(replace(settings, restarting=False))
        if now is not None:
            logger.info("graceful restart end-of-rib from every peer action=send_routes")
            self._exporter.release(now)
            self._send_touched()
            self._end_faulted(now)
