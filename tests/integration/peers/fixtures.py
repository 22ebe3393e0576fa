"""pytest fixtures for tests against real peers; ``tests/integration/conftest.py`` exposes them.

They live in a module (not only in the conftest) so they can also be loaded as a plugin with
``-p peers.fixtures``, which the self-test uses to prove cleanup from inside a failing run.

Fixtures (all function-scoped, all cleaned up at teardown, also when the test failed):
- ``netns_factory(**Namespace kwargs) -> Namespace``
- ``lan_factory(n_hosts, **Lan kwargs) -> Lan`` and ``lan`` (a two-host `Lan`)
- ``bird_factory(config, version=..., family=..., netns=..., name=...) -> BirdDaemon`` (started)
- ``gobgp_factory(asn=..., router_id=..., neighbors=..., netns=..., ...) -> GobgpDaemon``
- ``frr_factory(asn=..., router_id=..., neighbors=..., routes=..., netns=..., ...) -> FrrDaemon``
- ``openbgpd_factory(asn=..., router_id=..., neighbors=..., routes=..., ...) -> OpenbgpdDaemon``
  (all four are a `DaemonFactory`: the daemon class's arguments, plus ``name`` and ``start``)
- ``peer_preflight`` (session, autouse): fails, never skips, when not root or when a daemon
  binary is missing (the message says to run ``make deps``); removes namespaces left behind
  by killed runs; turns SIGTERM into KeyboardInterrupt so teardowns still run.

When a test fails, the diagnostics of every daemon it started (protocol dumps, log tails) are
attached to its report as a "peer daemon diagnostics" section.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Generic, TypeVar

import pytest

from .binaries import BirdVersion, Family, missing_binaries
from .bird import BirdDaemon
from .daemon import Daemon
from .frr import FrrDaemon
from .gobgp import GobgpDaemon
from .netns import Lan, Namespace, remove_stale_namespaces
from .openbgpd import OpenbgpdDaemon

__all__ = [
    "BirdFactory",
    "DaemonFactory",
    "FrrFactory",
    "GobgpFactory",
    "OpenbgpdFactory",
    "bird_factory",
    "frr_factory",
    "gobgp_factory",
    "lan",
    "lan_factory",
    "netns_factory",
    "openbgpd_factory",
    "peer_preflight",
    "pytest_runtest_makereport",
]

D = TypeVar("D", bound=Daemon)
DIAGNOSTICS = pytest.StashKey[list[Callable[[], str]]]()


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session", autouse=True)
def peer_preflight() -> Iterator[None]:
    """Fail the run early and clearly if it cannot work; clear leftovers of killed runs.

    For the session, SIGTERM (a cancelled CI job, ``timeout``) is turned into
    KeyboardInterrupt, which pytest handles by running fixture teardowns: namespaces and
    daemons are removed instead of leaking, as they would on Python's default SIGTERM exit.
    """
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (they create network namespaces)", pytrace=False)
    problems = missing_binaries()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
    remove_stale_namespaces()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt) if main else None
    yield
    if main and previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _close_all(resources: Sequence[Lan | Namespace | Daemon]) -> None:
    errors: list[BaseException] = []
    for res in reversed(resources):
        try:
            res.close()
        except Exception as exc:  # keep closing the rest; report the first failure after
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def netns_factory() -> Iterator[Callable[..., Namespace]]:
    """Make `Namespace` objects (``forwarding=...``); all are deleted at teardown."""
    made: list[Namespace] = []

    def make(**kwargs: Any) -> Namespace:
        ns = Namespace(**kwargs)
        made.append(ns)
        return ns

    yield make
    _close_all(made)


@pytest.fixture
def lan_factory() -> Iterator[Callable[..., Lan]]:
    """Make `Lan` objects: ``lan_factory(3, subnet_v4="10.98.0.0/24")``; deleted at teardown."""
    made: list[Lan] = []

    def make(n_hosts: int = 2, **kwargs: Any) -> Lan:
        lan = Lan(n_hosts, **kwargs)
        made.append(lan)
        return lan

    yield make
    _close_all(made)


@pytest.fixture
def lan(lan_factory: Callable[..., Lan]) -> Lan:
    """Two hosts on 10.99.0.0/24 and fd00:99::/64 (``.1``/``::1`` and ``.2``/``::2``)."""
    return lan_factory(2)


class DaemonFactory(Generic[D]):
    """A fixture's maker of one kind of daemon: ``factory(*args, name=None, start=True, **kw)``.

    ``args`` and ``kw`` are the daemon class's own (its builder options, ``netns``...); the
    factory gives each daemon a unique ``name`` (the daemon's default name, numbered when taken)
    and ``tmp_path/<name>/`` as its workdir (kept by pytest for inspection), attaches its
    diagnostics to the report of a failed test, starts it unless ``start=False``, and stops
    every daemon it made at teardown.
    """

    __slots__ = ("_default_name", "_made", "_make", "_names", "_request", "_tmp_path")

    def __init__(
        self,
        request: pytest.FixtureRequest,
        tmp_path: Path,
        make: Callable[..., D],
        default_name: Callable[..., str],
    ) -> None:
        self._request = request
        self._tmp_path = tmp_path
        self._make = make
        self._default_name = default_name
        self._made: list[Daemon] = []
        self._names: set[str] = set()

    def _unique(self, base: str) -> str:
        name, n = base, 1
        while name in self._names:
            n += 1
            name = f"{base}-{n}"
        self._names.add(name)
        return name

    def __call__(self, *args: Any, name: str | None = None, start: bool = True, **kw: Any) -> D:
        unique = self._unique(name or self._default_name(*args, **kw))
        daemon = self._make(*args, workdir=self._tmp_path / unique, name=unique, **kw)
        self._made.append(daemon)
        self._request.node.stash.setdefault(DIAGNOSTICS, []).append(daemon.diagnostics)
        if start:
            daemon.start()
        return daemon

    def close(self) -> None:
        _close_all(self._made)


BirdFactory = DaemonFactory[BirdDaemon]
"""``bird_factory(config, version="2", family=4, netns=None, name=None, start=True)``."""
GobgpFactory = DaemonFactory[GobgpDaemon]
"""``gobgp_factory(asn=, router_id=, neighbors=(), netns=None, listen_port=179, ...)``."""
FrrFactory = DaemonFactory[FrrDaemon]
"""``frr_factory(asn=, router_id=, neighbors=(), routes=(), netns=None, ...)``."""
OpenbgpdFactory = DaemonFactory[OpenbgpdDaemon]
"""``openbgpd_factory(asn=, router_id=, neighbors=(), routes=(), netns=None, ...)``."""


def _bird_name(*_: Any, version: BirdVersion = "2", family: Family = 4, **__: Any) -> str:
    return BirdDaemon.default_name(version, family)


def _serve(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make: Callable[..., D],
    default_name: Callable[..., str],
) -> Iterator[DaemonFactory[D]]:
    factory = DaemonFactory(request, tmp_path, make, default_name)
    yield factory
    factory.close()


@pytest.fixture
def bird_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BirdFactory]:
    """Start `BirdDaemon`s (see `DaemonFactory`); all are stopped at teardown."""
    yield from _serve(request, tmp_path, BirdDaemon, _bird_name)


@pytest.fixture
def gobgp_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GobgpFactory]:
    """Start `GobgpDaemon`s (see `DaemonFactory`); all are stopped at teardown."""
    yield from _serve(request, tmp_path, GobgpDaemon, lambda *_, **__: "gobgpd")


@pytest.fixture
def frr_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FrrFactory]:
    """Start `FrrDaemon`s (see `DaemonFactory`); all are stopped at teardown."""
    yield from _serve(request, tmp_path, FrrDaemon, lambda *_, **__: "frr")


@pytest.fixture
def openbgpd_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenbgpdFactory]:
    """Start `OpenbgpdDaemon`s (see `DaemonFactory`); all are stopped at teardown."""
    yield from _serve(request, tmp_path, OpenbgpdDaemon, lambda *_, **__: "openbgpd")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach daemon diagnostics to the report of a failed test (daemons still run then)."""
    report = yield
    if report.when == "call" and report.failed:
        for describe in item.stash.get(DIAGNOSTICS, []):
            try:
                text = describe()
            except Exception as exc:  # a broken daemon must not hide the test failure
                text = f"<diagnostics failed: {exc!r}>"
            report.sections.append(("peer daemon diagnostics", text))
    return report
