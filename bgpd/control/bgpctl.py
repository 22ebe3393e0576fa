"""bgpctl: the operator's command-line client of bgpd's control socket.

Human tables by default, `--json` for machines (the reply's data exactly as the daemon sent it).
Exit status: 0 on success, 1 when the daemon refused the command, 2 when it cannot be reached
(or answers data bgpctl cannot read).
Errors go to stderr; with `--json` (before or after the command) an `{"error": ...}` object is
also printed on stdout, so scripts always get JSON.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from typing import Any

from bgpd.control.protocol import Request, encode_request
from bgpd.control.route_cli import add_route_query_arguments, render_route_answer, route_query_args
from bgpd.control.tables import render_kernel, render_peer, render_peers, render_peers_wide
from bgpd.text import escape_controls, escape_controls_by_line
from bgpd.version import add_version_option
from bgpd.views import KernelRouteRow, PeerView, ViewDecodeError

DEFAULT_SOCKET = "/run/bgpd/bgpd.ctl"
TIMEOUT_S = 10.0


class UnreachableError(Exception):
    """The daemon's socket is missing or does not answer."""


def call(path: str, request: Request, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """Sends one request and returns the decoded reply object."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(encode_request(request))
            buf = bytearray()
            while not buf.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except FileNotFoundError as exc:
        msg = f"no control socket at {path}: is bgpd running? (use -s PATH)"
        raise UnreachableError(msg) from exc
    except ConnectionRefusedError as exc:
        raise UnreachableError(f"nothing listens on {path}: bgpd is not running") from exc
    except TimeoutError as exc:
        raise UnreachableError(f"bgpd did not answer on {path} within {timeout:.0f} s") from exc
    except PermissionError as exc:
        msg = f"permission denied on {path}: run as root or in the bgpd group"
        raise UnreachableError(msg) from exc
    except OSError as exc:  # reset mid-reply, not a socket, path too long...
        raise UnreachableError(f"cannot talk to bgpd on {path}: {exc.strerror or exc}") from exc
    if not buf:
        raise UnreachableError(f"bgpd closed the connection on {path} without answering")
    if not buf.endswith(b"\n"):  # a streamed reply that failed midway (bgpd logs why)
        raise UnreachableError(f"bgpd cut its reply short on {path}: see bgpd's log")
    try:
        reply = json.loads(buf)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to parse
        msg = f"{path} answered something that is not bgpd's protocol (a BIRD socket?)"
        raise UnreachableError(msg) from exc
    if not isinstance(reply, dict):
        raise UnreachableError(f"{path} answered something that is not bgpd's protocol")
    return reply


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bgpctl", description="Query and steer a running bgpd.")
    add_version_option(p)
    p.add_argument("-s", "--socket", default=DEFAULT_SOCKET, help="control socket path")
    p.add_argument("--json", action="store_true", help="print the reply as JSON")
    # `--json` is accepted after the command too (`bgpctl show peers --json`): every command
    # parser knows it, without overriding a `--json` given before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="as JSON")
    sub = p.add_subparsers(dest="verb", required=True)

    show = sub.add_parser("show", help="show state").add_subparsers(dest="what", required=True)
    peers = show.add_parser(
        "peers", help="every peer with its state and counters", parents=[common]
    )
    peers.add_argument(
        "--wide",
        action="store_true",
        help="also role, local end, flaps, BFD and GR state, description, last error's age",
    )
    peer = show.add_parser("peer", help="one peer in detail", parents=[common])
    peer.add_argument("name")
    routes = show.add_parser(
        "routes",
        help="routes: all, PREFIX (exact, --longer, --shorter) or 'for ADDRESS' (longest match)",
        parents=[common],
    )
    add_route_query_arguments(routes)
    show.add_parser(
        "kernel", help="routes installed in and learned from the kernel", parents=[common]
    )
    show.add_parser("config", help="the running config, secrets masked", parents=[common])

    sub.add_parser("reload", help="re-read the config file (as SIGHUP)", parents=[common])
    peer_act = sub.add_parser("peer", help="act on one peer", parents=[common])
    peer_act.add_argument("name")
    peer_act.add_argument(
        "action",
        choices=["reset", "disable", "enable"],
        help="reset the session; disable it (Cease/Administrative Shutdown, kept down until "
        "enable, also across reloads); enable it again",
    )
    peer_act.add_argument(
        "--soft",
        nargs="?",
        const="both",
        choices=["in", "out", "both"],
        help="reset: route refresh instead of a reset; `in` asks the peer for its routes, "
        "`out` resends ours (default both)",
    )
    peer_act.add_argument(
        "--message", default="", help="disable: the shutdown message sent (RFC 8203/9003)"
    )
    return p


def _request(args: argparse.Namespace) -> Request:
    if args.verb == "show":
        if args.what == "peer":
            return Request(command="show peer", args={"name": args.name})
        if args.what == "routes":
            return Request(command="show routes", args=route_query_args(args))
        return Request(command=f"show {args.what}")
    if args.verb == "peer":
        if args.action == "disable":
            return Request(
                command="peer disable", args={"name": args.name, "message": args.message}
            )
        if args.action == "enable":
            return Request(command="peer enable", args={"name": args.name})
        return Request(command="peer reset", args={"name": args.name, "soft": args.soft or False})
    return Request(command=args.verb)


def _render(request: Request, data: object, *, wide: bool = False) -> str:
    """The reply as a table, from the views read back from its JSON (`ViewDecodeError` when
    the data does not have their shape)."""
    command = request.command
    if command == "show routes":
        return render_route_answer(request.args, data)
    if command == "show peers":
        views = [PeerView.from_json(p) for p in _rows(data)]
        return render_peers_wide(views) if wide else render_peers(views)
    if command == "show peer":
        return render_peer(PeerView.from_json(data))
    if command == "show kernel":
        return render_kernel([KernelRouteRow.from_json(r) for r in _rows(data)])
    if isinstance(data, str):
        # Text the daemon built (the running config): its own newlines stay, any other control
        # character (from a datastore value) is shown escaped.
        return escape_controls_by_line(data)
    return json.dumps(data, indent=2)


def _rows(data: object) -> list[object]:
    if not isinstance(data, list):
        raise ViewDecodeError(f"expected a list, got {type(data).__name__}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verb == "peer":  # an option the action does not take is an error, not ignored
        if args.soft is not None and args.action != "reset":
            parser.error(f"--soft is for `peer NAME reset`, not {args.action}")
        if args.message and args.action != "disable":
            parser.error(f"--message is for `peer NAME disable`, not {args.action}")
    request = _request(args)
    try:
        reply = call(args.socket, request)
    except UnreachableError as exc:
        print(f"bgpctl: {escape_controls(str(exc))}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": str(exc), "unreachable": True}))
        return 2
    if not reply.get("ok"):
        error = str(reply.get("error", "unknown error"))
        # A multi-line error (a rejected config's problems) keeps its lines; controls do not.
        print(f"bgpctl: {escape_controls_by_line(error)}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": error, "unreachable": False}))
        return 1
    data = reply.get("data")
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    try:
        text = _render(request, data, wide=bool(getattr(args, "wide", False)))
    except ViewDecodeError as exc:  # a daemon of another version, or not bgpd at all
        print(f"bgpctl: cannot read the reply: {escape_controls(str(exc))}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
