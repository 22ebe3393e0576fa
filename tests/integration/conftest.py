"""Shared setup for integration tests: real processes, real sockets, real namespaces.

Every test under tests/integration is marked ``integration`` automatically (select or
deselect with ``-m integration`` / ``-m "not integration"``). The real-peer fixtures come from
``peers.fixtures`` (see its docstring): ``netns_factory``, ``lan_factory``, ``lan``,
``bird_factory``, ``gobgp_factory``, ``frr_factory``, ``openbgpd_factory``, plus a preflight
that fails (never skips) when the run is not root or a daemon binary is missing (run
``make deps``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .bgpd_proc import bgpd_factory

# a real etcd on loopback (etcd_factory(tls=, auth=), etcd_server); see etcd_server.py
from .etcd_server import etcd_factory, etcd_server

# a real kube-apiserver over etcd, with deploy/crds and deploy/rbac applied
# (kube_apiserver_factory, kube_apiserver, kube_apiserver_shared); see kube_apiserver.py
from .kube_apiserver import (
    _kube_apiserver_module,
    kube_apiserver,
    kube_apiserver_factory,
    kube_apiserver_shared,
)
from .peers.fixtures import (
    bird_factory,
    frr_factory,
    gobgp_factory,
    lan,
    lan_factory,
    netns_factory,
    openbgpd_factory,
    peer_preflight,
    pytest_runtest_makereport,
)

__all__ = [
    "_kube_apiserver_module",
    "bgpd_factory",
    "bird_factory",
    "etcd_factory",
    "etcd_server",
    "frr_factory",
    "gobgp_factory",
    "kube_apiserver",
    "kube_apiserver_factory",
    "kube_apiserver_shared",
    "lan",
    "lan_factory",
    "netns_factory",
    "openbgpd_factory",
    "peer_preflight",
    "pytest_collection_modifyitems",
    "pytest_runtest_makereport",
]

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test collected from this directory tree as ``integration``."""
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)
