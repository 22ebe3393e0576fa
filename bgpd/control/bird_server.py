"""BIRD-compatible control sockets: the BIRD 1.x CLI protocol over bgpd's state.

Role: serve `[control] bird_socket` (the IPv4 view, as `bird -s /var/run/calico/bird.ctl`) and
`bird6_socket` (the IPv6 view, as bird6) from the one bgpd process, for `calicoctl node status`,
calico-node's `-bird-live`/`-bird-ready` probes, the node-status reporter, `birdc`/`birdcl` and
bird_exporter. Parsing and rendering are pure (`bird_protocol`, `bird_replies`, `bird_views`);
this module reads bgpd's state through `BirdHooks`, which the daemon fills with its speaker's
view methods.

Views: a family's socket shows the peers whose address is of that family (Calico names them
`Mesh_*`, `Global_*`, `Node_*` as its bird.cfg/bird6.cfg did) and the routes of that family,
plus the local protocols Calico's bird.cfg has where bgpd does the same job: `static1` (the
originated prefixes), `kernel1` and `direct1` (kernel sync and the connected routes it learns)
and always `device1`, so the protocol table is never empty (calicoctl and -bird-ready treat
BIRD's "8003 No protocols match" as a broken daemon, where zero peers must read as ready).

Invariants:
- The hooks run on the loop thread. A lookup (one network, `for ADDRESS`, the protocol list)
  is one consistent look at the speaker; a walk of a whole table (`show route` without a
  network, `... export P` (streamed as the table is), the route counts of `show protocols
  all`) and the rendering of its lines run in steps (`bgpd.speaker.steps`) with a turn of
  the loop between them, so sessions and other clients go on meanwhile; such an answer is
  read chunk by chunk, as BIRD's own `show route` listing is.
- The sockets and their sessions are `bgpd.control.bird_socket`'s: a slow client never blocks
  the speaker, every command gets a reply (a malformed one `9001`, one that fails inside bgpd
  `8008`), the socket files are mode 0660 and removed on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bgpd.config import Config, ControlSection
from bgpd.config.bird_timeformat import TimeFormat
from bgpd.control.bird_peer_commands import Outcome, run_proto_command
from bgpd.control.bird_protocol import (
    Command,
    Configure,
    IpVersion,
    ParseError,
    ProtoCommand,
    Reply,
    ReplyLine,
    ShowBfdSessions,
    ShowProtocols,
    ShowRoute,
    ShowStatus,
    error_reply,
)
from bgpd.control.bird_replies import (
    BfdSessionRow,
    BirdRouteView,
    ProtocolView,
    RouteText,
    StatusView,
    render_bfd_sessions,
    render_configure_result,
    render_protocols,
    render_route_stream,
    render_routes_steps,
    render_status,
    route_count_line,
    route_text,
)
from bgpd.control.bird_socket import BirdSocket, bird_version
from bgpd.control.bird_views import (
    LOCAL_SOURCES,
    PeerFacts,
    ProtocolClock,
    bgp_protocol,
    bird_route,
    local_protocol,
)
from bgpd.control.unix import bind_unix_socket, discard_unix_socket
from bgpd.speaker.steps import (
    VIEW_CHUNK,
    Steps,
    Stream,
    chunks,
    collect,
    finish,
    paused,
    stream_of,
)
from bgpd.views import ADVERTISED_LOCAL, ADVERTISED_SOURCE, KernelRouteRow, PeerView, RouteView

logger = logging.getLogger(__name__)


class ConfigureRejectedError(Exception):
    """`BirdHooks.reload` or `check` refused the config file; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BirdHooks:
    """bgpd's state as the BIRD sockets read it; every callable runs on the loop thread.

    `peers`/`peer`/`routes` are the speaker's `bgpctl` views (`Speaker.peer_views(now)`,
    `peer_view(name, now)`, `route_views(prefix)`, a lookup of one prefix); the walks of a
    whole table (`source_counts`) are `Steps`, `table` and `advertised` `Stream`s
    (`bgpd.speaker.steps`), which the socket runs letting the loop turn between steps.
    `kernel_routes` is
    `bgpctl show kernel`'s list (or empty), used for the interface a route goes out of.
    `reload` applies the config file and `check` only loads it; both raise
    `ConfigureRejectedError` with the problems.
    `graceful_restart` gives how many peers a graceful restart still waits for, None when no
    restart is in progress.
    """

    config: Callable[[], Config]
    config_path: Callable[[], str | None]
    peers: Callable[[], list[PeerView]]
    peer: Callable[[str], PeerView | None]
    routes: Callable[[str], list[RouteView]]
    # (version, source, primary only): the rows (`TableRow`) of the IP version's table, in
    # address order, best first per prefix: every path, or one source's (a peer, "static",
    # "kernel", "connected"; one that has no routes: none), or the best ones only
    table: Callable[[IpVersion, str | None, bool], Stream[TableRow]]
    # (networks, paths) of the IP version's table: its counters, no walk
    table_counts: Callable[[IpVersion], tuple[int, int]]
    # (paths, best paths) of one source (a peer, "static", ...) in the IP version's table
    source_counts: Callable[[str, IpVersion], Steps[tuple[int, int]]]
    kernel_routes: Callable[[], list[KernelRouteRow]]
    reload: Callable[[], object]
    check: Callable[[], object]
    graceful_restart: Callable[[], int | None]
    # the BFD sessions' rows (`since` wall-clock) for `show bfd sessions`
    bfd_sessions: Callable[[], list[BfdSessionRow]] = list
    # `show route [NETWORK | for NETWORK] export P` (P, version, network, longest match): the
    # rows (`TableRow`) of the Adj-RIB-Out toward peer P, as `table`'s, NETWORK's only (with
    # the networks covering it for a longest match), looked up (None: no such peer)
    advertised: Callable[[str, IpVersion, str | None, bool], Stream[TableRow] | None] = (
        lambda _name, _version, _network, _longest: None
    )
    # `disable`/`enable`/`restart`/`reload` of one peer (bgpd.control.bird_peer_commands)
    peer_action: Callable[[str, ProtoCommand], Outcome] | None = None


