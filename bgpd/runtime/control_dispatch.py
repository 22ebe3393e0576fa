"""Control commands: what bgpctl's socket and the BIRD-compatible sockets ask, answered from
the speaker.

Role: the one place a `Request` becomes a reply (views, `reload`, `peer reset/disable/enable`
(`bgpd.runtime.peer_commands`), `show kernel`), and the `BirdHooks` the BIRD sockets read;
the socket servers (`bgpd.control`) only frame and carry them.

Invariants:
- Called on the loop thread only. A lookup is one consistent look at the speaker; a walk of
  a whole table (`bgpd.speaker.steps`) lets the loop run between its chunks (`run_steps`),
  so sessions and other clients go on meanwhile and the answer is read chunk by chunk. A
  list of routes is streamed (`RowStream`): each chunk of views is turned into JSON, written
  to the client and dropped before the next is built.
- A command that changes the speaker (`peer ...`) calls `flush` before replying: its
  outputs reach the sockets and the timer is re-armed.
- Secrets never leave: `show config` renders the config with every password masked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable

from bgpd.config import Config, ConfigError, render_config_toml
from bgpd.control.bird_peer_commands import Outcome
from bgpd.control.bird_protocol import ProtoCommand
from bgpd.control.bird_server import BirdHooks, ConfigureRejectedError, TableRow
from bgpd.control.protocol import ControlCommandError, Request, RowStream
from bgpd.control.steps_loop import run_steps, run_stream
from bgpd.net import IPV4_UNICAST, IPV6_UNICAST, Family, format_prefix
from bgpd.runtime.bfd_process import BfdProcess
from bgpd.runtime.kernel_wiring import KernelWiring
from bgpd.runtime.peer_commands import PEER_COMMANDS, bird_peer_action, peer_command
from bgpd.speaker import RouteQuery, RouteQueryError, Speaker
from bgpd.speaker.route_answers import (
    Listing,
    ReceivedRows,
    RouteAnswer,
    Row,
    SentRow,
    SentRows,
    rejected_view,
)
from bgpd.speaker.route_json import PathViews, RouteRowEncoder, SentRowEncoder, SentViews
from bgpd.speaker.steps import Steps, Stream
from bgpd.views import Json, ReceivedView, RouteCountView

__all__ = ["ControlDispatch", "answer_json", "rows_json", "run_steps"]


class ControlDispatch:
    __slots__ = (
        "_bfd",
        "_config_path",
        "_flush",
        "_kernel",
        "_load",
        "_now",
        "_reload",
        "_speaker",
    )

    def __init__(
        self,
        speaker: Speaker,
        *,
        now: Callable[[], float],
        reload: Callable[[], list[str]],
        flush: Callable[[], None],
        kernel: Callable[[], KernelWiring | None],
        config_path: str | None,
        load: Callable[[str], Config],
        bfd: Callable[[], BfdProcess | None] = lambda: None,
    ) -> None:
        # `load` reads the file for BIRD's `configure check` (the reflector's profile loader)
        self._config_path = config_path
        self._load = load
        self._speaker = speaker
        self._now = now
        self._reload = reload
        self._flush = flush
        self._kernel = kernel
        self._bfd = bfd

    async def handle(self, request: Request) -> Json | RowStream:
        cmd, args, now = request.command, request.args, self._now()
        speaker = self._speaker
        if cmd == "ping":  # the /livez probe (the socket answers, nothing else)
            return "pong"
        if cmd == "show peers":
            return [view.to_json() for view in speaker.peer_views(now)]
        if cmd == "show peer":
            view = speaker.peer_view(str(args.get("name")), now)
            if view is None:
                raise ControlCommandError(f"no peer named {args.get('name')!r}")
            return view.to_json()
        if cmd == "show routes":
            try:
                query = RouteQuery.from_args(args)
                listing = speaker.route_query_chunks(query)
                if listing is not None:  # a list of routes, maybe a million: streamed
                    return listing_stream(listing)
                found = await run_steps(speaker.route_query_steps(query))
            except RouteQueryError as exc:
                raise ControlCommandError(str(exc)) from exc
            return await answer_json(found)
        if cmd == "show config":
            return render_config_toml(speaker.config, mask_secrets=True)
        if cmd == "reload":
            return {"changes": list[Json](self._reload())}
        if cmd in PEER_COMMANDS:  # peer reset / disable / enable
            reply = peer_command(speaker, cmd, args, now)
            self._flush()
            return reply
        if cmd == "show kernel":
            kernel = self._kernel()
            if kernel is None:
                raise ControlCommandError("kernel sync is off ([kernel] enabled = false)")
            return [row.to_json() for row in kernel.views()]
        raise ControlCommandError(f"unknown command {cmd!r}")

    def _advertised(
        self, name: str, version: int, network: str | None, longest: bool
    ) -> Stream[TableRow] | None:
        """BIRD's `show route [NETWORK | for NETWORK] export NAME`: bgpctl's `--advertised
        --family [PREFIX [--shorter]]` stream, its paths' views shared (`SentViews`); None:
        no such peer. A network is looked up, not walked for (`route_answers.sent_chunks`)."""
        family = IPV4_UNICAST if version == 4 else IPV6_UNICAST
        query = RouteQuery(
            peer=name, advertised=True, family=family, prefix=network, shorter=longest
        )
        try:
            listing = self._speaker.route_query_chunks(query)
        except RouteQueryError:
            return None
        assert isinstance(listing, SentRows)
        return _sent_table(listing, family)

    def _table(self, version: int, source: str | None, best: bool) -> Stream[TableRow]:
        """BIRD's `show route` of a whole table: bgpctl's `show routes --family [--peer
        SOURCE] [--best]` stream, its paths' views shared (`PathViews`); an unknown source has
        no rows."""
        family = IPV4_UNICAST if version == 4 else IPV6_UNICAST
        query = RouteQuery(family=family, peer=source, best=best)
        try:
            stream = self._speaker.route_query_chunks(query)
        except RouteQueryError:  # not a source of routes (device1), or gone meanwhile
            return
        assert stream is not None and not isinstance(stream, (SentRows, ReceivedRows))
        views = PathViews()
        afi = family.afi
        for rows in stream:
            yield [(format_prefix(row[1], afi), views(row)) for row in rows]

    def _table_counts(self, version: int) -> tuple[int, int]:
        """(networks, paths) of a family's table: `show routes --count`, its counters."""
        family = IPV4_UNICAST if version == 4 else IPV6_UNICAST
        found = self._speaker.route_query(RouteQuery(family=family, count=True))
        assert isinstance(found, list)
        counts = [c for c in found if isinstance(c, RouteCountView)]
        return sum(c.prefixes for c in counts), sum(c.paths for c in counts)

    def _source_counts(self, name: str, version: int) -> Steps[tuple[int, int]]:
        """(paths, best paths) of one source in a family (`show protocols all`'s counts), from
        bgpctl's `show routes --peer NAME --count`: a walk of the source's own routes."""
        family = IPV4_UNICAST if version == 4 else IPV6_UNICAST
        query = RouteQuery(peer=name, family=family, count=True)
        try:
            found = yield from self._speaker.route_query_steps(query)
        except RouteQueryError:  # gone since the protocol list was read
            return 0, 0
        assert isinstance(found, list)
        counts = [c for c in found if isinstance(c, RouteCountView)]
        return sum(c.paths for c in counts), sum(c.best for c in counts)

    def bird_hooks(self) -> BirdHooks:
        """What the BIRD-compatible sockets read (bgpd/control/bird_server.py)."""

        def reload() -> object:
            try:
                return self._reload()
            except ControlCommandError as exc:
                raise ConfigureRejectedError(str(exc)) from exc

        def check() -> object:
            if self._config_path is None:
                raise ConfigureRejectedError("bgpd was started without a config file")
            try:
                return self._load(self._config_path)
            except (ConfigError, OSError) as exc:
                raise ConfigureRejectedError(str(exc)) from exc

        def graceful_restart() -> int | None:
            # BIRD's -R recovery: from start until every peer's End-of-RIB; the peers not yet
            # Established are the ones certainly still awaited.
            if not self._speaker.recovering:
                return None
            views = self._speaker.peer_views(self._now())
            return sum(1 for view in views if view.state != "Established")

        def peer_action(name: str, command: ProtoCommand) -> Outcome:
            outcome = bird_peer_action(self._speaker, name, command, self._now())
            self._flush()
            return outcome

        return BirdHooks(
            config=lambda: self._speaker.config,
            config_path=lambda: self._config_path,
            peers=lambda: self._speaker.peer_views(self._now()),
            peer=lambda name: self._speaker.peer_view(name, self._now()),
            routes=self._speaker.route_views,
            table=self._table,
            table_counts=self._table_counts,
            source_counts=self._source_counts,
            advertised=self._advertised,
            kernel_routes=lambda: [] if (kernel := self._kernel()) is None else kernel.views(),
            reload=reload,
            check=check,
            graceful_restart=graceful_restart,
            bfd_sessions=lambda: [] if (bfd := self._bfd()) is None else bfd.bird_rows(),
            peer_action=peer_action,
        )


