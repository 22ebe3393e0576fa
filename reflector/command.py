"""The `bgp-reflector` command: `check -c FILE` validates a reflector config, `run -c FILE` runs it.

Same shape as `bgpd check` / `bgpd run`; the config is read with the reflector profile
(`reflector.profile`), and a reload (SIGHUP, `bgpctl reload`) reads it the same way, so new
cluster nodes matching the client selector become peers without a restart.
"""

from __future__ import annotations

import argparse
import logging
import sys

from bgpd.config import Config, ConfigError
from bgpd.logs import setup_logging
from bgpd.runtime.daemon import StartupError, run_daemon
from bgpd.version import add_version_option
from reflector.profile import DEFAULT_CONFIG, ReflectorSetup, load_reflector_config

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bgp-reflector", description="Standalone BGP route reflector for Calico clusters."
    )
    add_version_option(p)
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a config file and print every problem")
    check.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    run = sub.add_parser("run", help="run the reflector")
    run.add_argument("-c", "--config", default=DEFAULT_CONFIG)
    run.add_argument("--pidfile", help="write the PID here (for SIGHUP reloads)")
    return p


def summary(setup: ReflectorSetup) -> str:
    """One line: what the config makes the reflector do."""
    cfg = setup.config
    found = setup.discovery
    return (
        f"cluster {cfg.bgp.cluster_id}, {len(cfg.all_peers)} peers "
        f"({len(found.clients)} discovered clients, "
        f"{len(found.peers) - len(found.clients)} other discovered, "
        f"{len(cfg.peers) - len(found.peers)} configured), "
        f"{len(cfg.dynamic_neighbors)} dynamic ranges"
    )


def _log_skipped(setup: ReflectorSetup) -> None:
    # a selected node that gets no session is said out loud, where it is written
    for problem in setup.discovery.skipped:
        logger.info("reflector node not peered at=%s reason=%s", problem.at, problem.message)


def _reload_config(path: str) -> Config:
    setup = load_reflector_config(path)
    logger.info("reflector config reloaded profile=%s", summary(setup))
    _log_skipped(setup)
    return setup.config


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        setup = load_reflector_config(args.config)
    except ConfigError as exc:
        print(f"{args.config}: config rejected:\n{exc}", file=sys.stderr)
        return 1
    if args.command == "check":
        print(f"{args.config}: ok ({summary(setup)})")
        for problem in setup.discovery.skipped:
            print(f"  {problem}")
        return 0
    config = setup.config
    setup_logging(config.bgp.log_level, config.bgp.log_format)
    logger.info("reflector started profile=%s", summary(setup))
    _log_skipped(setup)
    try:
        return run_daemon(config, args.config, args.pidfile, load=_reload_config)
    except StartupError as exc:
        print(f"bgp-reflector: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
