"""`bgpd confd`'s command-line options, apart from the watcher so that `bgpd run` can offer
them without importing the watcher (jinja2, the etcd client) unless it is asked for."""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

# The shipped templates: package data of `bgpd` (so a wheel carries them), found through
# importlib.resources rather than a path relative to a source tree; --confdir names another.
DEFAULT_CONFDIR = Path(str(files("bgpd") / "confd_templates"))
DEFAULT_QUIET_S = 0.1  # seconds without a change before a render (confd's debounce)


def _var(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def add_confd_arguments(p: argparse.ArgumentParser, *, in_process: bool = False) -> None:
    """The watcher's options; `bgpd run` gets them as `--confd-*` (in_process=True)."""
    pre = "--confd-" if in_process else "--"
    p.add_argument(
        f"{pre}backend",
        dest="confd_backend",
        choices=("etcd", "kubernetes", "file"),
        help="where Calico's data is read (default for `bgpd confd`: kubernetes when "
        "DATASTORE_TYPE=kubernetes, else etcd from the ETCD_* variables)",
    )
    p.add_argument(
        f"{pre}kubernetes",
        dest="confd_kubernetes",
        choices=("auto", "yes", "no"),
        default="auto",
        help="with the etcd backend, also watch Services, EndpointSlices and password Secrets "
        "in the Kubernetes API (auto: when KUBECONFIG or in-cluster credentials are there)",
    )
    p.add_argument(f"{pre}file", dest="confd_file", help="the key/value file (--backend file)")
    p.add_argument(
        f"{pre}endpoint-status-prefix",
        dest="confd_endpoint_status_prefix",
        metavar="PATH",
        help="read Felix's endpoint status files in PATH/endpoint-status for the peers of "
        "BGPPeers with a localWorkloadSelector (default: $CALICO_ENDPOINT_STATUS_PATH_PREFIX, "
        "else /var/run/calico; `none`: do not read them)",
    )
    p.add_argument(
        "--confdir",
        type=Path,
        default=DEFAULT_CONFDIR,
        help="folder holding conf.d/ and templates/ (default: the shipped confd_templates/)",
    )
    p.add_argument(
        "--var",
        dest="template_vars",
        type=_var,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a node-local template value (control_socket, bird_socket, bird6_socket, "
        "metrics_listen, kernel, log_format)",
    )
    p.add_argument("--debounce", type=float, default=DEFAULT_QUIET_S, help=argparse.SUPPRESS)
    if not in_process:
        p.add_argument("--onetime", action="store_true", help="render once and exit")
        p.add_argument(
            "--dest-root", type=Path, help="relocate every destination under this folder"
        )
        p.add_argument(
            "--pidfile-to-signal",
            type=Path,
            help="send SIGHUP to the PID in this file after a changed render",
        )
        p.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
        p.add_argument("--log-format", default="text", choices=("text", "json"))
