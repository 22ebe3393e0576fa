"""What a peer's input cost it, made visible: RFC 7606 §8 error actions and refused next hops.

Role: the wire decoder applies RFC 7606's softer actions (treat-as-withdraw, attribute discard,
AFI/SAFI disable) and lists them in `UpdateMessage.problems`; the speaker refuses unusable next
hops (bgpd.policy.next_hop). Both are counted here per peer and per action (or reason) in its
`PeerCounters`, and logged at warning with the peer, what was wrong and what was done, through
the peer's `LogThrottle` so a peer repeating the same mistake in every UPDATE costs a few lines
a minute, each telling how many were held back (`suppressed=N`).

Invariants: sans-IO (`now` is passed in); counting never depends on the rate limit.
"""

from __future__ import annotations

import logging

from bgpd.net import format_address
from bgpd.session.counters import PeerCounters
from bgpd.wire.constants import AttrType, ErrorAction
from bgpd.wire.messages import UpdateMessage

logger = logging.getLogger(__name__)

_DISABLE = ErrorAction.AFI_SAFI_DISABLE
_NAMES = {int(t): t.name for t in AttrType}


def attribute_name(type_code: int) -> str:
    """MED, AS_PATH...; "attribute_list" for a finding about the list itself (type 0)."""
    if type_code == 0:
        return "attribute_list"
    return _NAMES.get(type_code, f"type_{type_code}")


def note_update_problems(
    peer: str, counters: PeerCounters, update: UpdateMessage, now: float
) -> None:
    """Counts and logs every RFC 7606 action applied to one UPDATE (`update.problems`)."""
    actions = counters.rfc7606_actions
    throttle = counters.input_warnings
    for problem in update.problems:
        action = problem.action.value
        actions[action] = actions.get(action, 0) + 1
        name = attribute_name(problem.attr_type)
        counters.last_input_problem = (f"{action} of {name}: {problem.reason}", now)
        held = throttle.allow(action, now)
        if held is None:
            continue
        if problem.action is _DISABLE:
            logger.warning(
                "update malformed peer=%s attribute=%s type=%d action=%s reason=%s families=%s "
                "suppressed=%d",
                peer,
                name,
                problem.attr_type,
                action,
                problem.reason,
                ",".join(str(f) for f in update.disabled_families),
                held,
            )
        else:
            logger.warning(
                "update malformed peer=%s attribute=%s type=%d action=%s reason=%s suppressed=%d",
                peer,
                name,
                problem.attr_type,
                action,
                problem.reason,
                held,
            )


def note_next_hop_refused(
    peer: str,
    counters: PeerCounters,
    *,
    next_hop: bytes,
    reason: str,
    text: str,
    prefixes: int,
    now: float,
) -> None:
    """Counts the prefixes of one NLRI batch refused for `reason` and logs it (throttled)."""
    refused = counters.next_hop_refused
    refused[reason] = refused.get(reason, 0) + prefixes
    shown = format_address(next_hop[:16])
    if len(next_hop) == 32:
        shown += "," + format_address(next_hop[16:])
    counters.last_input_problem = (f"next hop {shown} refused: {text}", now)
    held = counters.input_warnings.allow("next_hop", now)
    if held is not None:
        logger.warning(
            "route next hop refused peer=%s next_hop=%s reason=%s detail=%s prefixes=%d "
            "action=treat-as-withdraw suppressed=%d",
            peer,
            shown,
            reason,
            text,
            prefixes,
            held,
        )
