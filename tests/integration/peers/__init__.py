"""Real BGP daemons (BIRD, GoBGP, FRR, OpenBGPD) as test peers, in namespaces or on loopback.

Modules:
- `netns`: namespaces, veth links, bridged LANs, background processes (all cleaned up).
- `bird`: `BirdConfig`/`BgpPeer`/`StaticRoute` config builders and `BirdDaemon`.
- `gobgp`: `GobgpNeighbor` and `GobgpDaemon`.
- `frr`: `FrrNeighbor` and `FrrDaemon` (FRR's bgpd alone, queried with vtysh).
- `openbgpd`: `OpenbgpdNeighbor` and `OpenbgpdDaemon` (queried with OpenBGPD's bgpctl).
- `routes`: the `Route` value both daemons report, and `wait_route`/`wait_no_route`.
- `poll`: `wait_until`, the standard way to wait in tests.
- `ports`: free TCP ports on loopback addresses.
- `binaries`: where the daemons are; `MissingBinaryError` says to run ``make deps``.

The pytest fixtures built on these live in ``tests/integration/conftest.py``.
"""

from .binaries import MissingBinaryError, missing_binaries
from .bird import BgpPeer, BirdConfig, BirdDaemon, BirdError, StaticRoute
from .daemon import Daemon, DaemonError
from .frr import FrrDaemon, FrrError, FrrNeighbor
from .gobgp import GobgpDaemon, GobgpError, GobgpNeighbor
from .netns import CommandError, Lan, LanHost, Namespace, Process, veth
from .openbgpd import OpenbgpdDaemon, OpenbgpdError, OpenbgpdNeighbor
from .poll import wait_until
from .ports import free_tcp_port, free_tcp_ports
from .routes import PeerDaemon, Route, RouteTable

__all__ = [
    "BgpPeer",
    "BirdConfig",
    "BirdDaemon",
    "BirdError",
    "CommandError",
    "Daemon",
    "DaemonError",
    "FrrDaemon",
    "FrrError",
    "FrrNeighbor",
    "GobgpDaemon",
    "GobgpError",
    "GobgpNeighbor",
    "Lan",
    "LanHost",
    "MissingBinaryError",
    "Namespace",
    "OpenbgpdDaemon",
    "OpenbgpdError",
    "OpenbgpdNeighbor",
    "PeerDaemon",
    "Process",
    "Route",
    "RouteTable",
    "StaticRoute",
    "free_tcp_port",
    "free_tcp_ports",
    "missing_binaries",
    "veth",
    "wait_until",
]