JSON_CHUNK = 2_000  # views turned into JSON between two turns of the loop


async def answer_json(found: RouteAnswer) -> Json:
    """A route answer's JSON, a chunk of views at a time (10,000 views take some 50 ms)."""
    if isinstance(found, ReceivedView):
        return found.to_json()
    rows: list[Json] = []
    for start in range(0, len(found), JSON_CHUNK):
        if start:
            await asyncio.sleep(0)
        rows.extend(view.to_json() for view in found[start : start + JSON_CHUNK])
    return rows


def _sent_table(listing: SentRows, family: Family) -> Stream[TableRow]:
    views = SentViews()
    afi = family.afi
    for rows in listing.rows:
        yield [(format_prefix(row[1], afi), views(row)) for row in rows]


def listing_stream(listing: Listing) -> RowStream:
    """A list answer's streams (`route_answers.answer_chunks`) as the reply's JSON, written
    as it is made (`RowStream`): the line `encode_reply` makes of the whole answer."""
    if isinstance(listing, SentRows):
        return RowStream(sent_json(listing.rows))
    if isinstance(listing, ReceivedRows):
        # the view's own JSON, its lists marked, cut around them: `to_json` stays their home
        marks = ReceivedView(peer=listing.peer, note=listing.note).to_json()
        marks["accepted"] = marks["rejected"] = _MARK
        head, between, tail = json.dumps(marks, separators=(",", ":")).split(_MARK_JSON)
        return RowStream(
            received_json(listing, f"]{between}[".encode()),
            head=f"{head}[".encode(),
            tail=f"]{tail}".encode(),
        )
    return RowStream(rows_json(listing))


