"""BIRD's `disable`, `enable`, `restart` and `reload [in|out]` on the BIRD-compatible sockets:
which protocols a command names, and the reply lines BIRD's nest/proto.c gives for each.

Role: `run_proto_command` resolves the command's name, pattern or `all` against the socket's
BGP protocols (bgpd's peers of that IP version), calls `PeerAction` for each (the daemon's
`bgpd.runtime.peer_commands.bird_peer_action`, which runs `bgpctl peer NAME disable|enable|
reset`), and lays out BIRD's lines: `0009-NAME: disabled`, `0008-NAME: already disabled`,
`0011`/`0010` for enable, `0012 restarted`, `0015 reloading`, `8006 reload failed`, then
`0000`.

Invariants: a restricted session (`restrict`) gets `8007 Access denied` and nothing changes, as
in BIRD (these are restricted commands there); a name that is no protocol is `9002`; a
pattern matching none is `8003`; only BGP protocols are acted on: naming a local one
(`static1`, `kernel1`, ...) is refused out loud, and patterns match BGP protocols only.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection
from typing import Literal

from bgpd.control.bird_protocol import ProtoCommand, Reply, ReplyLine, error_reply

# What `PeerAction` did to one peer: "done"; "already" (already disabled/enabled, or a restart
# or reload of a disabled peer); "down" (a reload of a peer not Established: nothing to do);
# "failed" (a reload in that the peer cannot be asked for: no route refresh).
Outcome = Literal["done", "already", "down", "failed"]
PeerAction = Callable[[str, ProtoCommand], Outcome]

_LINES: dict[tuple[str, Outcome], tuple[Reply, str]] = {
    ("disable", "done"): (Reply.DISABLED, "disabled"),
    ("disable", "already"): (Reply.ALREADY_DISABLED, "already disabled"),
    ("enable", "done"): (Reply.ENABLED, "enabled"),
    ("enable", "already"): (Reply.ALREADY_ENABLED, "already enabled"),
    ("restart", "done"): (Reply.RESTARTED, "restarted"),
    ("restart", "already"): (Reply.ALREADY_DISABLED, "already disabled"),
    ("reload", "done"): (Reply.RELOADING, "reloading"),
    ("reload", "already"): (Reply.ALREADY_DISABLED, "already disabled"),
    ("reload", "failed"): (Reply.RELOAD_FAILED, "reload failed"),
}


def run_proto_command(
    command: ProtoCommand,
    peers: Collection[str],
    others: Collection[str],
    act: PeerAction,
    *,
    restricted: bool,
) -> list[ReplyLine]:
    """`peers`: the socket's BGP protocols (peer names); `others`: its local protocols."""
    if restricted:
        return error_reply(Reply.ACCESS_DENIED, "Access denied")
    if command.name is not None:
        if command.name in others:
            return error_reply(
                Reply.PARSE_ERROR,
                f"'{command.action} {command.name}' is not supported by bgpd: "
                "only BGP protocols are",
            )
        if command.name not in peers:
            return error_reply(Reply.INVALID_SYMBOL, f"{command.name} is not a protocol")
        names = [command.name]
    else:
        pattern = command.pattern or "*"
        names = [name for name in peers if fnmatch.fnmatchcase(name, pattern)]
        if not names:
            return error_reply(Reply.NO_PROTOCOLS_MATCH, "No protocols match")
    lines: list[ReplyLine] = []
    for name in names:
        outcome = act(name, command)
        line = _LINES.get((command.action, outcome))
        if line is not None:  # "down": BIRD says nothing for a protocol not up
            lines.append(ReplyLine(line[0], f"{name}: {line[1]}"))
    lines.append(ReplyLine(Reply.OK, "", final=True))
    return lines
