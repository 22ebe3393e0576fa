"""One BFD session in asynchronous mode (RFC 5880 §6.8): the state machine, its timers and
the Poll Sequence, sans-IO.

Role: the table (bgpd.bfd.table) hands it the packets addressed to it and the time; it queues
the packets to send (`take_packets`), reports its state changes (`take_changes`) and says
when it must next be woken (`next_deadline`). It never reads a clock or a socket: `now` is a
parameter (seconds, monotonic), jitter comes from the injected `random.Random`.

Invariants:
- While not Up, the transmit interval is at least one second (§6.8.3); on reaching Up the
  configured interval is advertised, and every later change of our intervals runs a Poll
  Sequence (§6.5): an increase of our transmit interval and a decrease of our required
  receive interval only take effect once the remote answered with Final (§6.8.3).
- Transmission (§6.8.7): every max(DesiredMinTx, RemoteMinRx), less 0-25% jitter (10-25%
  when our detect multiplier is 1); nothing periodic while the remote's RequiredMinRx is 0 or
  it asked for demand mode with both sides Up. A Final is sent at once in reply to a Poll, and
  a packet at once on a change of state (both allowed at any time, §6.8.7).
- Detection (§6.8.4): the remote's detect multiplier times max(our RequiredMinRx, its last
  DesiredMinTx); when it passes without a valid packet an Init or Up session goes Down with
  diagnostic 1, and the remote discriminator is forgotten (§6.8.1).
- AdminDown (§6.8.16): a session we disable sends AdminDown with diagnostic 7 and ignores
  what it receives; the remote's AdminDown takes an Up session Down with diagnostic 3, which a
  client must not read as a forwarding failure (RFC 5882 §3.2: `StateChanged.failure`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bgpd.bfd.packet import ControlPacket, Diagnostic, State, encode_control

__all__ = ["BfdSession", "BfdSettings", "StateChanged"]

SLOW_TX_US = 1_000_000  # §6.8.3: while not Up, transmit no faster than once a second


@dataclass(frozen=True, slots=True, kw_only=True)
class BfdSettings:
    """Our side's parameters; intervals in microseconds as on the wire."""

    desired_min_tx_us: int
    required_min_rx_us: int
    detect_mult: int

    def __post_init__(self) -> None:
        if self.desired_min_tx_us <= 0:
            raise ValueError("desired_min_tx_us must be positive (RFC 5880 §6.8.1)")
        if self.required_min_rx_us < 0:
            raise ValueError("required_min_rx_us must not be negative")
        if not 1 <= self.detect_mult <= 255:
            raise ValueError("detect_mult must be 1..255")


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged:
    """The session went from `old` to `new` at `at`. `failure` is True when it left Up because
    the path is gone (the detection time passed, or the neighbour said Down), False when either
    side took it down administratively (RFC 5882 §3.2: AdminDown is no forwarding failure)."""

    old: State
    new: State
    diag: Diagnostic
    at: float
    failure: bool = False


