"""The operator's commands on one peer: `peer NAME disable [--message]`, `enable`, `reset
[--soft [in|out]]` from bgpctl's socket (`peer_command`), and the BIRD socket's `disable`/
`enable`/`restart`/`reload [in|out]` (`bird_peer_action`).

Role: one place that checks the peer and the arguments and calls the speaker
(`Speaker.disable_peer`/`enable_peer`/`reset_peer`); the callers only frame the reply.

Invariants: an unknown peer, a bad `soft` or a message that does not fit a Shutdown
Communication is a `ControlCommandError` and changes nothing; the caller flushes the speaker's
outputs after a command returns.
"""

from __future__ import annotations

from bgpd.control.bird_peer_commands import Outcome
from bgpd.control.bird_protocol import ProtoCommand
from bgpd.control.protocol import ControlCommandError
from bgpd.speaker import Speaker
from bgpd.speaker.admin_down import ShutdownMessageError
from bgpd.speaker.route_refresh import SoftDirection
from bgpd.views import Json

PEER_COMMANDS = frozenset({"peer reset", "peer disable", "peer enable"})


def _soft(value: object) -> SoftDirection | None:
    """`soft` as bgpctl sends it: false/absent (hard), true (both ways), "in" or "out"."""
    if value is None or value is False:
        return None
    if value is True or value == "both":
        return "both"
    if value == "in":
        return "in"
    if value == "out":
        return "out"
    raise ControlCommandError(f"bad soft reset direction {value!r}: in, out or both")


def peer_command(speaker: Speaker, command: str, args: dict[str, Json], now: float) -> Json:
    """Runs one of `PEER_COMMANDS` and returns its reply."""
    name = str(args.get("name"))
    if name not in speaker.peer_names():
        raise ControlCommandError(f"no peer named {name!r}")
    if command == "peer disable":
        message = args.get("message") or ""
        if not isinstance(message, str):
            raise ControlCommandError("the shutdown message must be text")
        try:
            change = speaker.disable_peer(name, now, message)
        except ShutdownMessageError as exc:
            raise ControlCommandError(str(exc)) from exc
        return {"peer": name, "disabled": True, "changed": change.changed}
    if command == "peer enable":
        change = speaker.enable_peer(name, now)
        return {"peer": name, "disabled": False, "changed": change.changed}
    soft = _soft(args.get("soft"))
    if soft is None:
        note = speaker.reset_peer(name, now, soft=False)
        reply: dict[str, Json] = {"peer": name, "reset": "hard"}
    else:
        note = speaker.reset_peer(name, now, soft=True, direction=soft)
        reply = {"peer": name, "reset": "soft" if soft == "both" else f"soft {soft}"}
    return reply if note is None else {**reply, "note": note}


def bird_peer_action(speaker: Speaker, name: str, command: ProtoCommand, now: float) -> Outcome:
    """BIRD's `disable`/`enable`/`restart`/`reload [in|out]` of one peer (the caller flushes)."""
    disabled = speaker.disabled_message(name) is not None
    if command.action == "disable":
        change = speaker.disable_peer(name, now, command.message)
        return "done" if change.changed else "already"
    if command.action == "enable":
        return "done" if speaker.enable_peer(name, now).changed else "already"
    if disabled:  # BIRD: a restart or reload of a disabled protocol is "already disabled"
        return "already"
    if command.action == "restart":
        speaker.reset_peer(name, now, soft=False, message=command.message or "reset by operator")
        return "done"
    session = speaker.peer_session(name)
    if session is None or session.negotiated is None:
        return "down"
    inbound = command.direction != "out"
    if inbound and not session.negotiated.route_refresh:
        return "failed"  # BIRD's reload_routes fails without route refresh: nothing done
    speaker.reset_peer(name, now, soft=True, direction=command.direction)
    return "done"
