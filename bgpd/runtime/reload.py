"""The reload plan: one `ConfigDiff`, computed once, cut into the slice each part applies.

Role: `Daemon.reload` loads the new config, asks `plan_reload` what changed, and hands each
part only its slice: the speaker the whole diff (`Speaker.apply_config`), the BGP listeners
`listen`, the listeners' TCP-MD5 keys `md5_keys`, the control and metrics sockets their moves,
logging its level and format, kernel sync `kernel` (a re-plan of the whole table only when
what kernel sync reads changed).

Invariants:
- Pure: two configs in, a frozen plan out; nothing here touches a socket or the kernel.
- Nothing is re-derived elsewhere: a part that is not named in the plan is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpd.config import Config, ConfigDiff, diff_configs

__all__ = ["ReloadPlan", "plan_reload"]


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
