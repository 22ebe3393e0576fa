"""The `bgpd` command: `bgpd check -c FILE` validates a config, `bgpd run -c FILE` runs it."""

from __future__ import annotations

import argparse
import os
import sys

from bgpd.confd.arguments import add_confd_arguments
from bgpd.config import ConfigError, load_config
from bgpd.errors import os_error_text
from bgpd.logs import setup_logging
from bgpd.manuals import PROGRAMS, SHELLS, completion, manpage
from bgpd.version import add_version_option

DEFAULT_CONFIG = "/etc/bgpd/bgpd.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bgpd", description="BGP speaker for Calico clusters.")
    add_version_option(p)
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a config file and print every problem")
    check.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    run = sub.add_parser("run", help="run the speaker")
    run.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    run.add_argument("--pidfile", help="write the PID here (for SIGHUP reloads)")
    # `bgpd confd` (the watcher as its own process) and `bgpd run
    # --confd-backend etcd|file` (the watcher in the speaker's loop, rendering into -c FILE).
    add_confd_arguments(run, in_process=True)
    confd = sub.add_parser("confd", help="render the config from Calico's datastore (etcd, file)")
    add_confd_arguments(confd)
    add_version_option(confd)
    # the shipped files, generated from the parsers (bgpd/manuals.py)
    comp = sub.add_parser(
        "completion", help="print the shell completion script of bgpd, bgpctl and bgp-reflector"
    )
    comp.add_argument("shell", choices=SHELLS)
    comp.add_argument(
        "programs",
        nargs="*",
        metavar="PROGRAM",
        help=f"only these ({', '.join(PROGRAMS)}; default: all three)",
    )
    man = sub.add_parser("manpage", help="print the manual page of a command (roff, for man -l)")
    man.add_argument("program", choices=PROGRAMS, nargs="?", default="bgpd")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "completion":
        unknown = [p for p in args.programs if p not in PROGRAMS]
        if unknown:
            parser.error(
                f"completion: unknown program {unknown[0]!r} (one of {', '.join(PROGRAMS)})"
            )
        sys.stdout.write(completion(args.shell, tuple(args.programs) or PROGRAMS))
        return 0
    if args.command == "manpage":
        sys.stdout.write(manpage(args.program))
        return 0
    # the confd watcher, alone or in-process with the speaker.
    if args.command == "confd":
        from bgpd.confd.command import main as confd_main  # noqa: PLC0415 - only when asked for

        return confd_main(args)
    if args.command == "run" and args.confd_backend is not None:
        from bgpd.confd.command import ConfdSetupError  # noqa: PLC0415 - only when asked for
        from bgpd.confd.command import in_process as confd_in_process  # noqa: PLC0415
        from bgpd.runtime.daemon import StartupError, run_daemon_with  # noqa: PLC0415

        setup_logging("info", "text")  # the rendered file's log level applies once it exists
        try:
            return run_daemon_with(args.config, args.pidfile, confd_in_process(args, os.environ))
        except (StartupError, ConfdSetupError) as exc:
            print(f"bgpd: {exc}", file=sys.stderr)
            return 1
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: config rejected:\n{exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"{args.config}: cannot read: {os_error_text(exc, about=args.config)}", file=sys.stderr
        )
        return 1
    if args.command == "check":
        peers, statics = len(config.all_peers), len(config.all_statics)
        print(f"{args.config}: ok ({peers} peers, {statics} static routes)")
        return 0
    # The speaker's runtime only for `run`: `check` and `confd` start without it.
    from bgpd.runtime.daemon import StartupError, run_daemon  # noqa: PLC0415

    setup_logging(config.bgp.log_level, config.bgp.log_format)
    try:
        return run_daemon(config, args.config, args.pidfile)
    except StartupError as exc:
        print(f"bgpd: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
