"""Shell completion scripts and manual pages of bgpd, bgpctl and bgp-reflector, as shipped in
the package (`bgpd completion SHELL [PROGRAM...]`, `bgpd manpage PROGRAM`).

The files under bgpd/share/ are made from the commands' own argparse parsers by
scripts/make_manuals.py (`make manuals`, with shtab and argparse-manpage) and committed;
tests/unit/test_manuals.py fails when they no longer match the parsers. So an installed bgpd
prints them without either generator; pip also installs them where `man` and bash-completion
look (pyproject.toml: data-files). Why committed rather than made at wheel build time:
docs/install.md#shell-completion-and-manual-pages.
"""

from __future__ import annotations

import argparse
from importlib import resources

__all__ = [
    "DESCRIPTIONS",
    "PROGRAMS",
    "SHARE",
    "SHELLS",
    "completion",
    "completion_path",
    "manpage",
    "manpage_path",
    "parser_of",
]

PROGRAMS = ("bgpd", "bgpctl", "bgp-reflector")
SHELLS = ("bash", "zsh", "fish", "tcsh")
SHARE = "share"  # the folder of the bgpd package holding the files

DESCRIPTIONS = {
    "bgpd": "BGP speaker and route reflector for Calico clusters",
    "bgpctl": "query and steer a running bgpd",
    "bgp-reflector": "standalone BGP route reflector for Calico clusters",
}

# Each file is named as its shell's completion directory wants it (bash-completion: the
# command's name; zsh's fpath: `_` and the name; fish: NAME.fish), so the same file is both
# package data and an installed data file (pyproject.toml).
_COMPLETION_NAMES = {"bash": "{}", "zsh": "_{}", "fish": "{}.fish", "tcsh": "{}.tcsh"}


def completion_path(shell: str, program: str) -> str:
    """Where the completion script of `program` for `shell` is, under bgpd/share/."""
    return f"{shell}/{_COMPLETION_NAMES[shell].format(program)}"


def manpage_path(program: str) -> str:
    """Where the manual page of `program` is, under bgpd/share/."""
    return f"man1/{program}.1"


def _shipped(path: str) -> str:
    return resources.files("bgpd").joinpath(SHARE, *path.split("/")).read_text(encoding="utf-8")


def completion(shell: str, programs: tuple[str, ...] = PROGRAMS) -> str:
    """The completion script of `programs` for `shell` (one of `SHELLS`), to be sourced."""
    return "".join(_shipped(completion_path(shell, p)) for p in programs)


def manpage(program: str) -> str:
    """The manual page of `program` (section 1), in roff: `man -l FILE` shows it."""
    return _shipped(manpage_path(program))


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
