"""Route-reflector topologies in network namespaces: configs for reflectors and their clients,
and a route monitor that proves a kernel table did not churn.

One bridged `Lan` carries everything; each host is a reflector or a client:

- a bgpd reflector runs `bgpd run` with what `bgp-reflector` wraps: `[bgp] cluster_id`, kernel
  sync off, every client a `[[peer]]` with `rr_client = true`, the other reflectors of its
  cluster (and any reflector above it in a hierarchy) ordinary iBGP non-clients;
- a bgpd client is a Calico-like node (`[node]`, `[calico]` blocks and pool, kernel sync on)
  with the node-to-node mesh off and one `Global_<ip>` peer per reflector, as confd renders a
  node that peers with reflectors through a BGPPeer (calico-bgp.md §2.3, §2.4);
- a BIRD 1.6 client is configured the way Calico's bird.cfg configures such a node (bird_aggr
  and bird_ipam inlined, Calico's template, `Global_` peers, its export and kernel filters);
- a BIRD 2 reflector uses `rr client; rr cluster id` towards its clients.

Who opens a session follows Calico's rule for global peers that are Calico nodes: the side
whose address is greater (as a string) is passive, so exactly one side connects. Timers are
short (hold 9 s, connect retry 1-2 s, error wait 1 s) so a killed reflector's sessions come
back within seconds; graceful restart stays on, as in Calico's template, unless a test says
otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from .bgpd_proc import BgpdProcess
from .calico_node import POOL, ours
from .peers import LanHost, Namespace, Process, wait_until

CLUSTER_ID = "224.0.0.1"  # Calico's usual routeReflectorClusterID
ASN = 64512

# bgpd's timers in every config here; BIRD's equivalents are in the BIRD templates below.
BGPD_TIMERS = """hold_time = 9
keepalive_time = 3
connect_retry_time = 1
error_wait_min = 1
error_wait_max = 2"""

# A sentinel route proves the monitor has caught up; TEST-NET-1 is never a block.
_SENTINEL_NET = "192.0.2"


def mangle(address: object) -> str:
    """An address as Calico writes it in protocol names: ``10.99.0.1`` -> ``10_99_0_1``."""
    return str(address).replace(".", "_").replace(":", "_")


def global_peer(address: object) -> str:
    """The name confd gives a global BGPPeer session (``Global_10_99_0_1``)."""
    return f"Global_{mangle(address)}"


def passive_towards(me: LanHost, peer: LanHost) -> bool:
    """Calico's rule for global peers that are Calico nodes: the greater address (as a string,
    like the Go template's ``gt``) waits, the other connects (calico-bgp.md §2.4)."""
    return str(peer.ipv4) > str(me.ipv4)


def _bgpd_peer(me: LanHost, peer: LanHost, *, rr_client: bool) -> str:
    lines = [
        "",
        "[[peer]]",
        f'name = "{global_peer(peer.ipv4)}"',
        f'address = "{peer.ipv4}"',
        f"asn = {ASN}",
        f'local_address = "{me.ipv4}"',
    ]
    if rr_client:
        lines.append("rr_client = true")
    if passive_towards(me, peer):
        lines.append("passive = true")
    return "\n".join(lines) + "\n"


def bgpd_reflector_config(
    me: LanHost,
    *,
    cluster_id: str = CLUSTER_ID,
    clients: Sequence[LanHost],
    non_clients: Sequence[LanHost] = (),
    graceful_restart: bool = True,
) -> str:
    """A reflector as `bgp-reflector` runs it: cluster id, no kernel sync, no `[calico]`
    (it passes on whatever its clients announce), clients marked `rr_client`, and
    `non_clients` (same-cluster reflectors, or the reflectors of a cluster above this one)
    as ordinary iBGP peers."""
    peers = "".join(_bgpd_peer(me, c, rr_client=True) for c in clients)
    peers += "".join(_bgpd_peer(me, n, rr_client=False) for n in non_clients)
    return f"""
[bgp]
asn = {ASN}
router_id = "{me.ipv4}"
listen = ["{me.ipv4}"]
cluster_id = "{cluster_id}"
log_level = "debug"
graceful_restart = {str(graceful_restart).lower()}
{BGPD_TIMERS}

[control]
socket = "@SOCKET@"

[kernel]
enabled = false
{peers}"""


def bgpd_client_config(
    me: LanHost,
    name: str,
    *,
    reflectors: Sequence[LanHost],
    blocks: Sequence[str],
    graceful_restart: bool = True,
) -> str:
    """A Calico node (no cluster id) that peers with `reflectors` instead of a mesh: what
    confd renders with `nodeToNodeMeshEnabled: false` and a BGPPeer selecting the reflectors."""
    peers = "".join(_bgpd_peer(me, rr, rr_client=False) for rr in reflectors)
    block_list = ", ".join(f'"{b}"' for b in blocks)
    return f"""
[bgp]
asn = {ASN}
log_level = "debug"
graceful_restart = {str(graceful_restart).lower()}
{BGPD_TIMERS}

[control]
socket = "@SOCKET@"

[node]
name = "{name}"
ipv4 = "{me.ipv4_cidr}"

[mesh]
enabled = false

[calico]
blocks = [{block_list}]

[[calico.pool]]
cidr = "{POOL}"

[kernel]
enabled = true
{peers}"""