class BfdSession:
    __slots__ = (
        "_changes",
        "_detect_at",
        "_last_rx_at",
        "_out",
        "_polling",
        "_reply_final",
        "_rng",
        "_rx_in_use_us",
        "_send_now",
        "_settings",
        "_tx_at",
        "_tx_in_use_us",
        "diag",
        "local_discr",
        "remote_demand",
        "remote_detect_mult",
        "remote_discr",
        "remote_min_rx_us",
        "remote_min_tx_us",
        "remote_state",
        "state",
        "state_since",
    )

    def __init__(
        self, *, local_discr: int, settings: BfdSettings, rng: random.Random, now: float
    ) -> None:
        if not 0 < local_discr <= 0xFFFFFFFF:
            raise ValueError("the local discriminator must be nonzero (RFC 5880 §6.8.1)")
        self.local_discr = local_discr
        self._settings = settings
        self._rng = rng
        self.state = State.DOWN
        self.state_since = now
        self.diag = Diagnostic.NONE
        self.remote_state = State.DOWN
        self.remote_discr = 0
        self.remote_min_rx_us = 1  # §6.8.1: the initial value
        self.remote_min_tx_us = 0
        self.remote_detect_mult = 0
        self.remote_demand = False
        # The intervals actually in force (§6.8.3: changes wait for the Poll Sequence).
        self._tx_in_use_us = SLOW_TX_US
        self._rx_in_use_us = settings.required_min_rx_us
        self._polling = False
        self._reply_final = False
        self._send_now = True
        self._tx_at: float | None = now
        self._detect_at: float | None = None
        self._last_rx_at: float | None = None
        self._out: list[bytes] = []
        self._changes: list[StateChanged] = []

    # ---------------------------------------------------------------------------- reading

    @property
    def settings(self) -> BfdSettings:
        return self._settings

    @property
    def polling(self) -> bool:
        return self._polling

    def tx_interval_us(self) -> int:
        """The interval between our periodic packets before jitter (§6.8.7)."""
        return max(self._tx_in_use_us, self.remote_min_rx_us)

    def detection_time_us(self) -> int:
        """How long without a packet before we declare the session down (§6.8.4)."""
        return self.remote_detect_mult * max(self._rx_in_use_us, self.remote_min_tx_us)

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self._tx_at, self._detect_at) if d is not None]
        return min(deadlines, default=None)

    def take_packets(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def take_changes(self) -> list[StateChanged]:
        changes, self._changes = self._changes, []
        return changes

    # ---------------------------------------------------------------------------- inputs

    def handle_packet(self, packet: ControlPacket, now: float) -> None:
        """A packet that passed `decode_control` and whose Your Discriminator is ours or 0
        (the table's demultiplexing): RFC 5880 §6.8.6 from "Set bfd.RemoteDiscr" on."""
        self.remote_discr = packet.my_discr
        self.remote_state = packet.state
        self.remote_demand = packet.demand
        self.remote_min_rx_us = packet.required_min_rx_us
        self.remote_min_tx_us = packet.desired_min_tx_us
        self.remote_detect_mult = packet.detect_mult
        if packet.final and self._polling:
            self._end_poll()
        self._last_rx_at = now
        self._arm_detection(now)
        if packet.poll:
            self._reply_final = True
            self._send_now = True
        if self.state is State.ADMIN_DOWN:
            return
        if packet.state is State.ADMIN_DOWN:
            if self.state is not State.DOWN:
                self._set_state(State.DOWN, Diagnostic.NEIGHBOR_DOWN, now, failure=False)
        elif self.state is State.DOWN:
            if packet.state is State.DOWN:
                self._set_state(State.INIT, Diagnostic.NONE, now)
            elif packet.state is State.INIT:
                self._set_state(State.UP, Diagnostic.NONE, now)
        elif self.state is State.INIT:
            if packet.state in (State.INIT, State.UP):
                self._set_state(State.UP, Diagnostic.NONE, now)
        elif packet.state is State.DOWN:  # Up
            self._set_state(State.DOWN, Diagnostic.NEIGHBOR_DOWN, now)
        self._reschedule_tx(now)

    def handle_timer(self, now: float) -> None:
        if self._detect_at is not None and now >= self._detect_at:
            self._detect_at = None
            self.remote_discr = 0  # §6.8.1: forgotten when the detection time expires
            self.remote_min_rx_us = 1
            self.remote_state = State.DOWN
            if self.state in (State.INIT, State.UP):
                self._set_state(State.DOWN, Diagnostic.CONTROL_DETECTION_EXPIRED, now)
        if self._tx_at is not None and now >= self._tx_at:
            self._transmit(now)
            self._tx_at = None
            self._send_now = False
            self._reschedule_tx(now)

    def set_settings(self, settings: BfdSettings, now: float) -> None:
        """New parameters (a reload): advertised at once with a Poll while Up (§6.8.3)."""
        if settings == self._settings:
            return
        old = self._settings
        self._settings = settings
        if self.state is not State.UP:
            self._rx_in_use_us = settings.required_min_rx_us
            self._send_now = True
            self._reschedule_tx(now)
            return
        # §6.8.3: a faster transmit and a larger required receive apply at once; a slower
        # transmit and a smaller required receive wait for the Final.
        if settings.desired_min_tx_us < old.desired_min_tx_us:
            self._tx_in_use_us = settings.desired_min_tx_us
        if settings.required_min_rx_us > self._rx_in_use_us:
            self._rx_in_use_us = settings.required_min_rx_us
            self._arm_detection(now)
        self._start_poll(now)

    def set_admin_down(self, now: float) -> None:
        """§6.8.16: AdminDown with diagnostic 7; the remote must not read it as a failure."""
        if self.state is State.ADMIN_DOWN:
            return
        self._set_state(State.ADMIN_DOWN, Diagnostic.ADMIN_DOWN, now)
        self._detect_at = None
        self._reschedule_tx(now)

    def set_admin_up(self, now: float) -> None:
        if self.state is not State.ADMIN_DOWN:
            return
        self._set_state(State.DOWN, Diagnostic.NONE, now)
        self._reschedule_tx(now)

    # ---------------------------------------------------------------------------- internals

    def _set_state(self, new: State, diag: Diagnostic, now: float, *, failure: bool = True) -> None:
        old = self.state
        self.state = new
        self.state_since = now
        if new is not State.UP:
            self.diag = diag if diag is not Diagnostic.NONE else self.diag
            self._tx_in_use_us = SLOW_TX_US
            self._polling = False
        else:
            # Up: the configured intervals, announced with a Poll (§6.8.3). Going faster
            # takes effect at once; only a configured interval above a second would wait.
            self.diag = Diagnostic.NONE
            self._tx_in_use_us = min(self._settings.desired_min_tx_us, SLOW_TX_US)
            self._rx_in_use_us = max(self._rx_in_use_us, self._settings.required_min_rx_us)
            self._start_poll(now)
        self._send_now = True
        failed = failure and old is State.UP and new is State.DOWN
        self._changes.append(StateChanged(old=old, new=new, diag=diag, at=now, failure=failed))

    def _start_poll(self, now: float) -> None:
        self._polling = True
        self._send_now = True
        self._reschedule_tx(now)

    def _end_poll(self) -> None:
        self._polling = False
        self._tx_in_use_us = self._advertised_tx_us()
        self._rx_in_use_us = self._settings.required_min_rx_us

    def _advertised_tx_us(self) -> int:
        if self.state is State.UP:
            return self._settings.desired_min_tx_us
        return max(self._settings.desired_min_tx_us, SLOW_TX_US)

    def _arm_detection(self, now: float) -> None:
        if self._last_rx_at is None or self.state is State.ADMIN_DOWN:
            return
        detection = self.detection_time_us()
        self._detect_at = self._last_rx_at + detection / 1e6 if detection else None

    def _reschedule_tx(self, now: float) -> None:
        if self._send_now:
            self._tx_at = now
            return
        if self.remote_min_rx_us == 0 or (
            self.remote_demand and self.state is State.UP and self.remote_state is State.UP
        ):
            self._tx_at = None
            return
        if self._tx_at is not None:
            # Never later than the new interval allows (a faster rate applies at once), and an
            # overdue one stays due: a packet handled before our late timer in the same turn
            # must not push our transmission an interval further (two intervals of silence).
            self._tx_at = min(self._tx_at, now + self.tx_interval_us() / 1e6)
            return
        self._tx_at = now + self._jittered(self.tx_interval_us()) / 1e6

    def _jittered(self, interval_us: int) -> float:
        # §6.8.7: 0-25% less; at most 90% of the interval when the detect multiplier is 1.
        high = 0.9 if self._settings.detect_mult == 1 else 1.0
        return interval_us * self._rng.uniform(0.75, high)

    def _transmit(self, now: float) -> None:
        final = self._reply_final
        self._reply_final = False
        packet = ControlPacket(
            state=self.state,
            diag=self.diag,
            poll=self._polling and not final,
            final=final,
            detect_mult=self._settings.detect_mult,
            my_discr=self.local_discr,
            your_discr=self.remote_discr,
            desired_min_tx_us=self._advertised_tx_us(),
            required_min_rx_us=self._settings.required_min_rx_us,
        )
        self._out.append(encode_control(packet))
