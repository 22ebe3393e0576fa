"""What `--version` prints, for every command of the package (bgpd, bgpctl, bgp-reflector).

One line, the same for all of them: the package name and `bgpd.__version__`. Standard library
only, so bgpctl can add the option without loading the core.
"""

from __future__ import annotations

import argparse

from bgpd import __version__

VERSION_TEXT = f"bgpd {__version__}"


def add_version_option(parser: argparse.ArgumentParser) -> None:
    """`--version`: print `VERSION_TEXT` and exit 0."""
    parser.add_argument("--version", action="version", version=VERSION_TEXT)