# (network, path): a row of a table walk. The path's view may be shared by the rows of every
# network it is the path of (its own `prefix` is then not the row's), so that BIRD's text of
# it is made once per path (`BirdControl`'s route texts), not once per route.
TableRow = tuple[str, RouteView]

TEXTS_KEPT = 4_096  # paths' route texts kept by a walk (all forgotten past it: bounded memory)


class BirdControl:
    """The BIRD sockets of one daemon: `start()` opens those the config names, `close()` ends
    them; `reconfigured()` is called after every successful reload, whoever asked for it."""

    __slots__ = (
        "_boot",
        "_clock",
        "_hooks",
        "_moving",
        "_reconfigured_at",
        "_servers",
        "_staged",
        "_wall",
    )

    def __init__(self, hooks: BirdHooks, *, wall: Callable[[], float] = time.time) -> None:
        self._hooks = hooks
        self._wall = wall
        self._boot = wall()
        self._reconfigured_at = self._boot
        self._clock = ProtocolClock()
        self._clock.configured((p.name for p in hooks.config().all_peers), self._boot)
        self._servers: list[BirdSocket] = []
        self._moving: asyncio.Task[None] | None = None
        # sockets a reload in progress bound for new paths: (path, version) -> socket
        self._staged: dict[tuple[str, IpVersion], socket.socket] = {}

    @property
    def paths(self) -> list[str]:
        return [s.path for s in self._servers]

    def _wanted(self, control: ControlSection | None = None) -> list[tuple[str, IpVersion]]:
        control = self._hooks.config().control if control is None else control
        wanted: list[tuple[str, IpVersion]] = []
        if control.bird_socket is not None:
            wanted.append((control.bird_socket, 4))
        if control.bird6_socket is not None:
            wanted.append((control.bird6_socket, 6))
        return wanted

    async def start(self) -> None:
        for path, version in self._wanted():
            server = BirdSocket(path, self, version)
            await server.start()
            self._servers.append(server)

    async def close(self) -> None:
        if self._moving is not None:
            self._moving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._moving
            self._moving = None
        for server in self._servers:
            await server.close()
        self._servers.clear()

    def stage(self, control: ControlSection) -> None:
        """Before a reload is applied: binds the paths `control` adds, so that one which cannot
        be bound refuses the reload (OSError) while the running sockets keep serving."""
        self.unstage()
        served = {s.path for s in self._servers}
        try:
            for path, version in self._wanted(control):
                if path not in served:
                    self._staged[(path, version)] = bind_unix_socket(path)
        except OSError:
            self.unstage()
            raise

    def unstage(self) -> None:
        """The reload was refused after all: the staged sockets go."""
        for sock in self._staged.values():
            discard_unix_socket(sock)
        self._staged.clear()

    def reconfigured(self) -> None:
        """After a successful reload (from any source): dates it, and moves the sockets when
        `[control]` names other paths now (the new ones serve before the old ones close)."""
        self._reconfigured_at = self._wall()
        names = (p.name for p in self._hooks.config().all_peers)
        self._clock.configured(names, self._reconfigured_at)
        if self._wanted() != [(s.path, s.version) for s in self._servers]:
            staged, self._staged = self._staged, {}
            self._moving = asyncio.get_running_loop().create_task(self._move(staged))
        else:
            self.unstage()

    async def _move(self, staged: dict[tuple[str, IpVersion], socket.socket]) -> None:
        by_path = {s.path: s for s in self._servers}
        servers: list[BirdSocket] = []
        try:
            for path, version in self._wanted():
                server = by_path.pop(path, None)
                if server is None:
                    server = BirdSocket(path, self, version)
                    await server.start(staged.pop((path, version), None))
                server.version = version  # a path kept for the other IP version
                servers.append(server)
        except OSError as exc:
            logger.error("bird control socket open failed error=%s action=keep_old", exc)
            for server in servers:
                if server.path not in {s.path for s in self._servers}:
                    await server.close()
            return
        finally:
            for sock in staged.values():
                discard_unix_socket(sock)
        for server in by_path.values():
            await server.close()
        self._servers = servers

    # ------------------------------------------------------------------------ commands

    def execute(self, command: Command, version: IpVersion, restricted: bool) -> list[ReplyLine]:
        """The reply to `command`, all steps at once (`execute_stream`)."""
        return [
            line for lines in self.execute_stream(command, version, restricted) for line in lines
        ]

    def execute_stream(
        self, command: Command, version: IpVersion, restricted: bool
    ) -> Stream[ReplyLine]:
        """The reply to `command`, its lines a chunk per step (`bgpd.speaker.steps.Stream`):
        `show route` of a whole table is rendered as it is walked, a chunk of routes a step,
        and never held whole; the other walks (`... export P`, the counts of `show protocols
        all`) pause between their chunks and hand their reply at the end; the rest is one
        step. `show route export P` is streamed as the whole table is."""
        if isinstance(command, ShowRoute) and command.network is None:
            if command.export is not None:
                return self._export_reply(command, version)
            return self._table_reply(command, version)
        return stream_of(self._execute_steps(command, version, restricted))

    def _execute_steps(
        self, command: Command, version: IpVersion, restricted: bool
    ) -> Steps[list[ReplyLine]]:
        if isinstance(command, ParseError):
            return error_reply(command.code, command.message)
        if isinstance(command, ShowStatus):
            return render_status(self.status(), self._timeformat("base"))
        if isinstance(command, ShowProtocols):
            protocols = yield from self.protocols(version, command.verbose)
            return render_protocols(protocols, command, self._wall(), self._timeformat("protocol"))
        if isinstance(command, ShowRoute):
            unknown = self._unknown_protocol(command, version)
            if unknown is not None:
                return unknown
            routes = yield from self.routes(version, command)
            timeformat = self._timeformat("route")
            return (yield from render_routes_steps(routes, command, self._wall(), timeformat))
        if isinstance(command, ShowBfdSessions):
            rows = [r for r in self._hooks.bfd_sessions() if _version(r.address) == version]
            return render_bfd_sessions(rows, command, self._wall())
        if isinstance(command, ProtoCommand):
            return self.proto_command(command, version, restricted)
        if isinstance(command, Configure):
            if restricted:
                return error_reply(Reply.ACCESS_DENIED, "Access denied")
            return self.configure(command)
        raise AssertionError(f"unhandled command {command!r}")  # Restrict/Quit: the socket's

    def _unknown_protocol(self, command: ShowRoute, version: IpVersion) -> list[ReplyLine] | None:
        names = {p.name for p in finish(self.protocols(version, verbose=False))}
        for name in (command.protocol, command.export):
            if name is not None and name not in names:
                return error_reply(Reply.PARSE_ERROR, f"{name} is not a protocol")
        return None

    def _table_reply(self, command: ShowRoute, version: IpVersion) -> Stream[ReplyLine]:
        """`show route [protocol P] [primary] [all] [stats|count]` of the whole table: the
        table's rows (`BirdHooks.table`, P's routes only when P is named) rendered and handed
        on a chunk at a time. `count` walks no route at all: the table's counters, and P's
        own routes counted (`source_counts`) when P is named."""
        unknown = self._unknown_protocol(command, version)
        if unknown is not None:
            yield unknown
            return
        source = None if command.protocol is None else _source_of(command.protocol)
        if command.stats == 2:
            networks, paths = self._hooks.table_counts(version)
            counted = networks if command.primary_only else paths
            shown = counted
            if source is not None:
                mine, best = yield from paused(self._hooks.source_counts(source, version))
                shown = best if command.primary_only else mine
            yield [route_count_line(shown, counted, networks)]
            return
        texts = yield from paused(self._route_texts(version, command.verbose))
        rows = self._hooks.table(version, source, command.primary_only)
        yield from render_route_stream(
            ([(prefix, texts(prefix, view)) for prefix, view in chunk] for chunk in rows),
            command,
            lambda: self._hooks.table_counts(version),
        )

    def _export_reply(self, command: ShowRoute, version: IpVersion) -> Stream[ReplyLine]:
        """`show route export P [protocol Q] [primary] [all] [stats|count]`: the Adj-RIB-Out
        toward P (`BirdHooks.advertised`) rendered as it is walked, as `_table_reply` renders
        the table: the lines `render_routes` makes of the same routes."""
        unknown = self._unknown_protocol(command, version)
        if unknown is not None:
            yield unknown
            return
        assert command.export is not None
        texts = yield from paused(self._route_texts(version, command.verbose))
        sent = self._hooks.advertised(command.export, version, None, False)
        counts = [0, 0]  # networks, routes (the primary ones only for `primary`)

        def shown() -> Stream[tuple[str, RouteText]]:
            network = None
            for rows in sent or ():
                out: list[tuple[str, RouteText]] = []
                for prefix, view in rows:
                    if prefix != network:
                        network = prefix
                        counts[0] += 1
                    elif command.primary_only:
                        continue
                    counts[1] += 1
                    route = self._bird_source(prefix, view)
                    if command.protocol is not None and route.peer != _source_of(command.protocol):
                        continue
                    out.append((prefix, texts(prefix, route)))
                yield out

        if command.stats == 2:
            total = 0
            for rows in shown():
                total += len(rows)
                yield []
            counted = counts[0] if command.primary_only else counts[1]
            yield [
                route_count_line(total, total if command.protocol is None else counted, counts[0])
            ]
            return
        yield from render_route_stream(shown(), command, lambda: (counts[0], counts[1]))

    def _route_texts(
        self, version: IpVersion, verbose: bool
    ) -> Steps[Callable[[str, RouteView], RouteText]]:
        """BIRD's text of a route of a whole-table walk (network, path), made once per path
        (and outgoing interface) and reused for the other networks of that path."""
        wall = self._wall()
        timeformat = self._timeformat("route")
        since, addresses = self._sessions(version, wall)
        devices = yield from _devices(self._hooks.kernel_routes())
        known: dict[tuple[int, str | None], tuple[RouteView, RouteText]] = {}

        def text(prefix: str, view: RouteView) -> RouteText:
            device = devices.get(prefix) if devices else None
            key = (id(view), device)
            found = known.get(key)
            if found is None or found[0] is not view:  # an id is reused once its view is gone
                if len(known) >= TEXTS_KEPT:
                    known.clear()
                source = view.peer
                route = bird_route(
                    view,
                    since=since.get(source, self._boot),
                    device=device,
                    peer_address=addresses.get(source),
                )
                found = known[key] = (
                    view,
                    route_text(route, wall, verbose=verbose, timeformat=timeformat),
                )
            return found[1]

        return text

    def _sessions(self, version: IpVersion, wall: float) -> tuple[dict[str, float], dict[str, str]]:
        """The version's peers' routes' `since` (a route is no older than the session that
        brought it) and addresses, by name."""
        since: dict[str, float] = {}
        addresses: dict[str, str] = {}
        for peer in self._peers(version):
            addresses[peer.name] = peer.address
            since[peer.name] = self._clock.since(peer.name, peer.uptime_s, wall)
        return since, addresses

    def _timeformat(self, kind: str) -> TimeFormat:
        return self._hooks.config().control.timeformat(kind)

    def proto_command(
        self, command: ProtoCommand, version: IpVersion, restricted: bool
    ) -> list[ReplyLine]:
        act = self._hooks.peer_action
        if act is None:
            return error_reply(Reply.PARSE_ERROR, f"'{command.action}' is not supported here")
        peers = [p.name for p in self._peers(version)]
        others = {p.name for p in finish(self.protocols(version, verbose=False))} - set(peers)
        return run_proto_command(command, peers, others, act, restricted=restricted)

    def status(self) -> StatusView:
        config = self._hooks.config()
        return StatusView(
            version=bird_version(),
            router_id=str(config.bgp.router_id),
            now=self._wall(),
            boot_time=self._boot,
            reconfigured_at=self._reconfigured_at,
            graceful_restart_waiting=self._hooks.graceful_restart(),
        )

    def configure(self, command: Configure) -> list[ReplyLine]:
        path = self._hooks.config_path()
        if command.action in ("confirm", "undo"):
            return render_configure_result(command, path, None)
        if path is None:
            problem = "bgpd was started without a config file: nothing to reload"
            return render_configure_result(command, "(none)", [problem])
        if command.file is not None and os.path.abspath(command.file) != os.path.abspath(path):
            problem = f"bgpd reads only its own config file {path}"
            return render_configure_result(command, command.file, [problem])
        try:
            if command.action == "check":
                self._hooks.check()
            else:
                logger.info("reload requested on the BIRD control socket")
                self._hooks.reload()
        except ConfigureRejectedError as exc:
            return render_configure_result(command, path, str(exc).splitlines())
        return render_configure_result(command, path, None)

    # ---------------------------------------------------------------------------- views

    def _peers(self, version: IpVersion) -> list[PeerView]:
        return [
            p for p in self._hooks.peers() if ipaddress.ip_address(p.address).version == version
        ]

    def protocols(self, version: IpVersion, verbose: bool) -> Steps[list[ProtocolView]]:
        config = self._hooks.config()
        wall = self._wall()
        peers = self._peers(version)
        locals_shown = [
            *(["static"] if any(s.prefix.version == version for s in config.all_statics) else []),
            *(["kernel", "connected"] if config.kernel.enabled else []),
        ]
        # Route counts only for `show protocols all`: the plain table is what the probes poll,
        # and it must not walk the sources' routes every few seconds.
        imported: dict[str, int] = {}
        preferred: dict[str, int] = {}
        if verbose:
            for source in [*locals_shown, *(p.name for p in peers)]:
                counts = yield from self._hooks.source_counts(source, version)
                imported[source], preferred[source] = counts
        protocols: list[ProtocolView] = []

        def local(source: str) -> None:
            name, proto, preference = LOCAL_SOURCES[source]
            protocols.append(
                local_protocol(
                    name,
                    proto,
                    preference,
                    since=self._boot,
                    imported=imported.get(source, 0),
                    preferred=preferred.get(source, 0),
                )
            )

        if "static" in locals_shown:
            local("static")
        if "kernel" in locals_shown:
            local("kernel")
        protocols.append(
            local_protocol("device1", "Device", 240, since=self._boot, imported=0, preferred=0)
        )
        if "connected" in locals_shown:
            local("connected")
        for peer in peers:
            name = peer.name
            # `show protocols all` reads the session's details too
            shown = (self._hooks.peer(name) or peer) if verbose else peer
            protocols.append(
                bgp_protocol(
                    shown,
                    _facts(config, name),
                    since=self._clock.since(name, peer.uptime_s, wall),
                    preferred=preferred.get(name, 0),
                )
            )
        return protocols

    def routes(self, version: IpVersion, command: ShowRoute) -> Steps[list[BirdRouteView]]:
        """The BIRD routes of a command that names a network or `export P` (a whole table
        without `export` is streamed: `_table_reply`)."""
        since, addresses = self._sessions(version, self._wall())
        devices = yield from _devices(self._hooks.kernel_routes())
        selected = yield from self._select(command, version)
        views: list[BirdRouteView] = []
        for batch in chunks(selected, VIEW_CHUNK):
            for found in batch:
                if _version(found.prefix) != version:
                    continue
                route = found
                source = route.peer
                views.append(
                    bird_route(
                        route,
                        since=since.get(source, self._boot),
                        device=devices.get(route.prefix),
                        peer_address=addresses.get(source),
                    )
                )
            yield
        return views

    def _select(self, command: ShowRoute, version: IpVersion) -> Steps[list[RouteView]]:
        """The routes a command needs: one network's (or its covering one's) when it names one,
        looked up directly rather than by walking the table; with `export P` those we send P."""
        network = command.network
        if command.export is not None:
            # the network (and for a longest match the ones covering it), looked up
            assert network is not None  # a whole Adj-RIB-Out is streamed: `_export_reply`
            sent = self._hooks.advertised(
                command.export, version, str(network), command.longest_match
            )
            rows = [] if sent is None else (yield from collect(sent))
            return [
                self._bird_source(prefix, replace(view, prefix=prefix)) for prefix, view in rows
            ]
        assert network is not None  # a whole table is streamed: `_table_reply`
        if not command.longest_match:
            return self._hooks.routes(str(network))
        for length in range(network.prefixlen, -1, -1):
            found = self._hooks.routes(str(network.supernet(new_prefix=length)))
            if found:
                return found
        return []

    def _bird_source(self, prefix: str, route: RouteView) -> RouteView:
        """An advertised route of `prefix` (bgpctl's view: `peer` "local" for our own routes)
        with the protocol BIRD names as its source: a local route's kind, read from the
        Loc-RIB."""
        if route.peer != ADVERTISED_LOCAL or route.source != ADVERTISED_SOURCE:
            return route
        for held in self._hooks.routes(prefix):
            if held.source in LOCAL_SOURCES:
                return replace(route, peer=held.source, source=held.source)
        return route


