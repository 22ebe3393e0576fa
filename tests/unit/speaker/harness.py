"""Speakers joined back to back in memory, on a fake clock: no sockets, no sleeps."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bgpd.config import Config, diff_configs, parse_config
from bgpd.speaker import Close, Dial, Send, Speaker


@dataclass
class Node:
    name: str
    address: str
    speaker: Speaker
    # what the runtime found on the interface holding `address` (the other IP version)
    interface_address: str = ""


@dataclass
class Net:
    """A set of speakers and the in-memory TCP connections between them."""

    nodes: dict[str, Node] = field(default_factory=dict)
    # conn_id -> (node, peer name at that node, other end's conn_id)
    ends: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    next_id: int = 1
    now: float = 1000.0
    closed: list[tuple[str, str]] = field(default_factory=list)
    # node name -> every Send it produced, while recording is on (`record = {}`).
    record: dict[str, list[Send]] | None = None

    def add(self, name: str, address: str, config_text: str, interface_address: str = "") -> Node:
        speaker = Speaker(parse_config(config_text), random.Random(7))
        node = Node(name, address, speaker, interface_address)
        self.nodes[name] = node
        return node

    def node_by_address(self, address: str) -> Node:
        return next(n for n in self.nodes.values() if n.address == address)

    def start(self) -> None:
        for node in self.nodes.values():
            node.speaker.start(self.now)
        self.settle()

    def connect(self, src: Node, peer: str) -> None:
        cfg = src.speaker.peer_config(peer)
        dst = self.node_by_address(str(cfg.address))
        back = dst.speaker.peer_for_address(src.address)
        a, b = self.next_id, self.next_id + 1
        self.next_id += 2
        if back is None:
            src.speaker.connection_failed(peer, a, self.now)
            return
        self.ends[a] = (src.name, peer, b)
        self.ends[b] = (dst.name, back, a)
        for node, name, conn, outbound in ((src, peer, a, True), (dst, back, b, False)):
            node.speaker.connection_made(
                name,
                conn,
                self.now,
                outbound=outbound,
                local_address=node.address,
                interface_address=node.interface_address,
                local_port=40000 + conn if outbound else 179,  # an ephemeral port dials out
            )

    def settle(self, rounds: int = 200) -> None:
        """Moves outputs between speakers until nothing more happens."""
        for _ in range(rounds):
            moved = False
            for node in list(self.nodes.values()):
                for out in node.speaker.take_outputs():
                    moved = True
                    if isinstance(out, Dial):
                        self.connect(node, out.peer)
                    elif isinstance(out, Send):
                        if self.record is not None:
                            self.record.setdefault(node.name, []).append(out)
                        end = self.ends.get(out.conn_id)
                        if end is None:
                            continue
                        other = self.ends.get(end[2])
                        if other is not None:
                            self.nodes[other[0]].speaker.receive_data(
                                other[1], end[2], out.data, self.now
                            )
                    elif isinstance(out, Close):
                        end = self.ends.pop(out.conn_id, None)
                        self.closed.append((node.name, out.peer))
                        if end is not None and end[2] in self.ends:
                            o_node, o_peer, _ = self.ends.pop(end[2])
                            self.nodes[o_node].speaker.connection_lost(o_peer, end[2], self.now)
            if not moved:
                return
        raise AssertionError("network did not settle")

    def advance(self, seconds: float, step: float = 1.0) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            for node in self.nodes.values():
                node.speaker.handle_timer(self.now)
            self.settle()

    def reload(self, name: str, config_text: str) -> list[str]:
        speaker = self.nodes[name].speaker
        new = parse_config(config_text)
        actions = speaker.apply_config(new, diff_configs(speaker.config, new), self.now)
        self.settle()
        return actions


def config(
    asn: int,
    router_id: str,
    peers: list[tuple[str, str, int]],
    statics: str = "",
    extra_peer: str = "",
) -> str:
    text = f"""
[bgp]
asn = {asn}
router_id = "{router_id}"
listen = ["{router_id}"]

[control]
socket = "/tmp/unused-{router_id}.ctl"
{statics}
"""
    for name, address, peer_asn in peers:
        text += f"""
[[peer]]
name = "{name}"
address = "{address}"
asn = {peer_asn}
local_address = "{router_id}"
{extra_peer}
"""
    return text


def as_config(text: str) -> Config:
    return parse_config(text)


def cut(net: Net, node: str, peer: str) -> None:
    """The TCP connection of `node` toward `peer` dies without a NOTIFICATION (a crash)."""
    for conn_id, (owner, name, other) in list(net.ends.items()):
        if owner == node and name == peer:
            del net.ends[conn_id]
            o_node, o_peer, _ = net.ends.pop(other)
            net.nodes[owner].speaker.connection_lost(name, conn_id, net.now)
            net.nodes[o_node].speaker.connection_lost(o_peer, other, net.now)
    net.settle()
