"""Where the real peer daemons live, and a clear failure when one is missing.

BIRD 2, GoBGP, FRR and OpenBGPD come from Debian packages (``/usr/sbin``, ``/usr/bin``, FRR's
daemons in ``/usr/lib/frr``). BIRD 1.6 conflicts
with the ``bird2`` package, so ``scripts/install-debian-deps.sh`` (``make deps``) unpacks it into
``<repo>/.deps/bird1``. BIRD 1.6 has separate binaries per family: ``bird``/``birdc`` for IPv4
and ``bird6``/``birdc6`` for IPv6; BIRD 2 serves both families from one daemon.

Invariant: every lookup either returns an executable path or raises `MissingBinaryError`
whose message tells the user to run ``make deps``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "BIRD1_SBIN",
    "REPO_ROOT",
    "BirdBinaries",
    "MissingBinaryError",
    "bird_binaries",
    "frr_binaries",
    "gobgp_binaries",
    "missing_binaries",
    "openbgpd_binaries",
]

REPO_ROOT = Path(__file__).resolve().parents[3]
BIRD1_SBIN = REPO_ROOT / ".deps" / "bird1" / "usr" / "sbin"
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BirdVersion = Literal["1.6", "2"]
Family = Literal[4, 6]


class MissingBinaryError(RuntimeError):
    """A daemon binary the integration tests need is not installed."""

    def __init__(self, what: str, where: str) -> None:
        super().__init__(
            f"{what} not found ({where}). Install the test peers with `make deps` "
            "(scripts/install-debian-deps.sh) and re-run."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BirdBinaries:
    """The daemon and its control client for one BIRD version and family."""

    daemon: Path
    client: Path


def _system(name: str) -> Path:
    found = shutil.which(name, path=_SYSTEM_PATH + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        raise MissingBinaryError(name, f"searched {_SYSTEM_PATH}")
    return Path(found)


def _executable(path: Path, what: str) -> Path:
    if not os.access(path, os.X_OK):
        raise MissingBinaryError(what, str(path))
    return path


def bird_binaries(version: BirdVersion, family: Family = 4) -> BirdBinaries:
    """Paths of ``bird``/``birdc`` (or ``bird6``/``birdc6`` for BIRD 1.6 IPv6)."""
    if version == "1.6":
        suffix = "6" if family == 6 else ""
        return BirdBinaries(
            daemon=_executable(BIRD1_SBIN / f"bird{suffix}", f"BIRD 1.6 bird{suffix}"),
            client=_executable(BIRD1_SBIN / f"birdc{suffix}", f"BIRD 1.6 birdc{suffix}"),
        )
    if version == "2":
        return BirdBinaries(daemon=_system("bird"), client=_system("birdc"))
    raise ValueError(f"unknown BIRD version {version!r} (use '1.6' or '2')")


def gobgp_binaries() -> tuple[Path, Path]:
    """Paths of ``gobgpd`` and the ``gobgp`` CLI."""
    return _system("gobgpd"), _system("gobgp")


def frr_binaries() -> tuple[Path, Path]:
    """Paths of FRR's ``bgpd`` (run alone, without zebra or watchfrr) and ``vtysh``."""
    return (
        _executable(Path("/usr/lib/frr/bgpd"), "FRR bgpd"),
        _executable(Path("/usr/bin/vtysh"), "FRR vtysh"),
    )


def openbgpd_binaries() -> tuple[Path, Path]:
    """Paths of OpenBGPD's ``bgpd`` and ``bgpctl``.

    Absolute on purpose: our own ``bgpctl`` console script in ``.venv/bin`` shadows OpenBGPD's
    on a venv PATH.
    """
    return (
        _executable(Path("/usr/sbin/bgpd"), "OpenBGPD bgpd"),
        _executable(Path("/usr/sbin/bgpctl"), "OpenBGPD bgpctl"),
    )


def missing_binaries() -> list[str]:
    """Messages for every peer binary that is missing (empty when all are installed)."""
    problems = []
    checks: list[Callable[[], object]] = [
        lambda: bird_binaries("2"),
        lambda: bird_binaries("1.6", 4),
        lambda: bird_binaries("1.6", 6),
        gobgp_binaries,
        frr_binaries,
        openbgpd_binaries,
        lambda: _system("ip"),
    ]
    for check in checks:
        try:
            check()
        except MissingBinaryError as exc:
            problems.append(str(exc))
    return problems