_MARK = "\0"
_MARK_JSON = json.dumps(_MARK)


async def received_json(
    listing: ReceivedRows, between: bytes
) -> AsyncGenerator[list[str] | bytes, None]:
    """`--received`'s rows: the accepted paths, the text between the lists, the refused
    prefixes, each chunk made, handed on and dropped in its own step."""
    async for rows in rows_json(listing.accepted):
        yield rows
    yield between
    async for refused in run_stream(listing.rejected):
        yield [
            json.dumps(rejected_view(family, nlri).to_json(), separators=(",", ":"))
            for family, nlri in refused
        ]


async def sent_json(stream: Stream[SentRow]) -> AsyncGenerator[list[str], None]:
    """`--advertised`'s rows as the JSON text of their views (`SentRowEncoder`)."""
    encode = SentRowEncoder()
    async for rows in run_stream(stream):
        yield [encode(row) for row in rows]


async def rows_json(stream: Stream[Row]) -> AsyncGenerator[list[str], None]:
    """A streamed answer's chunks of paths as the JSON text of their views, each chunk made,
    handed on and dropped in its own step (`VIEW_CHUNK` prefixes, a few ms)."""
    encode = RouteRowEncoder()
    async for rows in run_stream(stream):
        yield [encode(row) for row in rows]