# Calico v3.30's bird.cfg for a node without rr_cluster_id whose mesh is off and which peers
# with reflectors through a global BGPPeer; bird_aggr.cfg and bird_ipam.cfg are inlined. The
# template's timers are shortened (Calico: connect delay 2, retry 5, error wait 5,30, hold 240)
# and there is no krt_tunnel (a Calico fork extension; the pool is no-encap).
_BIRD16_CLIENT = """
router id {me};
log stderr all;

filter calico_kernel_programming {{
  if ( net ~ {pool} ) then {{ accept; }}
  accept;
}}
function calico_aggr () {{
  if ( net = {block} ) then {{ accept; }}
  if ( net ~ {block} ) then {{ reject; }}
}}
function calico_export_to_bgp_peers(bool internal_peer) {{
  calico_aggr();
  if ( net ~ {pool} ) then {{ accept; }}
}}

protocol static {{ route {block} blackhole; }}
protocol kernel {{
  learn; persist; scan time 2; import all; graceful restart; merge paths on;
  export filter calico_kernel_programming;
}}
protocol device {{ debug {{ states }}; scan time 2; }}
protocol direct {{ debug {{ states }}; interface -"cali*", -"kube-ipvs*", "*"; }}

template bgp bgp_template {{
  debug {{ states }};
  description "Connection to BGP peer";
  local as {asn};
  multihop;
  gateway recursive;
  import all;
  add paths on;
  graceful restart;
  connect delay time 1;
  connect retry time 2;
  error wait time 1,5;
  hold time 9;
  keepalive time 3;
}}
{peers}"""

_BIRD16_PEER = """
protocol bgp {name} from bgp_template {{
  ttl security off;
  multihop;
  neighbor {address} as {asn};
  source address {me};
  import filter {{ accept; }};
  export filter {{ calico_export_to_bgp_peers(true); reject; }};{passive}
}}
"""


def bird16_client_config(me: LanHost, *, reflectors: Sequence[LanHost], block: str) -> str:
    """BIRD 1.6 as Calico configures a node peering with route reflectors."""
    peers = "".join(
        _BIRD16_PEER.format(
            name=global_peer(rr.ipv4),
            address=rr.ipv4,
            asn=ASN,
            me=me.ipv4,
            passive="\n  passive on;" if passive_towards(me, rr) else "",
        )
        for rr in reflectors
    )
    return _BIRD16_CLIENT.format(me=me.ipv4, pool=POOL, block=block, asn=ASN, peers=peers)


_BIRD2_REFLECTOR = """
router id {me};
log stderr all;
protocol device {{ scan time 2; }}
# Resolves the clients' next hops (iBGP routes use recursive gateways by default).
protocol direct {{ ipv4; interface "{ifname}"; }}

template bgp rr_template {{
  debug {{ states, events }};
  local {me} as {asn};
  # Reflect BGP routes only, not the direct protocol's subnet.
  ipv4 {{ import all; export where source = RTS_BGP; }};
  graceful restart;
  connect delay time 1;
  connect retry time 2;
  error wait time 1,5;
  hold time 9;
  keepalive time 3;
}}
{peers}"""


def bird2_reflector_config(
    me: LanHost,
    *,
    cluster_id: str = CLUSTER_ID,
    clients: Sequence[LanHost],
    non_clients: Sequence[LanHost] = (),
) -> str:
    """BIRD 2 as a route reflector, no kernel protocol: `rr client; rr cluster id` towards
    `clients`, plain iBGP towards `non_clients`."""
    blocks = []
    for peer, client in itertools.chain(
        ((c, True) for c in clients), ((n, False) for n in non_clients)
    ):
        body = [f"neighbor {peer.ipv4} as {ASN};"]
        if client:
            body.append(f"rr client; rr cluster id {cluster_id};")
        if passive_towards(me, peer):
            body.append("passive on;")
        inner = "\n  ".join(body)
        blocks.append(f"protocol bgp {global_peer(peer.ipv4)} from rr_template {{\n  {inner}\n}}\n")
    return _BIRD2_REFLECTOR.format(me=me.ipv4, ifname=me.ifname, asn=ASN, peers="\n".join(blocks))


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """A node whose kernel must end up with every other client's block."""

    host: LanHost
    block: str

    @property
    def ns(self) -> Namespace:
        return self.host.ns

    @property
    def address(self) -> str:
        return str(self.host.ipv4)