_LOCAL_PROTOCOLS = {protocol: source for source, (protocol, _, _) in LOCAL_SOURCES.items()}


def _source_of(protocol: str) -> str:
    """The route source a BIRD protocol name stands for: a peer's own name, or bgpd's local
    source behind static1/kernel1/direct1 (`LOCAL_SOURCES`)."""
    return _LOCAL_PROTOCOLS.get(protocol, protocol)


def _version(prefix: str) -> int:
    return 6 if ":" in prefix else 4


def _facts(config: Config, name: str) -> PeerFacts:
    try:
        peer = config.peer(name)
    except KeyError:  # a dynamic neighbour, or a peer removed since the view was taken
        return PeerFacts(local_asn=config.local_asn)
    return PeerFacts(
        # the session's own AS (a peer's local_asn, BIRD's `local as`) decides internal/external
        local_asn=config.local_asn if peer.local_asn is None else peer.local_asn,
        local_address=None if peer.local_address is None else str(peer.local_address),
        multihop=peer.multihop is not None,
        rr_client=peer.rr_client,
        description=peer.description or None,
        passive=peer.passive,
    )


_DEV = re.compile(r"\bdev (\S+)")


def _devices(kernel_routes: Sequence[KernelRouteRow]) -> Steps[dict[str, str]]:
    """The outgoing interface of each kernel route (the one bgpd installed when there are
    both), from `bgpctl show kernel`'s next hops ("via 10.0.0.2 dev eth0 onlink"), read
    `WALK_CHUNK` rows a step (a node may hold a route per pod)."""
    devices: dict[str, str] = {}
    for installed in (False, True):  # the installed ones last: theirs win
        for batch in chunks(kernel_routes):
            for row in batch:
                if (row.status == "installed") != installed:
                    continue
                for hop in row.next_hops:
                    match = _DEV.search(hop)
                    if match:
                        devices[row.prefix] = match.group(1)
                        break
            yield
    return devices
