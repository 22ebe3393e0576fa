"""Captures golden vectors from a real GoBGP (not a test; run by hand, output pasted into
vectors.py).

It starts `gobgpd` (3.x, from the system) on loopback with its gRPC API on a private port,
injects routes with the `gobgp` CLI, plays a passive BGP peer on 127.0.0.1 itself (our OPEN and
KEEPALIVEs, built with bgpd.wire), lets GoBGP connect, and records every message GoBGP sends
until both End-of-RIB markers arrived. Everything runs in a temporary directory; gobgpd is
stopped (by its PID) on exit.

Run: .venv/bin/python -m tests.unit.wire.capture_gobgp [--two-octet]
(--two-octet: our OPEN carries no 4-octet AS capability, so GoBGP, whose AS is 4200000010, has
to send AS_TRANS with AS4_PATH, RFC 6793 §4.2.2.)
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bgpd.net import IPV4_UNICAST, IPV6_UNICAST
from bgpd.wire.capabilities import FourOctetAs, Multiprotocol, RouteRefresh
from bgpd.wire.codec import encode_keepalive, encode_open
from bgpd.wire.framing import MessageReader
from bgpd.wire.messages import OpenMessage

BGP_PORT = 10179
API_PORT = 50179
CONFIG = f"""
[global.config]
  as = 4200000010
  router-id = "10.0.0.10"
  port = -1

[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.0.0.1"
    peer-as = 65000
  [neighbors.transport.config]
    remote-port = {BGP_PORT}
    local-address = "127.0.0.1"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"""
ROUTES = [
    [
        "-a",
        "ipv4",
        "10.1.0.0/24",
        "nexthop",
        "10.0.0.10",
        "origin",
        "igp",
        "med",
        "10",
        "community",
        "65010:100,no-export",
        "large-community",
        "4200000010:1:2",
        "aspath",
        "65020,65030",
    ],
    ["-a", "ipv4", "10.2.0.0/16", "nexthop", "10.0.0.10", "origin", "incomplete"],
    [
        "-a",
        "ipv6",
        "2001:db8:1::/48",
        "nexthop",
        "2001:db8::10",
        "med",
        "20",
        "community",
        "65010:200",
    ],
]


def gobgp(*args: str) -> None:
    subprocess.run(["gobgp", "-p", str(API_PORT), *args], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--two-octet", action="store_true")
    two_octet = parser.parse_args().two_octet
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "gobgpd.toml"
        conf.write_text(CONFIG)
        listener = socket.create_server(("127.0.0.1", BGP_PORT))
        listener.settimeout(60)
        proc = subprocess.Popen(
            ["gobgpd", "-f", str(conf), "-t", "toml", "--api-hosts", f"127.0.0.1:{API_PORT}"],
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "log", "w"),  # noqa: SIM115
        )
        try:
            deadline = time.monotonic() + 20
            while True:  # wait for the API
                try:
                    gobgp("global")
                    break
                except subprocess.CalledProcessError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            for route in ROUTES:
                gobgp("global", "rib", "add", *route)
            conn, _ = listener.accept()
            conn.settimeout(60)
            ours = OpenMessage(
                asn=65000,
                hold_time=90,
                router_id=0x0A000001,
                capabilities=(
                    Multiprotocol(family=IPV4_UNICAST),
                    Multiprotocol(family=IPV6_UNICAST),
                    RouteRefresh(),
                    *(() if two_octet else (FourOctetAs(asn=65000),)),
                ),
            )
            conn.sendall(encode_open(ours) + encode_keepalive())
            reader = MessageReader()
            captured: list[tuple[int, bytes]] = []
            # GoBGP sends End-of-RIB only with graceful restart; stop after a quiet second.
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    for msg_type, body in reader.feed(data):
                        if msg_type == 4:
                            conn.sendall(encode_keepalive())
                        else:
                            captured.append((msg_type, body))
                            conn.settimeout(3)
            except TimeoutError:
                if not captured:
                    raise
            conn.close()
            for msg_type, body in captured:
                print(msg_type, body.hex())
        except TimeoutError:
            print((Path(tmp) / "log").read_text()[-3000:])
            raise
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
            listener.close()


if __name__ == "__main__":
    main()