def missing_blocks(client: Client, others: Iterable[Client]) -> list[str]:
    """The other clients' blocks that `client`'s kernel lacks (as protocol 12 routes, BIRD's
    and bgpd's alike) or holds with a next hop other than their owner."""
    table = ours(client.ns)
    wrong = []
    for other in others:
        if other is client:
            continue
        route = table.get(other.block)
        if route is None or route.get("gateway") != other.address:
            wrong.append(f"{other.block} via {other.address}: got {route}")
    return wrong


def wait_full_mesh_of_blocks(clients: Sequence[Client], timeout: float = 45) -> None:
    """Every client's kernel holds every other client's block via that client."""

    def all_there() -> bool:
        return not any(missing_blocks(c, clients) for c in clients)

    wait_until(
        all_there,
        timeout=timeout,
        interval=0.2,
        message="every client's kernel holds every other client's block",
        describe=lambda: "\n".join(
            f"{c.address}: missing {missing_blocks(c, clients)}\n{c.ns.ip('route')}"
            for c in clients
        ),
    )


def prefixes_from(node: BgpdProcess, peer: str, *, fresh: bool = False) -> set[str]:
    """The prefixes `node` holds a path for from `peer` (only non-stale ones if `fresh`)."""
    return {r["prefix"] for r in node.routes(peer=peer) if not (fresh and r["stale"])}


def session_down(node: BgpdProcess, peer: str) -> Callable[[], bool]:
    """A `wait_until` probe: `node`'s session with `peer` is not Established."""
    return lambda: node.state(peer) != "Established"


def holds_from(
    node: BgpdProcess, peer: str, prefixes: set[str], *, fresh: bool = False
) -> Callable[[], bool]:
    """A `wait_until` probe: `node`'s paths from `peer` are exactly for `prefixes`."""
    return lambda: prefixes_from(node, peer, fresh=fresh) == prefixes


def received_accepted(node: BgpdProcess, peer: str) -> tuple[int, int]:
    """How many prefixes `peer` announced to `node`, and how many of them `node` kept (the
    rest were dropped on arrival, e.g. by the RFC 4456 §8 loop checks)."""
    view = node.peers()[peer]
    return int(view["prefixes_received"]), int(view["prefixes_accepted"])


def counts_are(node: BgpdProcess, peer: str, expected: tuple[int, int]) -> Callable[[], bool]:
    """A `wait_until` probe: `received_accepted(node, peer) == expected`."""
    return lambda: received_accepted(node, peer) == expected


class RouteMonitor:
    """`ip monitor route` in a namespace, started before an event, read after it.

    `sync()` adds and removes a fresh sentinel route and waits until the monitor printed its
    removal: every route change the kernel made before the call is then in the output, so
    "no line about a block" is evidence, not a race with the monitor's own output buffering.
    """

    __slots__ = ("_count", "_proc", "ns")

    def __init__(self, ns: Namespace, log_dir: Path, name: str) -> None:
        self.ns = ns
        self._count = 0
        self._proc: Process = ns.spawn(["ip", "monitor", "route"], name=name, log_dir=log_dir)
        self.sync()  # also proves the monitor is up before the caller acts

    def lines(self) -> list[str]:
        return self._proc.stdout_path.read_text().splitlines()

    def sync(self, timeout: float = 10) -> None:
        sent: set[str] = set()
        seen_before = len(self.lines())  # only what the monitor prints from now on counts

        def poke_and_look() -> bool:
            # A fresh sentinel per try: right after the spawn, `ip monitor` may not have
            # subscribed yet and misses the first ones.
            self._count += 1
            sentinel = f"{_SENTINEL_NET}.{self._count % 250 + 1}"
            self.ns.ip("route", "add", f"{sentinel}/32", "dev", "lo")
            self.ns.ip("route", "del", f"{sentinel}/32", "dev", "lo")
            sent.add(f"Deleted {sentinel} ")
            return any(line.startswith(tuple(sent)) for line in self.lines()[seen_before:])

        wait_until(
            poke_and_look,
            timeout=timeout,
            interval=0.1,
            message=f"ip monitor in {self.ns.name} printed a sentinel route's removal",
            describe=lambda: "\n".join(self.lines()[-20:]),
        )

    def events(self, prefixes: Iterable[str]) -> list[str]:
        """Every line the monitor printed about one of `prefixes` (adds, replaces, deletes)."""
        wanted = {p.removesuffix("/32") for p in prefixes}
        return [
            line
            for line in self.lines()
            if line.removeprefix("Deleted ").split(" ", 1)[0] in wanted
        ]

    def deletions(self, prefixes: Iterable[str]) -> list[str]:
        return [line for line in self.events(prefixes) if line.startswith("Deleted ")]

    def stop(self) -> None:
        self._proc.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
