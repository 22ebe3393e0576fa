"""One reader of the Adj-RIB-Out, two front ends: bgpctl's `show routes --peer NAME
--advertised` and the BIRD socket's `show route export NAME` list the same routes for the same
peer, with the attributes as sent (a reflected route's ORIGINATOR_ID and CLUSTER_LIST), and
leave out the same ones (refused by the peer's export filter, the peer's own), over a real
speaker wired as the daemon wires it (ControlDispatch and its BIRD hooks)."""

from __future__ import annotations

import asyncio
import json

from bgpd.config import parse_config
from bgpd.control.bird_protocol import ReplyEncoder, parse_command
from bgpd.control.bird_server import BirdControl
from bgpd.control.protocol import Request, RowStream, reply_pieces
from bgpd.runtime.control_dispatch import ControlDispatch
from tests.unit.speaker.harness import Net

CLUSTER = "10.255.0.1"

REFLECTOR = f"""
[bgp]
asn = 64512
router_id = "127.0.0.1"
cluster_id = "{CLUSTER}"
listen = ["127.0.0.1"]

[control]
socket = "/tmp/unused-127.0.0.1.ctl"

[[static]]
prefix = "10.50.0.0/24"

[[filter]]
name = "not-61"

[[filter.export_v4]]
action = "reject"
cidr = "10.61.0.0/24"
match_operator = "equal"

[[peer]]
name = "c1"
address = "127.0.0.2"
asn = 64512
local_address = "127.0.0.1"
rr_client = true

[[peer]]
name = "c2"
address = "127.0.0.3"
asn = 64512
local_address = "127.0.0.1"
rr_client = true
export_filters = ["not-61"]
"""


def client(me: str, statics: str = "") -> str:
    return f"""
[bgp]
asn = 64512
router_id = "{me}"
listen = ["{me}"]

[control]
socket = "/tmp/unused-{me}.ctl"
{statics}
[[peer]]
name = "rr"
address = "127.0.0.1"
asn = 64512
local_address = "{me}"
"""


C1_ROUTES = '[[static]]\nprefix = "10.61.0.0/24"\n[[static]]\nprefix = "10.62.0.0/24"\n'


def front_ends() -> tuple[ControlDispatch, BirdControl]:
    net = Net()
    net.add("rr", "127.0.0.1", REFLECTOR)
    net.add("c1", "127.0.0.2", client("127.0.0.2", C1_ROUTES))
    net.add("c2", "127.0.0.3", client("127.0.0.3"))
    net.start()
    dispatch = ControlDispatch(
        net.nodes["rr"].speaker,
        now=lambda: net.now,
        reload=list,
        flush=lambda: None,
        kernel=lambda: None,
        config_path=None,
        load=parse_config,
    )
    return dispatch, BirdControl(dispatch.bird_hooks(), wall=lambda: 1.7e9)


def bgpctl(dispatch: ControlDispatch, peer: str) -> list[dict[str, object]]:
    request = Request(command="show routes", args={"peer": peer, "advertised": True})
    found = asyncio.run(reply_data(dispatch, request))
    assert isinstance(found, list)
    return [row for row in found if isinstance(row, dict)]


async def reply_data(dispatch: ControlDispatch, request: Request) -> object:
    """The reply's data as bgpctl reads it (a list is streamed: its line's pieces joined)."""
    reply = await dispatch.handle(request)
    if isinstance(reply, RowStream):
        return json.loads(b"".join([p async for p in reply_pieces(reply)]))["data"]
    return reply


def birdc(control: BirdControl, line: str) -> list[str]:
    lines = control.execute(parse_command(line, 4), 4, False)
    return ReplyEncoder().encode(lines).decode().splitlines()


def bird_routes(control: BirdControl, peer: str) -> dict[str, list[str]]:
    """`show route all export PEER` as {prefix: [its first line's protocol, attributes...]}."""
    routes: dict[str, list[str]] = {}
    current: list[str] = []
    for line in birdc(control, f"show route all export {peer}")[:-1]:
        if line.startswith("1007-"):
            prefix, *words = line.removeprefix("1007-").split()
            protocol = next(w for w in words if w.startswith("["))
            current = routes[prefix] = [protocol.strip("[")]
        elif line.startswith(("1012-", " ")):  # attributes: the first line coded, then " "
            current.append(line.removeprefix("1012-").strip())
    return routes


def test_both_front_ends_list_the_same_advertised_routes() -> None:
    dispatch, control = front_ends()
    sent = bgpctl(dispatch, "c2")
    shown = bird_routes(control, "c2")
    # the filtered route is in neither; the reflected one and our own static one in both
    assert [row["prefix"] for row in sent] == ["10.50.0.0/24", "10.62.0.0/24"]
    assert list(shown) == ["10.50.0.0/24", "10.62.0.0/24"]
    # where each came from: bgpctl says `local`/the peer, BIRD its protocol names
    assert [(row["peer"], row["source"]) for row in sent] == [
        ("local", "advertised"),
        ("c1", "advertised"),
    ]
    assert [attrs[0] for attrs in shown.values()] == ["static1", "c1"]
    # the reflector's attributes, as sent, in both
    reflected = sent[1]
    assert (reflected["originator_id"], reflected["cluster_list"]) == ("127.0.0.2", [CLUSTER])
    assert "BGP.originator_id: 127.0.0.2" in shown["10.62.0.0/24"]
    assert f"BGP.cluster_list: {CLUSTER}" in shown["10.62.0.0/24"]
    # toward c1: its own routes are not sent back (in neither), the static one is
    assert [row["prefix"] for row in bgpctl(dispatch, "c1")] == ["10.50.0.0/24"]
    assert list(bird_routes(control, "c1")) == ["10.50.0.0/24"]
