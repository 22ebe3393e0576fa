"""Reload: one `ConfigDiff`, computed once, cut into the slice each part applies.

Role: `Reloader.reload` loads the new config, asks `plan_reload` what changed, binds every new
listening socket first (the daemon's `SocketEdges`), then hands each part only its slice: the
speaker the whole diff (`Speaker.apply_config`), the BGP listeners `listen`, their TCP-MD5
keys `md5_keys`, the control and metrics sockets their moves, logging its level and format,
kernel sync `kernel` (a re-plan of the whole table only when what kernel sync reads changed).

Invariants:
- `plan_reload` is pure: two configs in, a frozen plan out.
- Nothing is re-derived elsewhere: a part that is not named in the plan is not touched.
- A config that fails to load, or names a socket that cannot be bound, never replaces the
  running one: counted, logged, and raised as a `ControlCommandError` with the problems.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bgpd.config import Config, ConfigDiff, ConfigError, diff_configs
from bgpd.control.protocol import ControlCommandError
from bgpd.errors import os_error_text
from bgpd.logs import set_format, set_level
from bgpd.metrics import ReloadStats
from bgpd.runtime.kernel_wiring import KernelWiring
from bgpd.runtime.listeners import ListenError, SocketStage
from bgpd.runtime.sessions import Sessions
from bgpd.speaker import Speaker

__all__ = ["ReloadPlan", "Reloader", "SocketEdges", "plan_reload"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadPlan:
    diff: ConfigDiff  # the speaker's slice is the whole diff
    listen: bool  # the BGP listening addresses or port moved
    md5_keys: bool  # a peer's TCP-MD5 key may have changed: the listeners' keys follow
    control_moves: bool  # `[control] socket` moved (the BIRD sockets stage themselves)
    metrics: bool  # `[metrics]` changed: a threshold, or a listener move (below)
    metrics_moves: bool
    log_level: bool
    log_format: bool
    kernel: bool  # kernel sync's inputs changed: its desired table is re-planned
    kernel_enable_ignored: bool  # `[kernel] enabled` flipped: needs a restart, said so


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """What a reload from `old` to `new` must do, part by part."""
    diff = diff_configs(old, new)
    return ReloadPlan(
        diff=diff,
        listen=diff.listen_changed,
        # a password is a session field: no added, removed or reset peer, no key change
        md5_keys=bool(diff.peers_added or diff.peers_removed or diff.session_changed),
        control_moves=diff.control_changed and new.control.socket != old.control.socket,
        metrics=diff.metrics_changed,
        metrics_moves=diff.metrics_changed and new.metrics.listen != old.metrics.listen,
        log_level=diff.log_level_changed,
        log_format=diff.log_format_changed,
        kernel=diff.kernel_changed and old.kernel.enabled and new.kernel.enabled,
        kernel_enable_ignored=old.kernel.enabled != new.kernel.enabled,
    )


class SocketEdges(Protocol):
    """The daemon's listening sockets (BGP, control, BIRD, metrics) as a reload moves them."""

    def stage(self, old: Config, new: Config, plan: ReloadPlan) -> SocketStage:
        """Binds what `new` adds; OSError or ListenError with the running ones untouched."""
        ...

    def commit(self, new: Config, plan: ReloadPlan, stage: SocketStage) -> None:
        """After the speaker took `new`: staged sockets serve, retired ones close."""
        ...

    def listening(self) -> list[socket.socket]:
        """The BGP listening sockets (their TCP-MD5 keys follow the peers)."""
        ...


class Reloader:
    __slots__ = (
        "_config_path",
        "_flush",
        "_kernel",
        "_load",
        "_now",
        "_sessions",
        "_sockets",
        "_speaker",
        "stats",
    )

    def __init__(
        self,
        speaker: Speaker,
        sessions: Sessions,
        sockets: SocketEdges,
        *,
        config_path: str | None,
        load: Callable[[str], Config],
        kernel: Callable[[], KernelWiring | None],
        flush: Callable[[], None],
        now: Callable[[], float],
    ) -> None:
        self._speaker = speaker
        self._sessions = sessions
        self._sockets = sockets
        self._config_path = config_path
        self._load = load  # the standalone reflector passes its profile's loader
        self._kernel = kernel
        self._flush = flush
        self._now = now
        # reload outcomes, counted with or without a metrics listener
        self.stats = ReloadStats(time.time())

    def reload(self) -> list[str]:
        """Re-reads the config file; a bad file, or one naming a listening address or socket
        path that cannot be opened, is reported and the running config (and sockets) kept."""
        if self._config_path is None:
            raise ControlCommandError("bgpd was started without a config file: nothing to reload")
        speaker = self._speaker
        old = speaker.config
        logger.info("reload started config=%s", self._config_path)
        try:
            # Dynamic neighbours the new ranges still allow stay up across the reload.
            new = self._sessions.dynamic.carry_over(old, self._load(self._config_path))
        except (ConfigError, OSError) as exc:
            raise self._rejected(exc, "config rejected") from exc
        plan = plan_reload(old, new)
        try:
            # every new listener is bound before anything is applied
            stage = self._sockets.stage(old, new, plan)
        except (OSError, ListenError) as exc:
            raise self._rejected(exc, "listener cannot be opened") from exc
        if plan.log_level:
            set_level(new.bgp.log_level)
        if plan.log_format:
            set_format(new.bgp.log_format)
        actions = speaker.apply_config(new, plan.diff, self._now())
        self._sockets.commit(new, plan, stage)
        if plan.md5_keys:
            self._sessions.update_listener_keys(self._sockets.listening(), old, new)
        self._flush()
        kernel = self._kernel()
        if plan.kernel and kernel is not None:
            kernel.reload(new, speaker.fib_snapshot())
        if plan.kernel_enable_ignored:
            logger.warning("reload ignored setting=kernel.enabled reason=needs_restart")
        self.stats.succeeded(time.time())
        # each action was logged as it was taken (speaker.reconfigure)
        logger.info("reload done changes=%d", len(actions))
        return actions

    def _rejected(self, exc: BaseException, what: str) -> ControlCommandError:
        self.stats.failed()  # bgpd_config_reloads_total{result="failure"}
        text = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
        logger.error("reload rejected action=keep_running_config error=%s", text)
        return ControlCommandError(f"{what}, running config kept:\n{text}")
