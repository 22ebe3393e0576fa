"""Real BGP daemons (BIRD 1.6, BIRD 2, GoBGP) as test peers, in namespaces or on loopback.

Modules:
- `netns`: namespaces, veth links, bridged LANs, background processes (all cleaned up).
- `bird`: `BirdConfig`/`BgpPeer`/`StaticRoute` config builders and `BirdDaemon`.
- `gobgp`: `GobgpNeighbor` and `GobgpDaemon`.
- `routes`: the `Route` value both daemons report, and `wait_route`/`wait_no_route`.
- `poll`: `wait_until`, the standard way to wait in tests.
- `ports`: free TCP ports on loopback addresses.
- `binaries`: where the daemons are; `MissingBinaryError` says to run ``make deps``.

The pytest fixtures built on these live in ``tests/integration/conftest.py``.
"""

from .binaries import MissingBinaryError, missing_binaries
from .bird import BgpPeer, BirdConfig, BirdDaemon, BirdError, StaticRoute
from .daemon import Daemon, DaemonError
from .gobgp import GobgpDaemon, GobgpError, GobgpNeighbor
from .netns import CommandError, Lan, LanHost, Namespace, Process, veth
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
    "GobgpDaemon",
    "GobgpError",
    "GobgpNeighbor",
    "Lan",
    "LanHost",
    "MissingBinaryError",
    "Namespace",
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
