"""The read-only views of bgpd's state: peers, Loc-RIB paths and kernel routes, as values.

Role: one set of frozen types that every reader of the daemon's state shares: `bgpctl` (its
`--json` output is `to_json()`, its tables read the types back with `from_json()` after the
control socket), the BIRD-compatible sockets and the metrics snapshot. The speaker builds the
peer and route views (`bgpd.speaker.views`), the runtime the kernel rows
(`bgpd.runtime.kernel_wiring`).

Invariants:
- `to_json()` is the JSON contract of `bgpctl --json`: its keys, their order, values and
  nesting are what scripts read; `tests/unit/speaker/test_view_contract.py` pins them.
- `from_json(json.loads(json.dumps(v.to_json()))) == v` for every view; a key the JSON lacks
  takes the field's default (an older daemon answering a newer bgpctl), a value of the wrong
  type is a `ViewDecodeError` naming the key.
- Standard library only: `bgpctl` imports this module and nothing of the core, and every edge
  (control, metrics, runtime) may import it without importing another edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"
JsonObject: TypeAlias = "dict[str, Json]"
Counts: TypeAlias = "tuple[tuple[str, int], ...]"

SEQUENCE = "AS_SEQUENCE"


class ViewDecodeError(ValueError):
    """A JSON view that does not have the shape of its type (a key of the wrong type)."""


# ------------------------------------------------------------------------------------- peers


@dataclass(frozen=True, slots=True, kw_only=True)
class GracefulRestartView:
    """The peer's Graceful Restart capability (RFC 4724 §3)."""

    restart_time: int
    restarting: bool

    def to_json(self) -> JsonObject:
        return {"restart_time": self.restart_time, "restarting": self.restarting}

    @classmethod
    def from_json(cls, obj: object) -> GracefulRestartView:
        r = _Reader(obj, "peer_graceful_restart")
        return cls(restart_time=r.integer("restart_time"), restarting=r.flag("restarting"))


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiatedView:
    """What an Established session negotiated (families as "ipv4-unicast" names)."""

    peer_asn: int
    peer_router_id: str
    hold_time: int
    keepalive_time: float | None = None
    as4: bool = False
    families: tuple[str, ...] = ()
    add_path_receive: tuple[str, ...] = ()
    add_path_send: tuple[str, ...] = ()
    extended_message: bool = False
    route_refresh: bool = False
    enhanced_route_refresh: bool = False
    peer_graceful_restart: GracefulRestartView | None = None
    # per family, what else it negotiated: "add-path-rx", "add-path-tx", "graceful-restart"
    # ("+forwarding"), "long-lived-gr 3600s" (bgpd.speaker.peer_info.family_capabilities)
    family_capabilities: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def to_json(self) -> JsonObject:
        gr = self.peer_graceful_restart
        return {
            "peer_asn": self.peer_asn,
            "peer_router_id": self.peer_router_id,
            "hold_time": self.hold_time,
            "keepalive_time": self.keepalive_time,
            "as4": self.as4,
            "families": list(self.families),
            "add_path_receive": list(self.add_path_receive),
            "add_path_send": list(self.add_path_send),
            "extended_message": self.extended_message,
            "route_refresh": self.route_refresh,
            "enhanced_route_refresh": self.enhanced_route_refresh,
            "peer_graceful_restart": None if gr is None else gr.to_json(),
            "family_capabilities": {f: list(caps) for f, caps in self.family_capabilities},
        }

    @classmethod
    def from_json(cls, obj: object) -> NegotiatedView:
        r = _Reader(obj, "negotiated")
        gr = r.raw("peer_graceful_restart")
        return cls(
            peer_asn=r.integer("peer_asn"),
            peer_router_id=r.text("peer_router_id"),
            hold_time=r.integer("hold_time"),
            keepalive_time=r.opt_number("keepalive_time"),
            as4=r.flag("as4", False),
            families=r.texts("families"),
            add_path_receive=r.texts("add_path_receive"),
            add_path_send=r.texts("add_path_send"),
            extended_message=r.flag("extended_message", False),
            route_refresh=r.flag("route_refresh", False),
            enhanced_route_refresh=r.flag("enhanced_route_refresh", False),
            peer_graceful_restart=None if gr is None else GracefulRestartView.from_json(gr),
            family_capabilities=r.text_lists("family_capabilities"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDetail:
    """The session's own details for `bgpctl show peer`: its connections, the error wait,
    capabilities the peer refused, message counts (by message type name) and, while
    Established, what it negotiated."""

    established_for_s: float | None = None
    connections: tuple[tuple[int, str], ...] = ()  # (connection id, its FSM state)
    error_wait_s: float = 0.0
    refused_capabilities: tuple[int, ...] = ()
    capabilities_disabled: bool = False
    messages_in: Counts = ()
    messages_out: Counts = ()
    established_transitions: int = 0
    negotiated: NegotiatedView | None = None

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "established_for_s": self.established_for_s,
            # JSON object keys are strings: the connection ids arrive as "3"
            "connections": {str(cid): state for cid, state in self.connections},
            "error_wait_s": self.error_wait_s,
            "refused_capabilities": list(self.refused_capabilities),
            "capabilities_disabled": self.capabilities_disabled,
            "messages_in": dict(self.messages_in),
            "messages_out": dict(self.messages_out),
            "established_transitions": self.established_transitions,
        }
        if self.negotiated is not None:  # the key is absent unless Established
            out["negotiated"] = self.negotiated.to_json()
        return out

    @classmethod
    def from_json(cls, obj: object) -> SessionDetail:
        r = _Reader(obj, "peer")
        negotiated = r.raw("negotiated")
        return cls(
            established_for_s=r.opt_number("established_for_s"),
            connections=tuple(
                (_int_key(cid, "connections"), state) for cid, state in r.text_map("connections")
            ),
            error_wait_s=r.number("error_wait_s", 0.0),
            refused_capabilities=r.integers("refused_capabilities"),
            capabilities_disabled=r.flag("capabilities_disabled", False),
            messages_in=r.counts("messages_in"),
            messages_out=r.counts("messages_out"),
            established_transitions=r.integer("established_transitions", 0),
            negotiated=None if negotiated is None else NegotiatedView.from_json(negotiated),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InputProblemsView:
    """What the peer's input cost it: RFC 7606 §8 actions applied, prefixes refused for their
    next hop (by reason), and the latest such problem with its age."""

    rfc7606_actions: Counts = ()
    next_hop_refused: Counts = ()
    last_input_problem: str = ""
    last_input_problem_age_s: float | None = None

    def to_json(self) -> JsonObject:
        return {
            "rfc7606_actions": dict(self.rfc7606_actions),
            "next_hop_refused": dict(self.next_hop_refused),
            "last_input_problem": self.last_input_problem,
            "last_input_problem_age_s": self.last_input_problem_age_s,
        }

    @classmethod
    def from_json(cls, obj: object) -> InputProblemsView:
        r = _Reader(obj, "peer")
        return cls(
            rfc7606_actions=r.counts("rfc7606_actions"),
            next_hop_refused=r.counts("next_hop_refused"),
            last_input_problem=r.text("last_input_problem", ""),
            last_input_problem_age_s=r.opt_number("last_input_problem_age_s"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerDetail:
    """What `bgpctl show peer NAME` adds to the `show peers` row."""

    session: SessionDetail = SessionDetail()
    # Announcements not sent: their attributes do not fit the peer's maximum message size.
    prefixes_withheld_too_big: int = 0
    graceful_restart_stale: tuple[str, ...] = ()  # families kept stale for a restarting peer
    # those of them past the restart time, kept LLGR_STALE (RFC 9494)
    long_lived_stale: tuple[str, ...] = ()
    input_problems: InputProblemsView = InputProblemsView()

    def to_json(self) -> JsonObject:
        return {
            **self.session.to_json(),
            "prefixes_withheld_too_big": self.prefixes_withheld_too_big,
            "graceful_restart_stale": list(self.graceful_restart_stale),
            "long_lived_stale": list(self.long_lived_stale),
            **self.input_problems.to_json(),
        }

    @classmethod
    def from_json(cls, obj: object) -> PeerDetail:
        r = _Reader(obj, "peer")
        return cls(
            session=SessionDetail.from_json(obj),
            prefixes_withheld_too_big=r.integer("prefixes_withheld_too_big", 0),
            graceful_restart_stale=r.texts("graceful_restart_stale"),
            long_lived_stale=r.texts("long_lived_stale"),
            input_problems=InputProblemsView.from_json(obj),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerView:
    """One configured peer: a row of `bgpctl show peers`, with `detail` for `show peer NAME`.

    `last_error` is what the operator must act on: the reason a held-down peer is down, else
    the latest NOTIFICATION or failed connection ("" when none).
    """

    name: str
    address: str
    asn: int
    state: str  # the session's RFC 4271 state: "Idle", "Active", ..., "Established"
    port: int = 179
    # our AS toward this peer: the peer's `local_asn` (BGPPeer localASNumber), else [bgp] asn
    local_asn: int = 0
    uptime_s: float | None = None  # None unless Established
    prefixes_received: int = 0  # accepted + refused by the import checks and rules
    prefixes_accepted: int = 0
    prefixes_sent: int = 0
    last_error: str = ""
    # negotiated families none of our routes can be sent on (no next hop of ours)
    families_without_next_hop: tuple[str, ...] = ()
    # why the session is held down whatever happens (a password that could not be had)
    down_reason: str | None = None
    # the state of the peer's BFD session ("Up", "Down", "Init", "AdminDown"), None: no BFD
    bfd: str | None = None
    bfd_failures: int = 0  # times BFD found the path failed and closed the session
    # disabled by the operator (`bgpctl peer NAME disable`): `down_reason` has the message
    disabled: bool = False
    # the Established connection's local end, None while there is none
    local_address: str | None = None
    local_port: int | None = None
    # "mesh", "node-specific", "global", "local-workload", "dynamic", "reflector-client",
    # "reflector-non-client", "ibgp", "ebgp" (bgpd.speaker.peer_info.peer_role)
    role: str = ""
    description: str = ""
    flaps: int = 0  # times the session went Established (RFC 4271's FSM established count)
    last_error_age_s: float | None = None  # how long ago `last_error` happened
    # "", "gr", "llgr", "restarting", "stale", "long-lived-stale"
    # (bgpd.speaker.peer_info.graceful_restart_state)
    graceful_restart: str = ""
    detail: PeerDetail | None = None

    def to_json(self) -> JsonObject:
        out: JsonObject = {
            "name": self.name,
            "address": self.address,
            "port": self.port,
            "asn": self.asn,
            "local_asn": self.local_asn,
            "state": self.state,
            "uptime_s": self.uptime_s,
            "prefixes_received": self.prefixes_received,
            "prefixes_accepted": self.prefixes_accepted,
            "prefixes_sent": self.prefixes_sent,
            "last_error": self.last_error,
            "families_without_next_hop": list(self.families_without_next_hop),
            "down_reason": self.down_reason,
            "bfd": self.bfd,
            "bfd_failures": self.bfd_failures,
            "disabled": self.disabled,
            "local_address": self.local_address,
            "local_port": self.local_port,
            "role": self.role,
            "description": self.description,
            "flaps": self.flaps,
            "last_error_age_s": self.last_error_age_s,
            "graceful_restart": self.graceful_restart,
        }
        if self.detail is not None:
            out.update(self.detail.to_json())
        return out

    @classmethod
    def from_json(cls, obj: object) -> PeerView:
        r = _Reader(obj, "peer")
        return cls(
            name=r.text("name"),
            address=r.text("address"),
            port=r.integer("port", 179),
            asn=r.integer("asn"),
            local_asn=r.integer("local_asn", 0),
            state=r.text("state"),
            uptime_s=r.opt_number("uptime_s"),
            prefixes_received=r.integer("prefixes_received", 0),
            prefixes_accepted=r.integer("prefixes_accepted", 0),
            prefixes_sent=r.integer("prefixes_sent", 0),
            last_error=r.opt_text("last_error") or "",
            families_without_next_hop=r.texts("families_without_next_hop"),
            down_reason=r.opt_text("down_reason"),
            bfd=r.opt_text("bfd"),
            bfd_failures=r.integer("bfd_failures", 0),
            disabled=r.flag("disabled", False),
            local_address=r.opt_text("local_address"),
            local_port=r.opt_integer("local_port"),
            role=r.text("role", ""),
            description=r.text("description", ""),
            flaps=r.integer("flaps", 0),
            last_error_age_s=r.opt_number("last_error_age_s"),
            graceful_restart=r.text("graceful_restart", ""),
            # `show peer`'s view carries the session's details, `show peers`' rows do not
            detail=PeerDetail.from_json(obj) if r.has("established_for_s") else None,
        )


# ------------------------------------------------------------------------------------ routes


@dataclass(frozen=True, slots=True, kw_only=True)
class AsPathSegmentView:
    """One AS_PATH segment with its RFC 4271 §4.3 type name ("AS_SEQUENCE", "AS_SET",
    "AS_CONFED_SEQUENCE", "AS_CONFED_SET")."""

    type: str
    asns: tuple[int, ...]

    def to_json(self) -> JsonObject:
        return {"type": self.type, "asns": list(self.asns)}

    @classmethod
    def from_json(cls, obj: object) -> AsPathSegmentView:
        r = _Reader(obj, "as_path_segments")
        return cls(type=r.text("type"), asns=r.integers("asns"))


# `show routes --advertised`: every view's `source`, and the `peer` of our own (local) routes
ADVERTISED_SOURCE = "advertised"
ADVERTISED_LOCAL = "local"


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteView:
    """One path of one prefix in the Loc-RIB, as `bgpctl show routes` lists it.

    Local routes have `peer` "static", "kernel" or "connected" and the same `source`; BGP
    paths the peer's name and "ibgp"/"ebgp". Communities are "a:b", large ones "a:b:c".
    """

    prefix: str
    peer: str
    source: str = ""
    path_id: int | None = None  # the ADD-PATH id the peer gave it (RFC 7911), None without
    next_hop: str | None = None
    as_path_segments: tuple[AsPathSegmentView, ...] = ()
    communities: tuple[str, ...] = ()
    large_communities: tuple[str, ...] = ()
    med: int | None = None
    local_pref: int | None = None
    origin: str = "INCOMPLETE"  # "IGP", "EGP", "INCOMPLETE"
    originator_id: str | None = None
    cluster_list: tuple[str, ...] = ()
    best: bool = False
    stale: bool = False  # kept for a restarting peer (RFC 4724)

    @property
    def as_path(self) -> tuple[int, ...]:
        """Every AS of the path in order, sets flattened (what `as_path` in JSON lists)."""
        return tuple(a for segment in self.as_path_segments for a in segment.asns)

    def to_json(self) -> JsonObject:
        return {
            "prefix": self.prefix,
            "path_id": self.path_id,
            "next_hop": self.next_hop,
            "as_path": list(self.as_path),  # flattened; the segments keep AS_SETs apart
            "as_path_segments": [s.to_json() for s in self.as_path_segments],
            "peer": self.peer,
            "source": self.source,
            "communities": list(self.communities),
            "large_communities": list(self.large_communities),
            "med": self.med,
            "local_pref": self.local_pref,
            "origin": self.origin,
            "originator_id": self.originator_id,
            "cluster_list": list(self.cluster_list),
            "best": self.best,
            "stale": self.stale,
        }

    @classmethod
    def from_json(cls, obj: object) -> RouteView:
        r = _Reader(obj, "route")
        path: tuple[AsPathSegmentView, ...]
        if r.raw("as_path_segments") is None:  # an older daemon: its flat path, one sequence
            flat = r.integers("as_path")
            path = (AsPathSegmentView(type=SEQUENCE, asns=flat),) if flat else ()
        else:
            path = tuple(AsPathSegmentView.from_json(s) for s in r.array("as_path_segments"))
        return cls(
            prefix=r.text("prefix"),
            peer=r.text("peer"),
            source=r.text("source", ""),
            path_id=r.opt_integer("path_id"),
            next_hop=r.opt_text("next_hop"),
            as_path_segments=path,
            communities=r.texts("communities"),
            large_communities=r.texts("large_communities"),
            med=r.opt_integer("med"),
            local_pref=r.opt_integer("local_pref"),
            origin=r.text("origin", "INCOMPLETE"),
            originator_id=r.opt_text("originator_id"),
            cluster_list=r.texts("cluster_list"),
            best=r.flag("best", False),
            stale=r.flag("stale", False),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteCountView:
    """One family's line of `bgpctl show routes --count`: the prefixes and paths that match
    the query, and how many of those paths are the prefix's best."""

    family: str  # "ipv4-unicast", "ipv6-unicast"
    prefixes: int
    paths: int
    best: int

    def to_json(self) -> JsonObject:
        return {
            "family": self.family,
            "prefixes": self.prefixes,
            "paths": self.paths,
            "best": self.best,
        }

    @classmethod
    def from_json(cls, obj: object) -> RouteCountView:
        r = _Reader(obj, "route count")
        return cls(
            family=r.text("family"),
            prefixes=r.integer("prefixes"),
            paths=r.integer("paths"),
            best=r.integer("best"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedPrefixView:
    """A prefix the peer announced that bgpd refused (loop, unusable next hop, import rule):
    bgpd keeps only the prefix, not what the peer said about it."""

    family: str
    prefix: str

    def to_json(self) -> JsonObject:
        return {"family": self.family, "prefix": self.prefix}

    @classmethod
    def from_json(cls, obj: object) -> RejectedPrefixView:
        r = _Reader(obj, "rejected prefix")
        return cls(family=r.text("family"), prefix=r.text("prefix"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedView:
    """`bgpctl show routes --peer NAME --received`: what bgpd knows of what the peer sent.

    bgpd keeps no Adj-RIB-In: the accepted paths are the peer's paths in the Loc-RIB (with
    whatever its import rules changed), the rejected prefixes are known by prefix only.
    `note` says so in words."""

    peer: str
    accepted: tuple[RouteView, ...] = ()
    rejected: tuple[RejectedPrefixView, ...] = ()
    note: str = ""

    def to_json(self) -> JsonObject:
        return {
            "peer": self.peer,
            "accepted": [r.to_json() for r in self.accepted],
            "rejected": [r.to_json() for r in self.rejected],
            "note": self.note,
        }

    @classmethod
    def from_json(cls, obj: object) -> ReceivedView:
        r = _Reader(obj, "received")
        return cls(
            peer=r.text("peer"),
            accepted=tuple(RouteView.from_json(x) for x in r.array("accepted")),
            rejected=tuple(RejectedPrefixView.from_json(x) for x in r.array("rejected")),
            note=r.text("note", ""),
        )


# The marks around an AS_PATH segment's numbers in text (FRR's style); a sequence has none.
SEGMENT_MARKS = {
    "AS_SET": ("{", "}"),
    "AS_CONFED_SEQUENCE": ("(", ")"),
    "AS_CONFED_SET": ("[", "]"),
}


def as_path_text(segments: Iterable[tuple[str, Iterable[int]]]) -> str:
    """An AS_PATH as bgpctl shows it and `--as-path REGEX` matches it: `64512 {64513 64514}`
    (segments as (type name, AS numbers))."""
    parts: list[str] = []
    for kind, asns in segments:
        opening, closing = SEGMENT_MARKS.get(kind, ("", ""))
        parts.append(opening + " ".join(map(str, asns)) + closing)
    return " ".join(parts)


# ------------------------------------------------------------------------------------ kernel


@dataclass(frozen=True, slots=True, kw_only=True)
class KernelRouteRow:
    """One row of `bgpctl show kernel`: a route bgpd installed in the kernel ("installed"),
    learned from it ("learned"), or a BGP route it leaves to Felix ("not-installed": Felix
    programs that destination), with its next hops as `ip route` words ("via 10.0.0.2 dev
    eth0 onlink"). Not `bgpd.speaker.KernelRouteView`, the learned route fed to the speaker."""

    prefix: str
    status: str  # "installed", "learned" or "not-installed"
    family: str = "ipv4"  # "ipv4" or "ipv6"
    kind: str = "unicast"  # "unicast", "blackhole", "unreachable", "prohibit"
    protocol: int = 0  # the kernel's route protocol number
    next_hops: tuple[str, ...] = ()
    metric: int = 0
    owner: str = ""  # who programs the destination: "bgpd", "felix"; "" for learned routes

    def to_json(self) -> JsonObject:
        return {
            "prefix": self.prefix,
            "family": self.family,
            "status": self.status,
            "kind": self.kind,
            "protocol": self.protocol,
            "next_hops": list(self.next_hops),
            "metric": self.metric,
            "owner": self.owner,
        }

    @classmethod
    def from_json(cls, obj: object) -> KernelRouteRow:
        r = _Reader(obj, "kernel route")
        return cls(
            prefix=r.text("prefix"),
            family=r.text("family", "ipv4"),
            status=r.text("status"),
            kind=r.text("kind", "unicast"),
            protocol=r.integer("protocol", 0),
            next_hops=r.texts("next_hops"),
            metric=r.integer("metric", 0),
            owner=r.text("owner", ""),
        )


# ---------------------------------------------------------------------------------- decoding

_MISSING = object()


def _int_key(key: str, what: str) -> int:
    try:
        return int(key)
    except ValueError:
        raise ViewDecodeError(f"{what}: key {key!r} is not a number") from None


class _Reader:
    """Typed reads of one JSON object: a missing key gives the default (raises without one),
    a value of another type raises `ViewDecodeError`."""

    __slots__ = ("_obj", "_what")

    def __init__(self, obj: object, what: str) -> None:
        if not isinstance(obj, dict):
            raise ViewDecodeError(f"{what}: expected an object, got {type(obj).__name__}")
        self._obj: dict[str, object] = obj
        self._what = what

    def has(self, key: str) -> bool:
        return key in self._obj

    def raw(self, key: str) -> object:
        return self._obj.get(key)

    def _get(self, key: str, default: object) -> object:
        value = self._obj.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise ViewDecodeError(f"{self._what}: {key!r} is missing")
            return default
        return value

    def _bad(self, key: str, expected: str) -> ViewDecodeError:
        got = type(self._obj.get(key)).__name__
        return ViewDecodeError(f"{self._what}: {key!r} is not {expected} ({got})")

    def text(self, key: str, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        value = self._obj.get(key)
        if value is not None and not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def integer(self, key: str, default: object = _MISSING) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(key, "an integer")
        return value

    def opt_integer(self, key: str) -> int | None:
        return None if self._obj.get(key) is None else self.integer(key)

    def number(self, key: str, default: object = _MISSING) -> float:
        # int or float as the JSON had it: tables print 30 and 30.0 differently
        value = self._get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._bad(key, "a number")
        return value

    def opt_number(self, key: str) -> float | None:
        return None if self._obj.get(key) is None else self.number(key)

    def flag(self, key: str, default: object = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def array(self, key: str) -> list[object]:
        value = self._get(key, [])
        if not isinstance(value, list):
            raise self._bad(key, "a list")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        items = self.array(key)
        if not all(isinstance(v, str) for v in items):
            raise self._bad(key, "a list of strings")
        return tuple(str(v) for v in items)

    def integers(self, key: str) -> tuple[int, ...]:
        items = self.array(key)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            raise self._bad(key, "a list of integers")
        return tuple(v for v in items if isinstance(v, int))

    def _map(self, key: str) -> dict[str, object]:
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise self._bad(key, "an object")
        return value

    def text_map(self, key: str) -> tuple[tuple[str, str], ...]:
        items = tuple(self._map(key).items())
        if not all(isinstance(v, str) for _, v in items):
            raise self._bad(key, "an object of strings")
        return tuple((k, str(v)) for k, v in items)

    def text_lists(self, key: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        items = tuple(self._map(key).items())
        if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for _, v in items):
            raise self._bad(key, "an object of lists of strings")
        return tuple((k, tuple(str(x) for x in v)) for k, v in items if isinstance(v, list))

    def counts(self, key: str) -> Counts:
        items = tuple(self._map(key).items())
        if not all(isinstance(v, int) and not isinstance(v, bool) for _, v in items):
            raise self._bad(key, "an object of counts")
        return tuple((k, v) for k, v in items if isinstance(v, int))
