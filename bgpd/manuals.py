"""Shell completion scripts and manual pages of bgpd, bgpctl and bgp-reflector, made from the
commands' own argparse parsers (`bgpd completion SHELL`, `bgpd manpage PROGRAM`).

Why generated at run time from the parsers: they cannot disagree with the options the
installed commands accept, and nothing has to be regenerated when an option is added. The
generators are well-kept libraries without dependencies of their own: shtab (completion for
bash, zsh, fish and tcsh) and argparse-manpage (roff for `man`), in the package's `manuals`
extra (`pip install 'bgpd[manuals]'`); without it the commands say so.
"""

from __future__ import annotations

import argparse

from bgpd import __version__
from bgpd.errors import BgpdError

__all__ = ["PROGRAMS", "SHELLS", "ManualsUnavailableError", "completion", "manpage", "parser_of"]

PROGRAMS = ("bgpd", "bgpctl", "bgp-reflector")
SHELLS = ("bash", "zsh", "fish", "tcsh")

_DESCRIPTIONS = {
    "bgpd": "BGP speaker and route reflector for Calico clusters",
    "bgpctl": "query and steer a running bgpd",
    "bgp-reflector": "standalone BGP route reflector for Calico clusters",
}


class ManualsUnavailableError(BgpdError):
    """The generator a command needs is not installed (the `manuals` extra)."""


def _missing(library: str) -> ManualsUnavailableError:
    return ManualsUnavailableError(
        f"{library} is not installed: pip install 'bgpd[manuals]' (or {library} alone)"
    )


def parser_of(program: str) -> argparse.ArgumentParser:
    """The argument parser of one of `PROGRAMS` (its modules load only when asked for)."""
    if program == "bgpd":
        from bgpd.main import _parser  # noqa: PLC0415

        return _parser()
    if program == "bgpctl":
        from bgpd.control.bgpctl import _parser as bgpctl_parser  # noqa: PLC0415

        return bgpctl_parser()
    if program == "bgp-reflector":
        from reflector.command import _parser as reflector_parser  # noqa: PLC0415

        return reflector_parser()
    raise ValueError(f"unknown program {program!r}; one of {', '.join(PROGRAMS)}")


def completion(shell: str, programs: tuple[str, ...] = PROGRAMS) -> str:
    """The completion script of `programs` for `shell` (one of `SHELLS`), to be sourced."""
    try:
        import shtab  # noqa: PLC0415 - the generators load only when used, not with `bgpd`
    except ImportError:
        raise _missing("shtab") from None

    return "\n".join(shtab.complete(parser_of(p), shell=shell) for p in programs)


def manpage(program: str) -> str:
    """The manual page of `program` (section 1), in roff: `man -l FILE` shows it."""
    try:
        from argparse_manpage.manpage import (  # type: ignore[import-untyped]  # noqa: PLC0415
            Manpage,
        )
    except ImportError:
        raise _missing("argparse-manpage") from None

    page = Manpage(parser_of(program))
    page.source = f"bgpd {__version__}"
    page.manual = "bgpd manual"
    page.description = _DESCRIPTIONS[program]
    see_also = ",\n".join(f".BR {p} (1)" for p in PROGRAMS if p != program)
    return f"{page}.SH SEE ALSO\n{see_also}\n"
