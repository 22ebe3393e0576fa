#!/usr/bin/env python3
"""Writes the shipped manual pages and shell completion scripts of bgpd, bgpctl and
bgp-reflector into bgpd/share/ from the commands' own argparse parsers: `make manuals`.

The files are committed and shipped as they are (package data, and data files under
share/man/man1, share/bash-completion/completions, ...: pyproject.toml), so an installed bgpd
needs neither generator; why they are generated here rather than at wheel build time:
docs/install.md#shell-completion-and-manual-pages. tests/unit/test_manuals.py regenerates them
in memory and fails when the committed files differ (an option added without `make manuals`).

The generators: shtab (completion for bash, zsh, fish, tcsh) and argparse-manpage (roff), in
the `test` extra. The output depends on nothing but the parsers and bgpd's version: argparse's
wrapping width is fixed (it follows the terminal otherwise) and the page carries no date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the checkout's bgpd, not an installed one
    sys.path.insert(0, str(REPO))

from bgpd import __version__  # noqa: E402
from bgpd.manuals import (  # noqa: E402
    DESCRIPTIONS,
    PROGRAMS,
    SHARE,
    SHELLS,
    completion_path,
    manpage_path,
    parser_of,
)

WIDTH = 80  # argparse wraps help at the terminal's width unless told


def _fixed_width(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`parser` and its subcommands' parsers, wrapping help at `WIDTH` columns."""
    formatter = parser.formatter_class

    def at_width(prog: str) -> argparse.HelpFormatter:
        return formatter(prog, width=WIDTH)  # type: ignore[call-arg]

    parser.formatter_class = at_width
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _fixed_width(sub)
    return parser


def completion(program: str, shell: str) -> str:
    import shtab  # noqa: PLC0415 - a regeneration tool, not a dependency of bgpd

    text: str = shtab.complete(_fixed_width(parser_of(program)), shell=shell)
    return text if text.endswith("\n") else text + "\n"


def manpage(program: str) -> str:
    from argparse_manpage.manpage import (  # type: ignore[import-untyped]  # noqa: PLC0415
        Manpage,
    )

    page = Manpage(_fixed_width(parser_of(program)))
    page.date = ""  # a date would make every regeneration differ; the version says which
    page.source = f"bgpd {__version__}"
    page.manual = "bgpd manual"
    page.description = DESCRIPTIONS[program]
    see_also = ",\n".join(f".BR {p} (1)" for p in PROGRAMS if p != program)
    return f"{page}.SH SEE ALSO\n{see_also}\n"


def generated() -> dict[str, str]:
    """Every shipped file, by its path under bgpd/share/, with the text it must have."""
    files = {manpage_path(p): manpage(p) for p in PROGRAMS}
    files |= {completion_path(s, p): completion(p, s) for s in SHELLS for p in PROGRAMS}
    return files


def main() -> int:
    argparse.ArgumentParser(description=__doc__).parse_args()
    share = REPO / "bgpd" / SHARE
    files = generated()
    for name, text in files.items():
        path = share / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    for path in sorted(share.rglob("*")):  # a program or shell dropped: its files go too
        if path.is_file() and str(path.relative_to(share)) not in files:
            path.unlink()
            print(f"removed {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
